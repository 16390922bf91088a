"""The OpenAPI description of the errors each JSON operation can answer with."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

from server.http_errors import ErrorBody

# What each error status means, for the OpenAPI description of every operation that can give it.
ERROR_MEANINGS: dict[int, str] = {
    400: "The request is not well-formed (a body that is not UTF-8 JSON, or nested too deeply)",
    401: "No valid credentials: a device token, an API token or a session",
    403: "Not allowed for this coordinator (an admin's change, or a session's missing CSRF token)",
    404: "No such record in this clinic, or not this patient's",
    409: "The record's state does not allow this (see the message)",
    413: "The body is larger than the server accepts",
    415: "The body is not sent as Content-Type: application/json",
    422: "A field is missing, unknown or not allowed; errors name each field",
    429: "Too many attempts: wait as long as Retry-After says",
    503: "The database is briefly unavailable: try again after Retry-After seconds",
}


def errors_documented(*status_codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for these error statuses, each with the ErrorBody the handlers send."""
    return {
        code: ResponseSpec(ErrorBody, description=ERROR_MEANINGS[code], generate_examples=False)
        for code in status_codes
    }


def document_errors(app: Litestar) -> None:
    """Declare on each JSON operation the errors it can answer with, in ErrorBody's shape, in
    place of Litestar's own 400 body (which this app never sends). A handler's own ``responses``
    (409, 429, ...) are kept."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            codes: set[int] = {503}  # every operation reads or writes PostgreSQL
            inputs = set(handler.parsed_fn_signature.parameters) - {"request", "state"}
            if inputs:
                codes |= {400, 422}
            if "data" in inputs:
                codes |= {413, 415}
            if route.path_parameters:
                codes.add(404)
            schemes = {name for requirement in handler.resolve_security() for name in requirement}
            if schemes:
                codes.add(401)
            if "coordinator" in schemes:
                codes.add(403)
            handler.responses = errors_documented(*sorted(codes)) | dict(handler.responses or {})
