name = "python"
version = "3.12.1"

tools = ["python"]

def commands():
    env.PYTHON_VERSION = "{version}"
