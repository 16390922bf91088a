"""How exceptions become HTTP answers: one set of handlers, two ways to render what they decide.

Each handler decides the status, the error code, the message (never an echo of what the
client sent: it names the field and says what is allowed) and the headers. The JSON API
renders that as an ``ErrorBody`` (``EXCEPTION_HANDLERS``, the app's); the dashboard's pages
render the same answer as HTML (server/dashboard.py, on the dashboard's router).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import asyncpg
import msgspec
from litestar import MediaType, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from server.errors import (
    DATABASE_UNAVAILABLE,
    BadRequest,
    DomainError,
    FieldError,
    Invalid,
    Unavailable,
    constraint_error,
)
from server.logs import Sparse
from server.web import AnyRequest

log = logging.getLogger(__name__)

RETRY_AFTER_UNAVAILABLE = 5


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    error: str
    message: str
    errors: list[FieldError] = msgspec.field(default_factory=list)


# The answer a handler decided on -> the response: JSON here, HTML for the dashboard.
Render = Callable[[AnyRequest, int, ErrorBody, dict[str, str] | None], Response[Any]]


def json_error(
    request: AnyRequest, status_code: int, body: ErrorBody, headers: dict[str, str] | None
) -> Response[ErrorBody]:
    return Response(body, status_code=status_code, headers=headers, media_type=MediaType.JSON)


_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
# A field's path as the decoder reports it: names, dots and list indexes (not "[...]").
_SAFE_PATH = re.compile(r"^[a-z_][a-z0-9_]{0,63}(\.[a-z_][a-z0-9_]{0,63}|\[[0-9]{1,6}\])*$")
_MALFORMED = ("JSON is malformed", "Input data was truncated", "must be UTF-8")
_OUT_OF_RANGE = "Number out of range"
_UNDECODABLE = (*_MALFORMED, _OUT_OF_RANGE)


def _allowed_values(request: AnyRequest, path: str) -> list[str] | None:
    """The choices the request body's type allows at ``path`` (for "must be one of" messages)."""
    try:
        parameter = request.route_handler.parsed_fn_signature.parameters["data"]
        info: msgspec.inspect.Type = msgspec.inspect.type_info(parameter.annotation)
    except (KeyError, AttributeError, TypeError):
        return None
    for part in path.split("."):
        info = _unwrap(info)
        if not isinstance(info, msgspec.inspect.StructType):
            return None
        fields = {f.name: f.type for f in info.fields}
        if part not in fields:
            return None
        info = fields[part]
    info = _unwrap(info)
    if isinstance(info, msgspec.inspect.LiteralType):
        return [str(v) for v in info.values]
    return None


def _unwrap(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    while True:
        if isinstance(info, msgspec.inspect.Metadata):
            info = info.type
        elif isinstance(info, msgspec.inspect.UnionType):
            useful = [
                t for t in info.types
                if not isinstance(t, msgspec.inspect.NoneType)
            ]  # fmt: skip
            if len(useful) != 1:
                return info
            info = useful[0]
        else:
            return info


def _client_error(request: AnyRequest, raw: str, key: object) -> tuple[int, FieldError]:
    """One msgspec/Litestar validation message, rewritten so it never repeats the input."""
    match = _AT_PATH.search(raw)
    field = match.group(1) if match and match.group(1) else (str(key) if key else "body")
    field = "body" if field == "data" else field.removeprefix("data.")
    if not _SAFE_PATH.match(field):
        field = "body"
    message = _AT_PATH.sub("", raw)
    if message.startswith(_MALFORMED):
        return 400, FieldError("body", "must be valid UTF-8 JSON")
    if message.startswith(_OUT_OF_RANGE):
        if field == "body":  # found while decoding, before any field was read
            return 400, FieldError("body", "holds a number too large to read (over about 1.8e308)")
        return 422, FieldError(field, "is out of range")
    if message in ("'data'", "Expected `object`, got `null`") or (
        field == "body" and message.startswith("Expected `object`")
    ):
        return 422, FieldError("body", "must be a JSON object")
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        name = unknown.group(1)
        parent = "" if field == "body" else f"{field}."
        if _SAFE_NAME.match(name):
            return 422, FieldError(f"{parent}{name}", "is not a known field")
        return 422, FieldError(field, "holds a field that is not known")
    if message.startswith("Invalid enum value"):
        allowed = _allowed_values(request, field)
        return 422, FieldError(
            field, f"must be one of: {', '.join(allowed)}" if allowed else "is not an allowed value"
        )
    if "matching regex" in message:
        return 422, FieldError(field, "does not have the expected format")
    return 422, FieldError(field, message)


_unavailable_log = Sparse(10.0)


def exception_handlers(render: Render) -> ExceptionHandlersMap:
    """Every exception a request can raise, answered through ``render``."""

    def domain(request: AnyRequest, exc: DomainError) -> Response[Any]:
        body = ErrorBody(exc.code, exc.message, exc.errors)
        return render(request, exc.status_code, body, exc.headers or None)

    def validation(request: AnyRequest, exc: ValidationException) -> Response[Any]:
        answers: list[tuple[int, FieldError]] = []
        extra = exc.extra if isinstance(exc.extra, list) else []
        for item in extra:
            if isinstance(item, dict):
                message, key = str(item.get("message", "invalid value")), item.get("key")
                answers.append(_client_error(request, message, key))
        if not answers:
            answers.append(_client_error(request, str(exc.detail or "invalid request"), None))
        status = 400 if any(code == 400 for code, _ in answers) else 422
        errors = [error for _, error in answers]
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        code = "bad_request" if status == 400 else "invalid"
        return render(request, status, ErrorBody(code, summary, errors), None)

    def not_unicode(request: AnyRequest, exc: UnicodeDecodeError) -> Response[Any]:
        return domain(request, BadRequest.field("body", "must be valid UTF-8 JSON"))

    def nested(request: AnyRequest, exc: RecursionError) -> Response[Any]:
        return domain(request, BadRequest.field("body", "is nested too deeply"))

    def text(request: AnyRequest, exc: asyncpg.DataError) -> Response[Any]:
        # Reached only if a text with NUL slipped past the checks at the boundary.
        return domain(request, Invalid.field("body", "text must not contain the NUL character"))

    def http(request: AnyRequest, exc: HTTPException) -> Response[Any]:
        detail = str(exc.detail)
        if exc.status_code == 400 and detail.startswith(_UNDECODABLE):
            # A body that is not JSON at all: name the body, in our words rather than the
            # decoder's.
            _, error = _client_error(request, detail, None)
            return domain(request, BadRequest(f"{error.field}: {error.message}", [error]))
        try:
            code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            code = "error"
        headers = dict(exc.headers or {})
        if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
            body = ErrorBody("server_error", "the server failed")
            return render(request, exc.status_code, body, headers)
        return render(request, exc.status_code, ErrorBody(code, detail), headers or None)

    def integrity(
        request: AnyRequest, exc: asyncpg.IntegrityConstraintViolationError
    ) -> Response[Any]:
        error = constraint_error(exc)
        if error is None:
            name = getattr(exc, "constraint_name", None)
            log.error(
                "unmapped constraint violation %s on %s %s", name, request.method, request.url.path
            )
            return render(request, 500, ErrorBody("server_error", "the server failed"), None)
        return domain(request, error)

    def unavailable(request: AnyRequest, exc: Exception) -> Response[Any]:
        held = _unavailable_log.due()
        if held is not None:
            log.warning(
                "database unavailable (%s) on %s %s; %d more such answers since the last such line",
                type(exc).__name__,
                request.method,
                request.url.path,
                held,
            )
        return domain(
            request,
            Unavailable(
                "the service is briefly unavailable; please try again in a few seconds",
                RETRY_AFTER_UNAVAILABLE,
            ),
        )

    def interface(request: AnyRequest, exc: asyncpg.InterfaceError) -> Response[Any]:
        if "connection is closed" in str(exc) or "connection was closed" in str(exc):
            return unavailable(request, exc)
        return unexpected(request, exc)

    def client_state(request: AnyRequest, exc: asyncpg.InternalClientError) -> Response[Any]:
        if 'protocol is in the "failed" state' in str(exc):
            return unavailable(request, exc)
        return unexpected(request, exc)

    def unexpected(request: AnyRequest, exc: Exception) -> Response[Any]:
        # The exception's text may quote request data (PHI): log its type and where it was
        # raised.
        sqlstate = getattr(exc, "sqlstate", None)
        log.error(
            "unhandled %s%s on %s %s\n%s",
            type(exc).__name__,
            f" (SQLSTATE {sqlstate})" if sqlstate else "",
            request.method,
            request.url.path,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        body = ErrorBody("server_error", "the server failed; please try again")
        return render(request, 500, body, None)

    return {
        DomainError: domain,
        ValidationException: validation,
        UnicodeDecodeError: not_unicode,
        RecursionError: nested,
        asyncpg.CharacterNotInRepertoireError: text,
        asyncpg.UntranslatableCharacterError: text,
        HTTPException: http,
        asyncpg.IntegrityConstraintViolationError: integrity,
        **dict.fromkeys(DATABASE_UNAVAILABLE, unavailable),
        asyncpg.InterfaceError: interface,
        asyncpg.InternalClientError: client_state,
        Exception: unexpected,
    }


EXCEPTION_HANDLERS = exception_handlers(json_error)
