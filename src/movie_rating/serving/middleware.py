"""Pure ASGI middleware: request ids, access logs, a last-resort 500, the body size cap, and
the HTTP metrics. Pure ASGI, not `BaseHTTPMiddleware`: a layer costs a function call, and these
run on every request."""

import json
import logging
import re
import time
import uuid
from typing import Final

from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from movie_rating.serving.logs import request_id_var

logger = logging.getLogger("movie_rating.serving.access")

REQUEST_ID_HEADER: Final = "X-Request-ID"
# A client may pass its own id (for tracing across services) if it is short and plain.
_CLIENT_ID: Final = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


async def send_json(send: Send, status: int, body: dict[str, object]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    """Give every request an id (header and log lines), log it, and turn any exception that
    escaped the app into a bare 500: no exception text or stack trace ever reaches a client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode()
        request_id = given if _CLIENT_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        started = logged = False
        start = time.perf_counter()

        def log_access() -> None:
            nonlocal logged
            logged = True
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                },
            )

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged before the last byte leaves: once a client has its response, the
                # line is in the log (a reader of both never sees the response first).
                log_access()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error", extra={"path": scope["path"]})
            if not started:
                body = {"detail": "internal error", "request_id": request_id}
                await send_json(send_with_id, 500, body)
        finally:
            if not logged:  # the client went away, or the app never finished its response
                log_access()
            request_id_var.reset(token)


class MetricsMiddleware:
    """Count and time each request by route template (`/predict`, never the raw path, so the
    label set stays bounded; "none" when no route matched), method and status class.

    The route is read from the scope after the app ran (the router records it there), so there
    is no second route matching here; the labelled children are cached per label tuple.
    """

    def __init__(
        self, app: ASGIApp, requests: Counter, duration: Histogram, excluded: frozenset[str]
    ) -> None:
        self.app = app
        self.requests = requests
        self.duration = duration
        self.excluded = excluded
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            handler = getattr(scope.get("route"), "path", None) or "none"
            if handler not in self.excluded:
                key = (handler, scope["method"], f"{str(status)[0]}xx")
                children = self._children.get(key)
                if children is None:
                    children = self._children[key] = (
                        self.requests.labels(*key),
                        self.duration.labels(*key[:2]),
                    )
                children[0].inc()
                children[1].observe(time.perf_counter() - start)


class BodySizeLimitMiddleware:
    """413 for a body over `max_bytes`: by Content-Length up front, and by counting the bytes
    actually received (chunked uploads have no Content-Length, and it can lie).

    The body is read here, up to the cap, and replayed to the app, so the app never starts on
    a request it would have to abandon half-way.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away before finishing the body
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await send_json(
            send,
            413,
            {
                "detail": f"request body exceeds {self.max_bytes} bytes",
                "request_id": request_id_var.get(),
            },
        )
