name = "spur"
version = "1.0"
requires = ["!lumen"]
