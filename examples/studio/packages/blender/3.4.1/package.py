# A "system" package: Blender as Debian builds it. The image gets the binary from the OS
# package (the blender tool's `system_packages: [blender]`); this package pins the version
# in rez and carries its environment.
name = "blender"
version = "3.4.1"
description = "Blender 3.4 from the distribution (Debian bookworm's blender 3.4.1)."
authors = ["Example Studio pipeline"]
requires = ["python-3.11"]
tools = ["blender"]
timestamp = 1700000000


def commands():
    env.BLENDER_VERSION = "{version.major}.{version.minor}"
    # Blender must not read per-user add-ons from an artist's home: one studio setup.
    env.BLENDER_USER_CONFIG = "/tmp/blender-config"
