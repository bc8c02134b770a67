"""lit_gen: a Lightning experiment framework for deep generative models."""

__version__ = "0.1.0"
