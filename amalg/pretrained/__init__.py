"""The optimizers shipped with amalg: ``NAME.safetensors`` files (weights and card), listed
by ``amalg list pretrained`` and loaded by ``amalg.optim.load(NAME, params)``. Each is made
by ``make pretrained`` (``scripts/pretrained.py``) from a seed."""
