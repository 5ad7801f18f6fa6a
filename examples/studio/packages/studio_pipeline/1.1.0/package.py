name = "studio_pipeline"
version = "1.1.0"
description = "Example Studio's pipeline: context helpers and DCC start-up scripts."
authors = ["Example Studio pipeline"]
requires = ["python-3.11"]
timestamp = 1730000000


def commands():
    env.PYTHONPATH.prepend("{root}/python")
    # Blender runs every module in $BLENDER_USER_SCRIPTS/startup at start-up.
    env.BLENDER_USER_SCRIPTS = "{root}/blender"
    env.STUDIO_PIPELINE_VERSION = "{version}"
