"""Example Studio pipeline helpers: read the resolved context Landscape gives every tool.

Inside a Landscape container the resolved context is the JSON file named by
$LANDSCAPE_CONTEXT_FILE (/landscape/context.json); levels are also in $LANDSCAPE_<LEVEL>.
"""

import json
import os

__version__ = "1.0.0"
DEFAULT_CONTEXT_FILE = "/landscape/context.json"


def load_context(path=None):
    """The resolved context as a dict ({} when not running under Landscape)."""
    path = path or os.environ.get("LANDSCAPE_CONTEXT_FILE", DEFAULT_CONTEXT_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def metadata(path=None):
    """The context's metadata (fps, resolution, frames, render settings, ...)."""
    return load_context(path).get("metadata", {})
