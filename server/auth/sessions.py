"""Coordinator sign-in: Argon2id passwords, server-side sessions, lockout and throttling.

A session id is 256-bit random and lives only in an HttpOnly cookie; PostgreSQL keeps its SHA-256.
Sessions end after 30 minutes without use or 12 hours after sign-in, whichever comes first.
Wrong passwords are limited twice: per account (5 in a row lock it for 15 minutes) and per
client address and globally in PostgreSQL (server/auth/throttle.py), so a guesser gets
nowhere across any number of server processes and accounts.

A lock would also shut out the account's owner: anyone who knows an email could keep a
coordinator out of the dashboard by guessing wrong five times every 15 minutes. So a browser
that has signed in to the account gets a cookie (a random token, HttpOnly, sent only to the
sign-in form, kept 30 days; PostgreSQL holds its SHA-256 in staff_device). On such a browser
the account's lock does not apply; the browser has its own count instead, and after five wrong
passwords in a row it is no longer known (then the account's lock applies to it as to anyone).
A guesser without the cookie meets the lock; a new password or a disabled account forgets
every browser. Known devices, not known addresses: a clinic's or a carrier's shared address
would exempt everyone behind it, and an address taken from a misconfigured proxy anyone.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from datetime import datetime
from uuid import UUID

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server import audit
from server.auth import store, throttle
from server.auth.schemas import CoordinatorPrincipal
from server.auth.tokens import sha256
from server.db import Connection

SESSION_COOKIE = "checkin_staff"
IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 12 * 3600
LOCK_AFTER = 5
LOCK_SECONDS = 15 * 60
SIGN_IN_WINDOW_SECONDS = 900
KNOWN_DEVICE_DAYS = 30
DEVICE_COOKIE = "checkin_staff_device"
WRONG = (
    f"The email or password is wrong. After {LOCK_AFTER} wrong tries in a row an account is "
    f"locked for {LOCK_SECONDS // 60} minutes."
)

_hasher = PasswordHasher()
# Verified when the email is unknown, so an answer takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Refused(msgspec.Struct, frozen=True):
    """Why a sign-in did not happen, for the form to say (same text whatever was wrong)."""

    message: str
    status_code: int = 400
    retry_after: int | None = None


class NewSession(msgspec.Struct, frozen=True):
    token: str  # for the cookie only
    session_id: UUID
    coordinator_id: UUID
    device_token: str | None = None  # a browser new to the account: for its cookie


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify(password_hash: str, password: str) -> bool:
    """Argon2id takes ~100 ms of CPU by design: off the event loop, so one sign-in does not
    stall every other request of the process (the default executor bounds the threads)."""
    return await asyncio.to_thread(_verify, password_hash, password)


async def sign_in(
    conn: Connection,
    email: str,
    password: str,
    client_addr: str | None,
    now: datetime,
    limit: throttle.Limit,
    device_token: str | None = None,
) -> NewSession | Refused:
    email = email.strip().lower()
    async with conn.transaction():
        verdict = await throttle.attempt(
            conn, "staff_sign_in", throttle.client_key(client_addr), limit, now
        )
    if not verdict.allowed:
        return Refused(
            "Too many sign-in attempts from here: wait a few minutes and try again.",
            429,
            verdict.retry_after,
        )
    account = await store.coordinator_for_sign_in(conn, email)
    if account is None:
        await verify(_DUMMY_HASH, password)
        return Refused(WRONG)
    device_hash = sha256(device_token) if device_token and len(device_token) <= 64 else None
    known_device = device_hash is not None and await store.count_device_attempt(
        conn, device_hash, account.id, now, LOCK_AFTER
    )
    counted = known_device or await store.count_attempt(
        conn, account.id, now, LOCK_SECONDS, LOCK_AFTER
    )
    # A locked account's password is checked against nothing, but checked all the same: an
    # answer takes as long whether the account exists, is locked or not.
    matches = await verify(account.password_hash if counted else _DUMMY_HASH, password)
    if not (counted and matches):
        await audit.record(
            conn,
            actor_kind="coordinator",
            actor_id=account.id,
            clinic_id=account.clinic_id,
            patient_id=None,
            action="staff.sign_in_failed",
            now=now,
            detail={"locked": not counted, "known_device": known_device},
        )
        return Refused(WRONG)
    token = secrets.token_urlsafe(32)
    async with conn.transaction():
        await throttle.refund(conn, verdict)
        rehash = (
            await asyncio.to_thread(_hasher.hash, password)
            if _hasher.check_needs_rehash(account.password_hash)
            else None
        )
        await store.record_sign_in(conn, account.id, rehash)
        new_device = None
        if known_device and device_hash is not None:
            await store.device_signed_in(conn, device_hash)
        else:
            new_device = secrets.token_urlsafe(32)
            await store.add_device(conn, sha256(new_device), account.id, now, KNOWN_DEVICE_DAYS)
        session_id = await store.insert_session(
            conn, sha256(token), account.id, secrets.token_urlsafe(32), now, client_addr
        )
        await audit.record(
            conn,
            actor_kind="coordinator",
            actor_id=account.id,
            clinic_id=account.clinic_id,
            patient_id=None,
            action="staff.sign_in",
            now=now,
            detail={"session_id": str(session_id)},
        )
    return NewSession(token, session_id, account.id, new_device)


async def principal(conn: Connection, token: str, now: datetime) -> CoordinatorPrincipal | None:
    return await store.session_principal(conn, sha256(token), now, IDLE_SECONDS, ABSOLUTE_SECONDS)


async def sign_out(conn: Connection, token: str, now: datetime) -> None:
    await store.end_session(conn, sha256(token), now)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))
