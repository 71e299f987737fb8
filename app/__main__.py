"""``python -m app [options]`` does what ``backprop-lab serve [options]`` does."""

import sys

from app.cli import main

_argv = sys.argv[1:]
if _argv[:1] not in (["serve"], ["--version"]):
    _argv = ["serve", *_argv]  # --help included: it lists the server's options
raise SystemExit(main(_argv, prog="python -m app"))
