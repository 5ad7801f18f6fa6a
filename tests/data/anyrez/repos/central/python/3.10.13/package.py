name = "python"
version = "3.10.13"

tools = ["python"]

def commands():
    env.PYTHON_VERSION = "{version}"
