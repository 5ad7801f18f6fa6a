name = "halo"
version = "2.4"
requires = ["python-3.11+"]
