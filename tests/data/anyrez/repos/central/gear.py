# A single-file family: every version of `gear` in one file at the repository's top.
name = "gear"
versions = ["1.0", "1.1", "2.0"]
requires = ["python-3.10"]
version_overrides = {
    "2.0+": {"requires": ["python-3.11+", "halo-2"]},
}


def commands():
    env.GEAR_VERSION = "{version}"
