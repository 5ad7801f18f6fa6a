name = "nada"

def commands():
    env.PYTHONPATH.prepend("{root}/python")
    env.NADA_ROOT = "{root}"
