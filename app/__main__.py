"""``python -m app [--host H] [--port P]`` does what ``backprop-lab serve`` does."""

import sys

from app.cli import main

_argv = sys.argv[1:]
if not _argv or _argv[0] not in {"serve", "--version", "-h", "--help"}:
    _argv = ["serve", *_argv]
raise SystemExit(main(_argv))
