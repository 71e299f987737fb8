"""``backprop-lab serve``: start the server with uvicorn."""

import argparse
from collections.abc import Sequence

import uvicorn

from app import __version__
from app.settings import get_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen sub-command."""
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="backprop-lab", description="Backprop Lab server.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the web server")
    serve.add_argument("--host", default=settings.host, help=f"default: {settings.host}")
    serve.add_argument("--port", type=int, default=settings.port, help=f"default: {settings.port}")
    serve.add_argument("--log-level", default=settings.log_level, help="uvicorn log level")
    args = parser.parse_args(argv)

    if args.command == "serve":
        # One worker: sessions live in this process's memory.
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            ws_max_size=settings.max_request_bytes,  # one WebSocket message, like one body
            ws_per_message_deflate=settings.ws_compression,
        )
    return 0
