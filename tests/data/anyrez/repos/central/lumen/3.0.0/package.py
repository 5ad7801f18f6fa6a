name = "lumen"
version = "3.0.0"
requires = ["python-3.12", "halo-2.4+"]

def commands():
    env.LUMEN_FROM = "central"
