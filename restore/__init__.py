"""restore: image restoration by posterior sampling with DDPM priors.

Images are on [0, 1] outside the prior and on [-1, 1] inside it.

The high-level functions are loaded on first use (PEP 562), so that importing a lower layer
(``restore.io``, ``restore.operators``, ``restore.priors``) does not import the solvers and the API
above it: the package has no import loop.
"""
__version__ = "0.1.0"

_LAZY = {"deblur": "api", "denoise": "api", "inpaint": "api", "super_resolve": "api", "load_prior": "api",
         "estimate_kernel": "api",
         "solve": "solvers"}

__all__ = ["__version__", "deblur", "denoise", "estimate_kernel", "inpaint", "load_prior", "solve", "super_resolve"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'restore' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
