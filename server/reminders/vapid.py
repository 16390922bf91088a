"""The server's VAPID key, and the signed VAPID header cached per push service origin.

pywebpush signs a new JWT on every call (and writes into the claims dict it is given); one
header per origin, valid for hours, does the same job for every message to that service.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02

from server.db import Connection
from server.reminders import store
from server.settings import Settings, SettingsError

# Push services accept a VAPID JWT for at most 24 h; we sign for 12 h and sign again when
# less than an hour is left, so a header in flight never expires on the way.
TOKEN_LIFETIME = 12 * 3600
REFRESH_BEFORE = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _from_text(text: str) -> Vapid02:
    if text.lstrip().startswith("-----BEGIN"):
        return Vapid02.from_pem(text.encode())
    return Vapid02.from_string(text)


def parse_private_key(text: str) -> Vapid02:
    try:
        return _from_text(text)
    except Exception:  # py_vapid raises several kinds for one meaning: not a P-256 key
        raise SettingsError(
            "VAPID_PRIVATE_KEY is not valid: give a P-256 private key in PEM, or the base64url "
            "raw key that `web-push generate-vapid-keys` prints"
        ) from None


def public_key(vapid: Vapid02) -> str:
    """The application server key browsers subscribe with (base64url, uncompressed point)."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)


async def load_or_create(conn: Connection, settings: Settings) -> Vapid02:
    """The key from settings, else the one in the database, else a new one stored there.

    Concurrent first starts race to insert; every process then reads the one that won.
    """
    if settings.vapid_private_key:
        return parse_private_key(settings.vapid_private_key)
    pem = await store.vapid_key(conn)
    if pem is None:
        fresh = Vapid02()
        fresh.generate_keys()
        await store.insert_vapid_key(conn, fresh.private_pem().decode(), public_key(fresh))
        pem = await store.vapid_key(conn)
        assert pem is not None  # ours, or the one another process stored first
    return _from_text(pem)


class VapidSigner:
    def __init__(self, vapid: Vapid02, subject: str) -> None:
        self.vapid = vapid
        self.subject = subject
        self.public_key = public_key(vapid)
        self._headers: dict[str, tuple[str, float]] = {}

    def authorization(self, origin: str, now: float) -> str:
        """The ``Authorization`` header for a push service at ``origin`` (its JWT ``aud``)."""
        cached = self._headers.get(origin)
        if cached is not None and cached[1] - now > REFRESH_BEFORE:
            return cached[0]
        expires = int(now) + TOKEN_LIFETIME
        claims = {"sub": self.subject, "aud": origin, "exp": expires}
        header: str = self.vapid.sign(claims)["Authorization"]
        self._headers[origin] = (header, float(expires))
        return header
