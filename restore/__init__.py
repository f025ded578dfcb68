"""restore: image restoration by posterior sampling with DDPM priors.

Images are on [0, 1] outside the prior and on [-1, 1] inside it.
"""
__version__ = "0.1.0"
