"""Domain exceptions and the one map from exceptions to HTTP responses.

Error bodies never echo what the client sent: they name the field and say what is allowed.
"""

from __future__ import annotations

import logging
import re
import socket
import traceback
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import quote

import asyncpg
import msgspec
from litestar import Litestar, MediaType, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Redirect, Template
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from server.logs import Sparse
from server.web import AnyRequest

log = logging.getLogger(__name__)


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    error: str
    message: str
    errors: list[FieldError] = msgspec.field(default_factory=list)


def check_text(field: str, value: str | None) -> None:
    """PostgreSQL cannot store NUL in text: refuse it here, naming the field."""
    if value is not None and "\x00" in value:
        raise Invalid.field(field, "must not contain the NUL character")


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.headers: dict[str, str] = {}

    @classmethod
    def field(cls, field: str, message: str) -> Self:
        """An error about one field of the request."""
        return cls(f"{field}: {message}", [FieldError(field, message)])


class BadRequest(DomainError):
    status_code = 400
    code = "bad_request"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Invalid(DomainError):
    status_code = 422
    code = "invalid"


class TooManyRequests(DomainError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


class Unavailable(DomainError):
    status_code = 503
    code = "database_unavailable"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


# The database is down, restarting, failing over or out of connections: trying again in a few
# seconds is the answer (the patient app keeps the check-in and does; its id makes a retry safe
# even when the connection broke after PostgreSQL committed). Only what comes from reaching
# the database: a refused or reset connection, an unknown host, PostgreSQL shutting down or
# starting, a standby that cannot write, no connection slot, a timeout (the pool's, or a
# statement's command_timeout: the client is still best told to try again; the log line
# names it). asyncpg's InterfaceError counts only when it says the connection is closed, and
# its InternalClientError only when the connection broke under a query (its protocol "failed").
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionError,
    socket.gaierror,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ReadOnlySQLTransactionError,
)
RETRY_AFTER_UNAVAILABLE = 5


# Constraint name -> (exception class, field, message). The database is the referee for
# uniqueness and references; these turn its verdict into an answer a client can act on.
CONSTRAINT_ERRORS: dict[str, tuple[type[DomainError], str, str]] = {
    "coordinator_email_key": (Conflict, "email", "a coordinator with this email already exists"),
    "coordinator_email_format": (Invalid, "email", "must be an email address"),
    "coordinator_clinic_fk": (Invalid, "clinic", "no such clinic"),
    "patient_clinic_fk": (Invalid, "clinic", "no such clinic"),
    "clinic_timezone_valid": (Invalid, "timezone", "must be an IANA time zone like Europe/London"),
    "patient_timezone_valid": (Invalid, "timezone", "must be an IANA time zone like Europe/London"),
    "clinic_name_length": (Invalid, "name", "must be 1 to 200 characters"),
    "patient_display_name_length": (Invalid, "display_name", "must be 1 to 100 characters"),
    "patient_quiet_hours_pair": (Invalid, "quiet_hours", "needs both start and end"),
    "patient_quiet_hours_distinct": (Invalid, "quiet_hours", "start and end must differ"),
    "checkin_due_fk": (Invalid, "due_id", "no such due check-in for this patient"),
    "checkin_note_length": (Invalid, "note", "must be at most 2000 characters"),
    "coordinator_display_name_length": (Invalid, "name", "must be at most 200 characters"),
    "clinic_daily_window_range": (Invalid, "daily_window_minutes", "must be 60 to 1440"),
    "alert_note_length": (Invalid, "note", "must be at most 2000 characters"),
}


def constraint_error(exc: asyncpg.IntegrityConstraintViolationError) -> DomainError | None:
    """What a violated named constraint means for the client, or None for an unmapped one."""
    mapped = CONSTRAINT_ERRORS.get(getattr(exc, "constraint_name", None) or "")
    if mapped is None:
        return None
    cls, field, message = mapped
    return cls.field(field, message)


def error_response(
    status_code: int, body: ErrorBody, headers: dict[str, str] | None = None
) -> Response[ErrorBody]:
    return Response(body, status_code=status_code, headers=headers, media_type=MediaType.JSON)


def _domain_handler(request: AnyRequest, exc: DomainError) -> Response[Any]:
    if request.url.path.startswith("/coordinator/"):
        return _page_error(request, exc)
    return error_response(
        exc.status_code, ErrorBody(exc.code, exc.message, exc.errors), exc.headers or None
    )


def _page_error(request: AnyRequest, exc: DomainError) -> Response[Any]:
    """Dashboard pages answer in HTML: a sign-in redirect, or a page that says what happened."""
    if exc.code == "sign_in_required":
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return Redirect(f"/coordinator/sign-in?next={target}")
    return Template(
        template_name="coordinator/error.html",
        context={"status": exc.status_code, "message": exc.message, "who": None},
        status_code=exc.status_code,
        headers=exc.headers or None,
    )


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


def _validation_handler(request: AnyRequest, exc: ValidationException) -> Response[ErrorBody]:
    answers: list[tuple[int, FieldError]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            answers.append(
                _client_error(request, str(item.get("message", "invalid value")), item.get("key"))
            )
    if not answers:
        answers.append(_client_error(request, str(exc.detail or "invalid request"), None))
    status = 400 if any(code == 400 for code, _ in answers) else 422
    errors = [error for _, error in answers]
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
    code = "bad_request" if status == 400 else "invalid"
    return error_response(status, ErrorBody(code, summary, errors))


def _unicode_handler(request: AnyRequest, exc: UnicodeDecodeError) -> Response[ErrorBody]:
    return _domain_handler(request, BadRequest.field("body", "must be valid UTF-8 JSON"))


def _nesting_handler(request: AnyRequest, exc: RecursionError) -> Response[ErrorBody]:
    return _domain_handler(request, BadRequest.field("body", "is nested too deeply"))


def _text_handler(request: AnyRequest, exc: asyncpg.DataError) -> Response[ErrorBody]:
    # Reached only if a text with NUL slipped past the checks at the boundary.
    return _domain_handler(
        request, Invalid.field("body", "text must not contain the NUL character")
    )


def _http_handler(request: AnyRequest, exc: HTTPException) -> Response[ErrorBody]:
    detail = str(exc.detail)
    if exc.status_code == 400 and detail.startswith(_UNDECODABLE):
        # A body that is not JSON at all: name the body, in our words rather than the decoder's.
        _, error = _client_error(request, detail, None)
        return _domain_handler(request, BadRequest(f"{error.field}: {error.message}", [error]))
    try:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = "error"
    headers = dict(exc.headers or {})
    if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
        return error_response(
            exc.status_code, ErrorBody("server_error", "the server failed"), headers
        )
    return error_response(exc.status_code, ErrorBody(code, detail), headers or None)


def _integrity_handler(
    request: AnyRequest, exc: asyncpg.IntegrityConstraintViolationError
) -> Response[ErrorBody]:
    error = constraint_error(exc)
    if error is None:
        name = getattr(exc, "constraint_name", None)
        log.error(
            "unmapped constraint violation %s on %s %s", name, request.method, request.url.path
        )
        return error_response(500, ErrorBody("server_error", "the server failed"))
    return _domain_handler(request, error)


_unavailable_log = Sparse(10.0)


def _unavailable_handler(request: AnyRequest, exc: Exception) -> Response[Any]:
    held = _unavailable_log.due()
    if held is not None:
        log.warning(
            "database unavailable (%s) on %s %s; %d more such answers since the last such line",
            type(exc).__name__,
            request.method,
            request.url.path,
            held,
        )
    return _domain_handler(
        request,
        Unavailable(
            "the service is briefly unavailable; please try again in a few seconds",
            RETRY_AFTER_UNAVAILABLE,
        ),
    )


def _interface_handler(request: AnyRequest, exc: asyncpg.InterfaceError) -> Response[Any]:
    if "connection is closed" in str(exc) or "connection was closed" in str(exc):
        return _unavailable_handler(request, exc)
    return _unexpected_handler(request, exc)


def _client_state_handler(request: AnyRequest, exc: asyncpg.InternalClientError) -> Response[Any]:
    if 'protocol is in the "failed" state' in str(exc):
        return _unavailable_handler(request, exc)
    return _unexpected_handler(request, exc)


def _unexpected_handler(request: AnyRequest, exc: Exception) -> Response[ErrorBody]:
    # The exception's text may quote request data (PHI): log its type and where it was raised.
    sqlstate = getattr(exc, "sqlstate", None)
    log.error(
        "unhandled %s%s on %s %s\n%s",
        type(exc).__name__,
        f" (SQLSTATE {sqlstate})" if sqlstate else "",
        request.method,
        request.url.path,
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    return error_response(500, ErrorBody("server_error", "the server failed; please try again"))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: _domain_handler,
    ValidationException: _validation_handler,
    UnicodeDecodeError: _unicode_handler,
    RecursionError: _nesting_handler,
    asyncpg.CharacterNotInRepertoireError: _text_handler,
    asyncpg.UntranslatableCharacterError: _text_handler,
    HTTPException: _http_handler,
    asyncpg.IntegrityConstraintViolationError: _integrity_handler,
    **dict.fromkeys(DATABASE_UNAVAILABLE, _unavailable_handler),
    asyncpg.InterfaceError: _interface_handler,
    asyncpg.InternalClientError: _client_state_handler,
    Exception: _unexpected_handler,
}


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
