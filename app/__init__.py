"""Backprop Lab web application: FastAPI routes over the NumPy engine."""

import os
from importlib.metadata import PackageNotFoundError, version

# The engine's matrices are tiny: BLAS worker threads only contend with the request threads
# (one 64×64 grid went from ~8 ms to 20–70 ms under load). Set before NumPy is first imported;
# an explicit setting in the environment wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

try:
    __version__ = version("backprop-lab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
