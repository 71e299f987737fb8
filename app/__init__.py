"""Backprop Lab web application: FastAPI routes over the NumPy engine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("backprop-lab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
