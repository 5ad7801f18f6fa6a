name = "lumen"
version = "2.0.0"
requires = ["python-3.10+<3.12", "halo-1"]

def commands():
    env.LUMEN_FROM = "central"
