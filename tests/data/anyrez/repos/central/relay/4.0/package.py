name = "relay"
version = "4.0"
variants = [["python-3.11", "lumen-2"], ["python-3.10", "halo-1"]]
