name = "prism"
version = "2.0.0"
variants = [["python-3.10"], ["python-3.11"]]

def commands():
    env.PRISM_ROOT = "{root}"
