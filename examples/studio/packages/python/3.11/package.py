# A "system" package: the distribution's Python 3.11, exposed as `python` on PATH.
name = "python"
version = "3.11"
description = "CPython 3.11 from the distribution (/usr/bin/python3)."
authors = ["Example Studio pipeline"]
tools = ["python"]
timestamp = 1700000000


def commands():
    env.PATH.prepend("{root}/bin")
