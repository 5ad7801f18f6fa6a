name = "weave"
version = "1.0"

@early()
def requires():
    return ["python-3.10+", "prism-2"]


@late()
def tools():
    return ["weave-" + str(this.version)]


def commands():
    env.WEAVE_TOOLS = " ".join(this.tools)
