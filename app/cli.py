"""``backprop-lab serve``: start the server with uvicorn, configured from one Settings object.

Command-line options win over the environment (``BACKPROP_LAB_*``), which wins over the
defaults. Bad input from either ends in one line naming the option or variable and what it
accepts, with exit code 2: never a traceback. ``--workers N`` starts N server processes that
share the port and the session store (on Linux each with a socket of its own, so that
connections spread evenly: :mod:`app.workers`). The Docker image runs this same command, so a
setting means the same inside and outside the image.
"""

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, get_args

import uvicorn
from pydantic import TypeAdapter, ValidationError

from app import __version__
from app.operations import load_lessons
from app.settings import LogLevel, Settings, allowed_values, env_name
from app.store import StoreStartupError, check_store, store_kind
from app.workers import balanced_workers, serve_workers
from engine.lessons import LessonError

APP = "app.main:create_app"
# The options of `serve`; each sets the Settings field of the same name.
SERVE_OPTIONS = ("host", "port", "log_level", "forwarded_allow_ips", "workers")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line, without the usage block above it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def setting_type(field: str) -> Callable[[str], Any]:
    """An argparse type that accepts exactly what the setting ``field`` accepts."""
    adapter: TypeAdapter[Any] = TypeAdapter(Settings.model_fields[field].rebuild_annotation())

    def parse(text: str) -> Any:
        try:
            return adapter.validate_python(text)
        except ValidationError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed_values(field)}") from None

    return parse


def build_parser(prog: str = "backprop-lab") -> tuple[OneLineParser, OneLineParser]:
    """The top-level parser and its ``serve`` sub-command."""
    parser = OneLineParser(
        prog=prog,
        description="Backprop Lab: an interactive backpropagation visualiser in the browser.",
        epilog=f"Run '{prog} serve --help' for the server's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="start the web server",
        description="Start the web server. Sessions live in the store BACKPROP_LAB_STORE "
        "names (a SQLite file by default), so they survive a restart and several workers "
        "share them. Every option can also be set by its environment variable; the option "
        "wins. The README's Configuration table lists every other setting.",
    )
    for field in SERVE_OPTIONS:
        info = Settings.model_fields[field]
        extra: dict[str, Any] = (
            {"choices": get_args(LogLevel)}
            if field == "log_level"
            else {"type": setting_type(field)}
        )
        if field == "forwarded_allow_ips":
            extra["metavar"] = "ADDRESSES"
        if field == "workers":
            extra["metavar"] = "N"
        serve.add_argument(
            f"--{field.replace('_', '-')}",
            dest=field,
            default=None,  # None: not given here, so the environment or the default decides
            help=f"{info.description} Environment: {env_name(field)}; default: {info.default}.",
            **extra,
        )
    return parser, serve


def load_settings(overrides: dict[str, Any], prog: str) -> Settings:
    """Settings from the environment and ``overrides``; one line per bad value, then exit 2."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        for problem in error.errors():
            field = str(problem["loc"][0])
            source = f"--{field.replace('_', '-')}" if field in overrides else env_name(field)
            print(
                f"{prog}: error: {source}={problem['input']!r} is not {allowed_values(field)}",
                file=sys.stderr,
            )
        raise SystemExit(2) from None


def check_workers(settings: Settings, overrides: dict[str, Any], prog: str) -> None:
    """Several workers need a store they share, and one they can all open: else one line
    naming the problem, exit code 2, before any process starts."""
    if settings.workers == 1:
        return
    source = "--workers" if "workers" in overrides else env_name("workers")
    if store_kind(settings.store) == "memory":
        print(
            f"{prog}: error: {source}={settings.workers} needs a shared store, but "
            f"{env_name('store')}=memory keeps sessions in one process (use sqlite:///PATH "
            "or redis://HOST:PORT/DB)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    try:
        check_store(settings.store)
    except StoreStartupError as exc:
        print(f"{prog}: error: {env_name('store')}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def check_lessons(settings: Settings, prog: str) -> None:
    """A broken lesson file stops the server before it starts, in one line naming the file
    and the field (the app refuses it too; this says so without a traceback)."""
    try:
        load_lessons(settings)
    except LessonError as error:
        print(f"{prog}: error: lesson {error}", file=sys.stderr)
        raise SystemExit(2) from None


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Everything ``serve`` passes to ``uvicorn.run`` besides the app, all from ``settings``."""
    workers = {"workers": settings.workers} if settings.workers > 1 else {}
    return {
        **workers,
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "proxy_headers": True,  # honoured only from the addresses in forwarded_allow_ips
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "ws_max_size": settings.max_request_bytes,  # one WebSocket message, like one body
        "ws_per_message_deflate": settings.ws_compression,
    }


def main(argv: Sequence[str] | None = None, prog: str = "backprop-lab") -> int:
    """Parse the command line and run the chosen sub-command."""
    parser, serve = build_parser(prog)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the sub-command, whose --help lists what it does take
        (serve if args.command == "serve" else parser).error(
            f"unrecognized arguments: {' '.join(unknown)}"
        )
    if args.command == "serve":
        overrides = {f: value for f in SERVE_OPTIONS if (value := getattr(args, f)) is not None}
        settings = load_settings(overrides, f"{prog} serve")
        check_workers(settings, overrides, f"{prog} serve")
        check_lessons(settings, f"{prog} serve")
        options = uvicorn_options(settings)
        if settings.workers > 1 and balanced_workers():
            return serve_workers(APP, options)
        uvicorn.run(APP, **options)
    return 0
