"""HTTP methods on the API beyond each route's own: HEAD, OPTIONS and an honest 405.

- ``HEAD`` on a route that answers ``GET`` runs the ``GET`` and sends its status and headers
  (``Content-Length`` included) without the body.
- ``OPTIONS`` on an API path answers 204 with ``Allow`` listing every method of that path.
  It carries no CORS headers: the API serves its own page only, so a cross-origin preflight
  still fails.
- A 405 lists in ``Allow`` every method of the path (the framework names only those of the
  first route that matched it, e.g. ``GET`` for ``/api/sessions/{id}``, not PATCH or DELETE).
"""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(scope: Scope) -> list[str]:
    """Every method some route of the app answers on this path (HEAD with GET, OPTIONS with
    anything); empty if no route has this path. Each method is tried against the routes'
    own matching, so included routers and path parameters count as the router sees them."""
    routes = scope["app"].routes
    methods = {
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in routes)
    }
    if "GET" in methods:
        methods.add("HEAD")
    if methods:
        methods.add("OPTIONS")
    return sorted(methods)


class MethodsMiddleware:
    """Pure ASGI middleware for paths under ``/api/``; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS":
            allowed = allowed_methods(scope)
            if allowed:
                await _no_content(send, allowed)
                return
        if method == "HEAD" and "HEAD" in (allowed := allowed_methods(scope)):
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        await self.app(scope, receive, _full_allow_on_405(scope, send))


async def _no_content(send: Send, allowed: list[str]) -> None:
    headers = [(b"allow", ", ".join(allowed).encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return send_head


def _full_allow_on_405(scope: Scope, send: Send) -> Send:
    async def send_allow(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 405:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
            headers.append((b"allow", ", ".join(allowed_methods(scope)).encode()))
            message = {**message, "headers": headers}
        await send(message)

    return send_allow
