name = "halo"
version = "2.0"
requires = ["python-3.10+"]
