name = "halo"
version = "1.3"
requires = ["python-3.9+<3.12"]
