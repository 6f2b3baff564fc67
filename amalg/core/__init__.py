"""amalg's core: contracts, registry, config models, errors.

Submodules are imported where they are needed; importing ``amalg.core`` itself is cheap.
"""
