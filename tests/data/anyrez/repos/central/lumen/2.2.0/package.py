name = "lumen"
version = "2.2.0"
requires = ["python-3.11+", "halo-2"]

def commands():
    env.LUMEN_FROM = "central"
