"""Every request counted, timed, given a request id and (with ACCESS_LOG) logged in one line.

It wraps the whole application, outside Litestar's routing and error handling, so it sees
the status that really went out, 404s and 500s included, and the route template Litestar
put in the scope once it routed the request. Nothing in the line or the labels comes from
the request itself except its method and a sane X-Request-ID: no path, no query string, no
header, no body.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from time import perf_counter

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.observability.metrics import METHODS, UNMATCHED, record_request

access_log = logging.getLogger("server.access")

REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The caller's X-Request-ID when it is a plain token of at most 64 characters (a
    proxy's id, so its logs and ours join up); otherwise a new random one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER and _SANE_REQUEST_ID.fullmatch(value):
            return value
    return os.urandom(16).hex().encode()


class ObservedRequests:
    def __init__(self, app: ASGIApp, *, log_requests: bool) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        rid = request_id(scope["headers"])
        status = 500  # unless a response starts: what the server answers to an escaped error

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, rid)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = perf_counter() - started
            route: str = scope.get("path_template") or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            record_request(route, method, status, seconds)
            if self.log_requests:
                ms = round(seconds * 1000, 1)
                access_log.info(
                    "%s %s %s %d %.1f ms",
                    rid.decode(), method, route, status, ms,
                    extra={
                        "request_id": rid.decode(), "method": method, "route": route,
                        "status": status, "duration_ms": ms,
                    },
                )  # fmt: skip
