"""The VAPID key from settings, and the header cached per push service origin."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02

from server.reminders.vapid import REFRESH_BEFORE, VapidSigner, parse_private_key, public_key
from server.settings import SettingsError


def _claims(header: str) -> dict[str, object]:
    token = header.split("t=", 1)[1].split(",", 1)[0]
    body = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def test_private_key_in_pem_or_raw_base64url() -> None:
    key = Vapid02()
    key.generate_keys()
    raw = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    as_raw = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    assert public_key(parse_private_key(pem)) == public_key(key)
    assert public_key(parse_private_key(as_raw)) == public_key(key)
    with pytest.raises(SettingsError, match="VAPID_PRIVATE_KEY"):
        parse_private_key("not-a-key")


def test_header_is_signed_once_per_origin_and_renewed_before_it_expires() -> None:
    key = Vapid02()
    key.generate_keys()
    signer = VapidSigner(key, "mailto:ops@example.org")
    t = 1_800_000_000.0
    fcm = signer.authorization("https://fcm.googleapis.com", t)
    assert signer.authorization("https://fcm.googleapis.com", t + 3600) == fcm
    apple = signer.authorization("https://web.push.apple.com", t)
    assert apple != fcm
    claims = _claims(fcm)
    assert claims == {
        "sub": "mailto:ops@example.org",
        "aud": "https://fcm.googleapis.com",
        "exp": int(t) + 12 * 3600,
    }
    expires = float(claims["exp"])  # type: ignore[arg-type]
    later = signer.authorization("https://fcm.googleapis.com", expires - REFRESH_BEFORE + 1)
    assert later != fcm and _claims(later)["exp"] == int(expires - REFRESH_BEFORE + 1) + 12 * 3600
    assert f"k={signer.public_key}" in fcm
