name = "prism"
version = "1.5.0"
variants = [["python-3.9"], ["python-3.10"]]
