name = "halo"
version = "1.0"
requires = ["python-3.9+<3.12"]
