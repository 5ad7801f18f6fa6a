"""What an image of a spec is made from and how it is labelled (the image recipe).

:func:`render_dockerfile` renders ``templates/Dockerfile.j2`` for an
:class:`~landscape.imagekey.ImageSpec`; :func:`inputs_digest` digests every build input;
:func:`image_labels` gives the labels an image of the spec carries — what the engine layer
builds with and checks an existing image against. Jinja2 is imported only to render.
"""

from __future__ import annotations

import hashlib
import json

from . import __version__
from .grammar import is_reserved_label
from .imagekey import ImageSpec
from .names import (LABEL_INPUTS, LABEL_KEY, LABEL_PACKAGES, LABEL_PROJECT, LABEL_REQUESTS,
                    LABEL_REZ, LABEL_VERSION)
from .resources import data_dir


def render_dockerfile(spec: ImageSpec) -> str:
    """The Dockerfile of ``spec``, from ``templates/Dockerfile.j2`` (Jinja2).

    Only values validated against their grammar reach it (:meth:`ImageSpec.validate`): the
    base reference, Debian package names, the rez version, the key and layer numbers. Labels
    are not written into it: see :func:`image_labels`."""
    import jinja2  # deferred: only builds render templates

    spec.validate()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    return env.get_template("Dockerfile.j2").render(
        landscape_version=__version__, key=spec.key, base=spec.base,
        rez_version=spec.rez_version, layers=len(spec.layers()))


def tools_json(spec: ImageSpec) -> str:
    """``landscape/tools.json`` of the build context: ``{tool path: [exact requests]}``."""
    return json.dumps(spec.tools, indent=1, sort_keys=True) + "\n"


def inputs_digest(spec: ImageSpec) -> str:
    """``sha256:<hex>`` over what a build of ``spec`` is made from — the rendered Dockerfile,
    ``tools.json``, each package's content digest in its layer (of its definitions only when its
    payload is mounted) and the image's own files.
    Recorded as label ``io.landscape.inputs``: an image is only reused when it carries both
    the key and this digest (:func:`landscape.engine.images.find_image`)."""
    from .imagekey import recipe_digest

    layers = [[(p.qualified, spec.package_digest(p)) for p in layer] for layer in spec.layers()]
    blob = json.dumps({"dockerfile": render_dockerfile(spec), "tools": tools_json(spec),
                       "layers": layers, "recipe": recipe_digest(),
                       "system_packages": sorted(spec.system_packages)}, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def image_labels(spec: ImageSpec) -> dict[str, str]:
    """Labels of an image (README.md, Images): the config's ``image.labels``, then
    ``org.opencontainers.image.*`` and ``io.landscape.*`` (key, inputs digest, project, base,
    rez version, requests per tool, packages), which config can never set or overwrite.
    Handed to the engine as data (the build API's ``labels``): no value is parsed by the
    Dockerfile parser, so ``$VAR`` in a value stays as written."""
    labels = {k: v for k, v in spec.labels.items() if not is_reserved_label(k)}
    labels.update({
        "org.opencontainers.image.title": spec.tag,
        "org.opencontainers.image.description":
            f"Landscape image of project {spec.project}: " + " ".join(
                p.qualified for p in spec.packages),
        "org.opencontainers.image.base.name": spec.base,
        LABEL_KEY: spec.key,
        LABEL_INPUTS: inputs_digest(spec),
        LABEL_PROJECT: spec.project,
        LABEL_REZ: spec.rez_version,
        LABEL_REQUESTS: json.dumps(spec.tools, sort_keys=True),
        LABEL_PACKAGES: " ".join(sorted(p.qualified for p in spec.packages)),
        LABEL_VERSION: __version__,
    })
    return labels
