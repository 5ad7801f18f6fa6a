"""Example Studio start-up script for Blender (studio_pipeline 1.1.0).

Blender imports every module in $BLENDER_USER_SCRIPTS/startup and calls register().
After each file load (the factory start-up scene included) this sets the scene's frame
rate, resolution, frame range and render settings from the Landscape context's metadata.
"""

import os
import sys

import bpy
from bpy.app.handlers import persistent

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import studio_pipeline  # noqa: E402


@persistent
def apply_context(*_args):
    meta = studio_pipeline.metadata()
    if not meta:
        return
    for scene in bpy.data.scenes:
        render = scene.render
        if "fps" in meta:
            render.fps = int(meta["fps"])
            render.fps_base = 1.0
        if "resolution" in meta:
            render.resolution_x, render.resolution_y = (int(v) for v in meta["resolution"])
            render.resolution_percentage = 100
        if "frames" in meta:  # new in 1.1.0
            scene.frame_start, scene.frame_end = (int(v) for v in meta["frames"])
        settings = meta.get("render", {})
        if settings.get("engine"):
            render.engine = settings["engine"]
        if render.engine == "CYCLES":
            scene.cycles.device = "CPU"
            scene.cycles.use_denoising = False  # Debian's build has no OpenImageDenoise
            if settings.get("samples"):
                scene.cycles.samples = int(settings["samples"])
        scene["studio_pipeline"] = studio_pipeline.__version__
    print(f"studio_pipeline {studio_pipeline.__version__}: scene set to "
          f"{meta.get('resolution')} @ {meta.get('fps')} fps", flush=True)


def register():
    if apply_context not in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.append(apply_context)


def unregister():
    if apply_context in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(apply_context)
