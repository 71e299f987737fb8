"""Small socket buffers for live streams, so a slow reader slows playing down at once.

A stream computes a frame only after the previous one was handed to the transport. That
alone would let the kernel's send buffer (auto-tuned up to megabytes on Linux) hold hundreds
of frames for a client that reads slowly, each one staler than the last. Capping the
stream's socket send buffer and the transport's write buffer keeps at most a few frames in
flight. Servers that do not expose the transport get the default buffers.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

STREAM_SEND_BUFFER = 32 * 1024  # bytes; Linux doubles it for bookkeeping
STREAM_WRITE_HIGH_WATER = 16 * 1024


def _transport(send: Send) -> Any:
    """The asyncio transport behind a server's ASGI ``send`` (uvicorn's protocols)."""
    return getattr(getattr(send, "__self__", None), "transport", None)


class StreamBufferLimitMiddleware:
    """Pure ASGI middleware; must sit outside anything that wraps ``send``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"].endswith("/stream"):
            transport = _transport(send)
            if transport is not None:
                with contextlib.suppress(AttributeError, OSError, ValueError):
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
                    transport.set_write_buffer_limits(high=STREAM_WRITE_HIGH_WATER)
        await self.app(scope, receive, send)
