"""Names Landscape writes where other programs see them, in one place (standard library
only): the labels of images, containers and services, the ``LANDSCAPE_*`` variables of a
container's environment and of a build, and the merge tags of config files.

Changing one of these changes what existing images, containers and config files mean: keep
them stable.
"""

from __future__ import annotations

#: Prefix of every label Landscape owns (config may not set such labels: see
#: :func:`landscape.grammar.check_label_key`).
LABEL_PREFIX = "io.landscape."

# -- image labels (see landscape.recipe.image_labels) -----------------------------------------
LABEL_KEY = "io.landscape.key"                      # the image key, sha256:…
LABEL_INPUTS = "io.landscape.inputs"                # digest of the build inputs
LABEL_PROJECT = "io.landscape.project"
LABEL_PROJECT_DIR = "io.landscape.project-dir"  # the project folder of a launch
LABEL_STUDIO = "io.landscape.studio"                # 16 hex digits of the studio root's path
LABEL_REZ = "io.landscape.rez"                      # rez version in the image
LABEL_REQUESTS = "io.landscape.requests"            # JSON: tool path → exact requests
LABEL_PACKAGES = "io.landscape.packages"            # name-version, space separated
LABEL_VERSION = "io.landscape.version"              # Landscape's version
LABEL_BASE_FINGERPRINT = "io.landscape.base.fingerprint"

# -- container and service labels ----------------------------------------------------------------
LABEL_ROLE = "io.landscape.role"                    # launch, workspace, stack service…
LABEL_CONTEXT = "io.landscape.context"
LABEL_CONTEXTS = "io.landscape.contexts"
LABEL_TOOL = "io.landscape.tool"
LABEL_ROOT = "io.landscape.root"
LABEL_USER = "io.landscape.user"
LABEL_IMAGE = "io.landscape.image"
LABEL_IDLE = "io.landscape.idle"
LABEL_FOLDER = "io.landscape.folder"
LABEL_WORKSPACE = "io.landscape.workspace"

# -- variables of a container's environment (see landscape.context.landscape_variables) --------
VAR_PREFIX = "LANDSCAPE_"
VAR_ROOT = "LANDSCAPE_ROOT"
VAR_CONTEXT = "LANDSCAPE_CONTEXT"
VAR_CONTEXT_FILE = "LANDSCAPE_CONTEXT_FILE"
VAR_IMAGE = "LANDSCAPE_IMAGE"
VAR_TOOL = "LANDSCAPE_TOOL"
VAR_VARIANTS = "LANDSCAPE_VARIANTS"
VAR_WORKDIR = "LANDSCAPE_WORKDIR"
VAR_PROJECT = "LANDSCAPE_PROJECT"


def level_variable(level: str) -> str:
    """The variable naming a context's folder at ``level``: ``LANDSCAPE_SHOT``."""
    return f"{VAR_PREFIX}{level.upper()}"


# -- build arguments of the image recipe (templates/Dockerfile.j2) -----------------------------
ARG_OS_PACKAGES = "LANDSCAPE_OS_PACKAGES"
ARG_LOCKED = "LANDSCAPE_LOCKED"
ARG_APT_MIRROR = "LANDSCAPE_APT_MIRROR"

# -- merge tags of config files (docs/config.md), without the leading ``!`` -----------------------
MERGE_TAGS = ("replace", "append", "prepend", "remove", "unset")
