"""Security headers on every response, 404s and errors included (a `before_send` hook: app
middleware would miss requests that match no route).

The Content-Security-Policy allows scripts, styles and connections from this origin only: no
inline script anywhere, so an injected <script> cannot run. The OpenAPI viewer under /schema
loads its own scripts from a CDN and gets no CSP (it shows no patient data).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.types import Message, Scope

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
NO_STORE = (b"cache-control", b"no-store")


def security_headers(https: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """The hook; HSTS only when the public origin is https. The fixed headers are built once
    here, not per response."""
    fixed = [*ALWAYS, HSTS] if https else list(ALWAYS)
    with_csp = [*fixed, (b"content-security-policy", CSP.encode())]

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        path = scope["path"]
        extra = fixed if path.startswith("/schema") else with_csp
        headers = list(message.get("headers", []))
        private = path.startswith("/api/") or (
            path.startswith("/coordinator/") and not path.startswith("/coordinator/static/")
        )
        if private and not any(name.lower() == b"cache-control" for name, _ in headers):
            # Patient data: never kept by the browser (back button, disk) after sign-out.
            extra = [*extra, NO_STORE]
        message["headers"] = [*headers, *extra]

    return add_headers
