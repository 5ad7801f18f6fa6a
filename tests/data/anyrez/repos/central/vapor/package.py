name = "vapor"
variants = [["python-3.10"], ["python-3.11"]]
