name = "halo"
version = "2.6"
requires = ["python-3.11+", "!lumen-2"]
