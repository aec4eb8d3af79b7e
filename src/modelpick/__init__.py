"""modelpick: pick the neural architecture, size and precision to train and ship."""

__version__ = "0.1.0"
