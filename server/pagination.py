"""Keyset pagination: an opaque cursor holding the (time, id) of the last row of a page."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

import msgspec
from litestar.params import Parameter

from server.errors import Invalid

# The query parameter every paginated list takes: opaque, as encode_cursor makes it.
Cursor = Parameter(
    default=None,
    max_length=200,
    pattern=r"^[A-Za-z0-9_-]*$",
    description=(
        "the next_cursor of the page before, as the server issued it (opaque, base64url); "
        "left out for the first page. Any other value is refused with 422 naming cursor"
    ),
)


class _Cursor(msgspec.Struct, array_like=True, frozen=True):
    at: datetime
    id: UUID


def encode_cursor(at: datetime, id_: UUID) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(at, id_))).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime | None, UUID | None]:
    if not cursor:
        return None, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise Invalid.field("cursor", "is not a cursor this server issued") from None
    return decoded.at, decoded.id
