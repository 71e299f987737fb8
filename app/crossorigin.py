"""No cross-origin "simple" requests: every POST to the API must say it sends JSON.

A page on another site can make a visitor's browser send a POST without asking the server
first, as long as it looks like an HTML form could have sent it (no body, or a form or plain
text body). A hostile page could use that to make every visitor's browser create sessions
here. A request saying ``Content-Type: application/json`` is not "simple": the browser asks
first (CORS preflight), the server grants nothing, and the request is never sent. So POSTs
without that content type are refused (415) — bodyless ones included; the page always sends
it. The CSV upload takes ``text/csv`` or a multipart form and changes only a session whose
192-bit id the sender already knows.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from app.schemas.errors import MessageBody
from app.schemas.wire import render

MESSAGE = (
    "send Content-Type: application/json (with an empty body where nothing needs saying): "
    "other content types are refused so that other sites cannot post here"
)


class RequireJsonMiddleware:
    """Pure ASGI middleware: 415 for a POST under /api/ whose content type is not JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith("/api/")
            and not scope["path"].endswith("/dataset")
        ):
            content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
            if content_type.split(b";")[0].strip().lower() != b"application/json":
                body = render(MessageBody(detail=MESSAGE))
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 415, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
