"""Bake the tool setups of a Landscape image (runs inside the image, at build time).

Reads tools.json ({tool path: [exact requests]}), solves each with rez against the image's
own repository /landscape/packages, checks the solution is exactly the one the host found,
and saves /landscape/tools/<tool path>/context.rxt and environ.json (rez's environment over
the image's base environment). Exits non-zero, naming the tool, when anything differs.
"""

import json
import os
import sys

from rez.config import config
from rez.resolved_context import ResolvedContext

IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REPOSITORY = "/landscape/packages"

config.override("standard_system_paths", IMAGE_PATH.split(":"))
config.override("rez_tools_visibility", "never")
config.override("suite_visibility", "never")


def main(spec_path):
    with open(spec_path) as f:
        tools = json.load(f)
    for path, requests in sorted(tools.items()):
        ctx = ResolvedContext(requests, package_paths=[REPOSITORY], add_implicit_packages=False)
        if not ctx.success:
            sys.exit(f"landscape bake: tool {path!r} does not resolve in the image: "
                     f"{ctx.failure_description}")
        got = sorted(f"{v.name}=={v.version}" for v in ctx.resolved_packages)
        if got != sorted(requests):
            sys.exit(f"landscape bake: tool {path!r} resolved {got} in the image, "
                     f"expected {sorted(requests)}")
        out = os.path.join("/landscape/tools", path)
        os.makedirs(out, exist_ok=True)
        ctx.save(os.path.join(out, "context.rxt"))
        environ = ctx.get_environ(parent_environ={"PATH": IMAGE_PATH, "LANG": "C.UTF-8"})
        with open(os.path.join(out, "environ.json"), "w") as f:
            json.dump(environ, f, indent=1, sort_keys=True)
        print(f"baked {path}: {' '.join(got)}")


if __name__ == "__main__":
    main(sys.argv[1])
