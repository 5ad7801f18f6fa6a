name = "lumen"
version = "2.1.0"
requires = ["python-3.10+<3.12", "halo-1.3+<2"]

def commands():
    env.LUMEN_FROM = "local"
