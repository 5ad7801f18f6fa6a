name = "python"
version = "3.11.6"

# Runs the image"s own CPython (bin/python links to /usr/bin/python3).
tools = ["python"]

def commands():
    env.PATH.prepend("{root}/bin")
    env.PYTHON_VERSION = "{version}"
