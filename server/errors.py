"""Domain exceptions and the one map from exceptions to HTTP responses.

Error bodies never echo what the client sent: they name the field and say what is allowed.
"""

from __future__ import annotations

import logging
import re
import traceback
from http import HTTPStatus

import asyncpg
import msgspec
from litestar import MediaType, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from server.web import AnyRequest

log = logging.getLogger(__name__)


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    error: str
    message: str
    errors: list[FieldError] = msgspec.field(default_factory=list)


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.headers: dict[str, str] = {}


class BadRequest(DomainError):
    status_code = 400
    code = "bad_request"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Invalid(DomainError):
    status_code = 422
    code = "invalid"

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", [FieldError(field, message)])


class TooManyRequests(DomainError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


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
}


def error_response(
    status_code: int, body: ErrorBody, headers: dict[str, str] | None = None
) -> Response[ErrorBody]:
    return Response(body, status_code=status_code, headers=headers, media_type=MediaType.JSON)


def _domain_handler(_: AnyRequest, exc: DomainError) -> Response[ErrorBody]:
    return error_response(
        exc.status_code, ErrorBody(exc.code, exc.message, exc.errors), exc.headers or None
    )


_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]{1,64})`")


def _validation_handler(request: AnyRequest, exc: ValidationException) -> Response[ErrorBody]:
    errors: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        raw = str(item.get("message", "invalid value"))
        match = _AT_PATH.search(raw)
        key = item.get("key")
        field = match.group(1) if match and match.group(1) else (str(key) if key else "body")
        field = field.removeprefix("data.") if field != "data" else "body"
        message = _AT_PATH.sub("", raw)
        unknown = _UNKNOWN_FIELD.search(message)
        if unknown:
            parent = "" if field == "body" else f"{field}."
            field, message = f"{parent}{unknown.group(1)}", "is not a known field"
        errors.append(FieldError(field or "body", message))
    if not errors:
        errors.append(FieldError("body", exc.detail or "invalid request"))
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return error_response(400, ErrorBody("bad_request", summary, errors))


def _http_handler(_: AnyRequest, exc: HTTPException) -> Response[ErrorBody]:
    try:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = "error"
    headers = dict(exc.headers or {})
    if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
        return error_response(
            exc.status_code, ErrorBody("server_error", "the server failed"), headers
        )
    return error_response(exc.status_code, ErrorBody(code, str(exc.detail)), headers or None)


def _integrity_handler(
    request: AnyRequest, exc: asyncpg.IntegrityConstraintViolationError
) -> Response[ErrorBody]:
    name = getattr(exc, "constraint_name", None) or ""
    mapped = CONSTRAINT_ERRORS.get(name)
    if mapped is None:
        log.error(
            "unmapped constraint violation %s on %s %s", name, request.method, request.url.path
        )
        return error_response(500, ErrorBody("server_error", "the server failed"))
    cls, field, message = mapped
    return error_response(
        cls.status_code, ErrorBody(cls.code, f"{field}: {message}", [FieldError(field, message)])
    )


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
    HTTPException: _http_handler,
    asyncpg.IntegrityConstraintViolationError: _integrity_handler,
    Exception: _unexpected_handler,
}
