"""Domain exceptions, what a violated database constraint means, and which failures mean the
database is unavailable.

Each exception carries its status and code; server/http_errors.py turns them into answers.
Messages never echo what the client sent: they name the field and say what is allowed.
"""

from __future__ import annotations

import socket
from typing import Self

import asyncpg
import msgspec


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


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
