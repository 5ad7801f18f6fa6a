name = "knot"
version = "2.0"

@late()
def requires():
    return ["halo-2.4+"]
