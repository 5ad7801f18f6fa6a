name = "clasp"
version = "1.0"
requires = ["~halo-1"]
