name = "python"
version = "3.9.18"

tools = ["python"]

def commands():
    env.PYTHON_VERSION = "{version}"
