name = "lumen"
version = "1.0.0"
requires = ["python-3.9"]

def commands():
    env.LUMEN_FROM = "central"
