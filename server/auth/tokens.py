"""Secrets: device and API tokens, enrollment codes, password hashes.

Tokens are 256-bit random and only their SHA-256 is stored, so a database leak does not let
anyone act as a device. Enrollment codes are typed by people: Crockford base32 (no I, L, O, U),
12 characters in three groups, 60 bits.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_GROUPS = 3
CODE_GROUP_LENGTH = 4
CODE_LENGTH = CODE_GROUPS * CODE_GROUP_LENGTH
CODE_BITS = CODE_LENGTH * 5

# What people mistype for what they meant, per Crockford's base32.
_CODE_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters


def sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def new_token() -> tuple[str, bytes]:
    """A new 256-bit bearer token and the hash to store."""
    token = secrets.token_urlsafe(32)
    return token, sha256(token)


def new_enrollment_code() -> tuple[str, bytes]:
    """A new human-typable code (``7KQ2-M9XD-4TRB``) and the hash to store."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    groups = [raw[i : i + CODE_GROUP_LENGTH] for i in range(0, CODE_LENGTH, CODE_GROUP_LENGTH)]
    return "-".join(groups), sha256(raw)


def normalize_code(typed: str) -> str | None:
    """The canonical form of a typed code, or None if it cannot be one of ours."""
    cleaned = "".join(ch for ch in typed.upper() if ch not in " -\t\n").translate(_CODE_ALIASES)
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned


def hash_password(password: str) -> str:
    return _hasher.hash(password)
