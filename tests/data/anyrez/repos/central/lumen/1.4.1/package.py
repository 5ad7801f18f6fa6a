name = "lumen"
version = "1.4.1"
requires = ["python-3.9|3.10", "halo-1"]

def commands():
    env.LUMEN_FROM = "central"
