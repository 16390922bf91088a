"""The fake push service accepts what pywebpush sends and cannot be fooled by anything else."""

from __future__ import annotations

import base64
import email.utils
import json
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import http_ece
import httpx
import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from py_vapid import Vapid, Vapid01
from pywebpush import WebPushException, webpush, webpush_async

from tests.support.fakepush import Behaviour, FakePushService, Subscriber
from tests.support.live import clean_env

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = {"title": "Check-in", "body": "How is your pain today?", "url": "/c/abc"}


@pytest.fixture
def fake() -> Iterator[FakePushService]:
    with FakePushService() as service:
        yield service


@pytest.fixture(scope="module")
def vapid() -> Vapid:
    key = Vapid()
    key.generate_keys()
    return key


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    return b64(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def send(
    subscriber: Subscriber, key: Vapid | str, data: object = MESSAGE, **kwargs: Any
) -> requests.Response:
    """pywebpush as the app would call it: a fresh claims dict, a TTL, a timeout."""
    kwargs.setdefault("ttl", 60)
    kwargs.setdefault("timeout", 5)
    response: requests.Response = webpush(
        subscription_info=subscriber.subscription_info(),
        data=json.dumps(data),
        vapid_private_key=key,
        vapid_claims={"sub": "mailto:ops@example.org"},
        **kwargs,
    )
    return response


def status_of(call: Callable[[], object]) -> int:
    """The status pywebpush raised WebPushException for."""
    with pytest.raises(WebPushException) as raised:
        call()
    response = raised.value.response
    assert response is not None
    return int(response.status_code)


async def push_async(
    session: aiohttp.ClientSession, subscriber: Subscriber, key: Vapid, seconds: float = 5.0
) -> int:
    """pywebpush's async call with a shared session; the status, also of a refusal."""
    try:
        response = await webpush_async(
            subscription_info=subscriber.subscription_info(),
            data=json.dumps(MESSAGE),
            vapid_private_key=key,
            vapid_claims={"sub": "mailto:ops@example.org"},
            ttl=60,
            timeout=aiohttp.ClientTimeout(total=seconds),
            aiohttp_session=session,
        )
    except WebPushException as exc:
        response = exc.response
    assert response is not None
    return int(response.status)


# -- the subscription ------------------------------------------------------------------------


def test_subscription_info_has_the_browser_shape(fake: FakePushService) -> None:
    subscriber = fake.new_subscriber()
    info = subscriber.subscription_info()

    assert set(info) == {"endpoint", "keys"} and set(info["keys"]) == {"p256dh", "auth"}
    assert info["endpoint"].startswith(f"{fake.origin}/push/")
    assert subscriber.token == info["endpoint"].rsplit("/", 1)[1]
    for value in info["keys"].values():
        assert "=" not in value and "+" not in value and "/" not in value
    raw = base64.urlsafe_b64decode(info["keys"]["p256dh"] + "=")
    assert len(raw) == 65 and raw[0] == 4
    assert info["keys"]["p256dh"] == public_key_b64(subscriber.private_key)
    assert base64.urlsafe_b64decode(info["keys"]["auth"] + "==") == subscriber.auth_secret
    assert len(subscriber.auth_secret) == 16
    assert fake.new_subscriber().subscription_info() != info


# -- what pywebpush sends is accepted and recorded -------------------------------------------


@pytest.mark.parametrize("key_form", ["Vapid object", "PEM file", "DER string"])
def test_webpush_is_accepted_and_recorded(
    fake: FakePushService, vapid: Vapid, key_form: str, tmp_path: Path
) -> None:
    key: Vapid | str = vapid
    if key_form == "PEM file":
        path = tmp_path / "vapid.pem"
        path.write_bytes(vapid.private_pem())
        key = str(path)
    elif key_form == "DER string":
        key = b64(
            vapid.private_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    subscriber = fake.new_subscriber()
    other = fake.new_subscriber()
    before = time.time()

    response = send(subscriber, key, headers={"Urgency": "high", "Topic": "abc"})

    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{fake.origin}/message/")
    assert fake.rejected == [] and fake.answered == []
    [delivery] = fake.deliveries
    assert delivery.verified
    assert delivery.token == subscriber.token and delivery.endpoint == subscriber.endpoint
    assert delivery.payload == json.dumps(MESSAGE).encode()
    assert delivery.json == MESSAGE
    assert (delivery.ttl, delivery.urgency, delivery.topic) == (60, "high", "abc")
    assert delivery.claims["sub"] == "mailto:ops@example.org"
    assert delivery.claims["aud"] == fake.origin
    assert before + 11 * 3600 < delivery.claims["exp"] <= time.time() + 12 * 3600
    assert delivery.vapid_key == public_key_b64(vapid.private_key)
    assert before <= delivery.received_at <= time.time()
    assert fake.deliveries_for(subscriber) == [delivery]
    assert fake.deliveries_for(other.token) == []


async def test_webpush_async_with_a_shared_session_is_accepted(
    fake: FakePushService, vapid: Vapid
) -> None:
    subscribers = [fake.new_subscriber() for _ in range(3)]
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession() as session:
        for n, subscriber in enumerate(subscribers):
            response = await webpush_async(
                subscription_info=subscriber.subscription_info(),
                data=json.dumps({"n": n}),
                vapid_private_key=vapid,
                vapid_claims={"sub": "https://checkin.example.org"},
                ttl=3600,
                headers={"Urgency": "low"},
                timeout=timeout,
                aiohttp_session=session,
            )
            assert response.status == 201

    assert fake.rejected == []
    deliveries = fake.deliveries
    assert [d.json for d in deliveries] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [d.token for d in deliveries] == [s.token for s in subscribers]
    assert all(d.verified and d.ttl == 3600 and d.urgency == "low" for d in deliveries)
    assert all(d.topic is None for d in deliveries)
    assert all(d.claims["sub"] == "https://checkin.example.org" for d in deliveries)


def test_non_json_payload_is_recorded_as_bytes(fake: FakePushService, vapid: Vapid) -> None:
    subscriber = fake.new_subscriber()
    webpush(
        subscription_info=subscriber.subscription_info(),
        data="not json {",
        vapid_private_key=vapid,
        vapid_claims={"sub": "mailto:ops@example.org"},
        ttl=5,
        timeout=5,
    )
    [delivery] = fake.deliveries
    assert delivery.payload == b"not json {" and delivery.json is None and delivery.verified


def test_draft_vapid_header_is_refused(fake: FakePushService, vapid: Vapid) -> None:
    """A plain Vapid01 key makes pywebpush send the pre-RFC `WebPush <jwt>` + Crypto-Key form."""
    legacy = Vapid01(private_key=vapid.private_key)
    subscriber = fake.new_subscriber()

    assert status_of(lambda: send(subscriber, legacy)) == 401
    assert fake.rejected == [
        (subscriber.token, 401, "Authorization scheme must be vapid (RFC 8292)")
    ]
    assert fake.deliveries == []


def test_expected_vapid_key(vapid: Vapid) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with FakePushService(expected_vapid_key=public_key_b64(other)) as strict:
        subscriber = strict.new_subscriber()
        assert status_of(lambda: send(subscriber, vapid)) == 403
        assert [status for _, status, _ in strict.rejected] == [403]
        assert strict.deliveries == []

    with FakePushService(expected_vapid_key=public_key_b64(vapid.private_key)) as strict:
        assert send(strict.new_subscriber(), vapid).status_code == 201
        assert strict.rejected == [] and len(strict.deliveries) == 1


# -- hand-built requests: each one differs from a good request in one way --------------------


def sign_jwt(
    key: ec.EllipticCurvePrivateKey, claims: dict[str, Any], header: dict[str, Any]
) -> str:
    signing_input = ".".join(
        b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    r, s = utils.decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def encrypt(subscriber: Subscriber, payload: bytes) -> bytes:
    keys = subscriber.subscription_info()["keys"]
    body: bytes = http_ece.encrypt(
        payload,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=base64.urlsafe_b64decode(keys["p256dh"] + "="),
        auth_secret=base64.urlsafe_b64decode(keys["auth"] + "=="),
        version="aes128gcm",
    )
    return body


@dataclass
class Spec:
    """A push request; `build()` makes it, faults change one field."""

    fake: FakePushService
    subscriber: Subscriber
    vapid_key: ec.EllipticCurvePrivateKey
    claims: dict[str, Any]
    token: str
    signing_key: ec.EllipticCurvePrivateKey
    k: str
    jwt_header: dict[str, Any] = field(default_factory=lambda: {"typ": "JWT", "alg": "ES256"})
    headers: dict[str, str] = field(
        default_factory=lambda: {
            "TTL": "60",
            "Content-Encoding": "aes128gcm",
            "Urgency": "normal",
            "Topic": "reminder-1",
        }
    )
    payload: bytes = b'{"title": "Check-in"}'
    encrypt_for: Subscriber | None = None
    body: bytes | None = None
    authorization: str | None = None

    @classmethod
    def good(cls, fake: FakePushService) -> Spec:
        subscriber = fake.new_subscriber()
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(
            fake=fake,
            subscriber=subscriber,
            vapid_key=key,
            claims={
                "aud": fake.origin,
                "exp": int(time.time()) + 3600,
                "sub": "mailto:ops@example.org",
            },
            token=subscriber.token,
            signing_key=key,
            k=public_key_b64(key),
        )

    def build(self) -> tuple[str, dict[str, str], bytes]:
        jwt = sign_jwt(self.signing_key, self.claims, self.jwt_header)
        authorization = self.authorization
        if authorization is None:
            authorization = f"vapid t={jwt}, k={self.k}"
        headers = dict(self.headers)
        if authorization:
            headers["Authorization"] = authorization
        body = self.body
        if body is None:
            body = encrypt(self.encrypt_for or self.subscriber, self.payload)
        return f"{self.fake.origin}/push/{self.token}", headers, body

    def post(self) -> httpx.Response:
        url, headers, body = self.build()
        return httpx.post(url, headers=headers, content=body, timeout=5)


def test_the_hand_built_request_is_accepted(fake: FakePushService) -> None:
    """The control for the faults below: without a fault the same request gets through."""
    spec = Spec.good(fake)
    response = spec.post()
    assert response.status_code == 201, response.text
    assert fake.rejected == []
    [delivery] = fake.deliveries
    assert delivery.verified and delivery.payload == spec.payload
    assert delivery.claims == spec.claims and delivery.vapid_key == spec.k
    assert (delivery.ttl, delivery.urgency, delivery.topic) == (60, "normal", "reminder-1")


def _other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _compressed(key: ec.EllipticCurvePrivateKey) -> str:
    return b64(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
    )


def _flip_last_byte(spec: Spec) -> None:
    body = encrypt(spec.subscriber, spec.payload)
    spec.body = body[:-1] + bytes([body[-1] ^ 1])


def _alg_none(spec: Spec) -> None:
    spec.jwt_header = {"typ": "JWT", "alg": "none"}


FAULTS = [
    pytest.param(
        lambda s: setattr(s, "signing_key", _other_key()), 401, "signature", id="tampered"
    ),
    pytest.param(
        lambda s: setattr(s, "k", public_key_b64(_other_key())), 401, "signature", id="other-k"
    ),
    pytest.param(lambda s: setattr(s, "k", _compressed(s.vapid_key)), 401, "k is", id="k-short"),
    pytest.param(_alg_none, 401, "alg", id="alg-none"),
    pytest.param(
        lambda s: s.claims.update(aud="http://127.0.0.1:1"), 401, "aud", id="aud-other-port"
    ),
    pytest.param(
        lambda s: s.claims.update(aud=s.fake.origin + "/"), 401, "aud", id="aud-trailing-slash"
    ),
    pytest.param(
        lambda s: s.claims.update(aud=s.fake.origin.replace("http:", "https:")),
        401,
        "aud",
        id="aud-https",
    ),
    pytest.param(lambda s: s.claims.pop("aud"), 401, "aud", id="aud-missing"),
    pytest.param(
        lambda s: s.claims.update(exp=int(time.time()) - 5), 401, "expired", id="exp-past"
    ),
    pytest.param(
        lambda s: s.claims.update(exp=int(time.time()) + 24 * 3600 + 60),
        401,
        "24 hours",
        id="exp-over-24h",
    ),
    pytest.param(lambda s: s.claims.pop("exp"), 401, "exp missing", id="exp-missing"),
    pytest.param(lambda s: s.claims.update(exp="soon"), 401, "exp missing", id="exp-string"),
    pytest.param(lambda s: s.claims.pop("sub"), 401, "sub", id="sub-missing"),
    pytest.param(lambda s: s.claims.update(sub="ops@example.org"), 401, "sub", id="sub-bare"),
    pytest.param(lambda s: setattr(s, "authorization", ""), 401, "missing", id="no-auth"),
    pytest.param(
        lambda s: setattr(s, "authorization", "Bearer abc"), 401, "scheme", id="auth-bearer"
    ),
    pytest.param(lambda s: s.headers.pop("TTL"), 400, "TTL header missing", id="ttl-missing"),
    pytest.param(lambda s: s.headers.update(TTL="-1"), 400, "TTL", id="ttl-negative"),
    pytest.param(lambda s: s.headers.update(TTL="1.5"), 400, "TTL", id="ttl-fraction"),
    pytest.param(
        lambda s: s.headers.update({"Content-Encoding": "aesgcm"}), 415, "aesgcm", id="aesgcm"
    ),
    pytest.param(
        lambda s: s.headers.pop("Content-Encoding"), 400, "Content-Encoding", id="no-encoding"
    ),
    pytest.param(lambda s: s.headers.update(Urgency="urgent"), 400, "Urgency", id="urgency"),
    pytest.param(lambda s: s.headers.update(Topic="a" * 33), 400, "Topic", id="topic-long"),
    pytest.param(lambda s: s.headers.update(Topic="a+b"), 400, "Topic", id="topic-chars"),
    pytest.param(
        lambda s: setattr(s, "encrypt_for", s.fake.new_subscriber()),
        400,
        "decrypt",
        id="encrypted-for-another",
    ),
    pytest.param(_flip_last_byte, 400, "decrypt", id="corrupted-body"),
    pytest.param(lambda s: setattr(s, "body", b""), 400, "empty", id="empty-body"),
    pytest.param(lambda s: setattr(s, "payload", b"x" * 4000), 413, "4096", id="payload-over-4096"),
    pytest.param(
        lambda s: setattr(s, "token", "no-such-token"), 404, "no such", id="unknown-token"
    ),
]


@pytest.mark.parametrize(("fault", "status", "reason"), FAULTS)
def test_a_faulty_request_is_rejected(
    fake: FakePushService, fault: Callable[[Spec], object], status: int, reason: str
) -> None:
    spec = Spec.good(fake)
    fault(spec)

    response = spec.post()

    assert response.status_code == status, response.text
    assert reason in response.text
    [(token, rejected_status, rejected_reason)] = fake.rejected
    assert (token, rejected_status) == (spec.token, status)
    assert reason in rejected_reason
    assert fake.deliveries == []
    # Requests to a known subscription are listed with their answer.
    assert [r.answer for r in fake.requests] == ([] if status == 404 else [status])


def test_the_largest_payload_that_fits_is_accepted(fake: FakePushService) -> None:
    spec = Spec.good(fake)
    spec.payload = b"x" * 3993
    assert spec.post().status_code == 201
    spec.payload = b"x" * 3994
    assert spec.post().status_code == 413


def test_a_cached_token_is_checked_again_when_it_expires(fake: FakePushService) -> None:
    """The service caches verified JWTs; the claims must still be checked on every request."""
    spec = Spec.good(fake)
    spec.claims["exp"] = int(time.time()) + 2
    url, headers, body = spec.build()
    assert httpx.post(url, headers=headers, content=body, timeout=5).status_code == 201
    time.sleep(max(0.0, spec.claims["exp"] - time.time()) + 0.05)
    response = httpx.post(url, headers=headers, content=encrypt(spec.subscriber, b"{}"), timeout=5)
    assert response.status_code == 401 and "expired" in response.text


# -- scripting -------------------------------------------------------------------------------


def test_forget_answers_410_for_ever(fake: FakePushService, vapid: Vapid) -> None:
    gone, alive = fake.new_subscriber(), fake.new_subscriber()
    fake.forget(gone)

    assert status_of(lambda: send(gone, vapid)) == 410
    assert status_of(lambda: send(gone, vapid)) == 410
    assert send(alive, vapid).status_code == 201

    assert fake.answered == [(gone.token, 410), (gone.token, 410)]
    assert [d.token for d in fake.deliveries] == [alive.token]
    assert fake.rejected == []


def test_429_with_retry_after_then_success(fake: FakePushService, vapid: Vapid) -> None:
    subscriber, bystander = fake.new_subscriber(), fake.new_subscriber()
    fake.script([Behaviour(status=429, retry_after=30)], token=subscriber.token)

    assert send(bystander, vapid).status_code == 201  # a script for one token leaves others
    with pytest.raises(WebPushException) as raised:
        send(subscriber, vapid)
    response = raised.value.response
    assert response is not None
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"
    assert send(subscriber, vapid).status_code == 201  # consumed: the next one gets through

    assert fake.answered == [(subscriber.token, 429)]
    assert [d.token for d in fake.deliveries] == [bystander.token, subscriber.token]


async def test_500_then_success_for_any_token(fake: FakePushService, vapid: Vapid) -> None:
    first, second = fake.new_subscriber(), fake.new_subscriber()
    fake.script([Behaviour(status=500), Behaviour(status=503, retry_after=1)])

    async with aiohttp.ClientSession() as session:
        statuses = [await push_async(session, s, vapid) for s in (first, second, first)]

    assert statuses == [500, 503, 201]
    assert fake.answered == [(first.token, 500), (second.token, 503)]
    assert [d.token for d in fake.deliveries] == [first.token]
    assert fake.rejected == []


def test_a_scripted_success_status_is_a_delivery(fake: FakePushService, vapid: Vapid) -> None:
    subscriber = fake.new_subscriber()
    fake.script([Behaviour(status=202)], token=subscriber)
    assert send(subscriber, vapid).status_code == 202
    assert len(fake.deliveries) == 1 and fake.answered == []


def test_a_scripted_error_still_verifies_the_request(fake: FakePushService) -> None:
    """An outage answers 500 to everything, but a broken request is still listed as rejected."""
    spec = Spec.good(fake)
    spec.claims["aud"] = "https://fcm.googleapis.com"
    fake.script([Behaviour(status=500)])

    assert spec.post().status_code == 500
    assert fake.answered == [(spec.token, 500)]
    assert [r.answer for r in fake.requests] == [500]
    assert [(token, status) for token, status, _ in fake.rejected] == [(spec.token, 401)]
    assert fake.deliveries == []


async def test_a_stall_longer_than_the_timeout_times_the_client_out(
    fake: FakePushService, vapid: Vapid
) -> None:
    subscriber = fake.new_subscriber()
    fake.script([Behaviour(stall=30.0)], token=subscriber)

    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await push_async(session, subscriber, vapid, seconds=0.3)
        assert 0.25 < time.monotonic() - started < 5
        # Only the scripted request hangs; the service still answers the next one.
        assert await push_async(session, subscriber, vapid) == 201

    assert len(fake.deliveries) == 1  # the stalled one is still hanging, not delivered


def test_default_behaviour_until_reset(fake: FakePushService, vapid: Vapid) -> None:
    subscriber = fake.new_subscriber()

    fake.set_default(Behaviour(stall=30.0))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        send(subscriber, vapid, timeout=0.3)
    assert time.monotonic() - started < 5

    fake.set_default(Behaviour(status=503, retry_after=120))
    assert status_of(lambda: send(subscriber, vapid)) == 503
    assert status_of(lambda: send(subscriber, vapid)) == 503

    fake.set_default(None)
    assert send(subscriber, vapid).status_code == 201
    assert fake.answered == [(subscriber.token, 503), (subscriber.token, 503)]
    assert len(fake.deliveries) == 1


async def test_a_hang_is_never_answered_and_ends_when_the_client_gives_up(
    fake: FakePushService, vapid: Vapid
) -> None:
    subscriber = fake.new_subscriber()
    fake.set_default(Behaviour(hang=True))

    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            with pytest.raises(TimeoutError):
                await push_async(session, subscriber, vapid, seconds=0.3)
        fake.set_default(None)
        assert await push_async(session, subscriber, vapid) == 201

    assert [r.answer for r in fake.requests_for(subscriber)] == ["hang", "hang", 201]
    assert len(fake.deliveries) == 1 and fake.answered == []
    stats = fake.stats()
    assert (stats["requests"], stats["hung"], stats["accepted"]) == (3, 2, 1)


async def test_close_drops_the_connection_unanswered(fake: FakePushService, vapid: Vapid) -> None:
    subscriber = fake.new_subscriber()
    fake.script([Behaviour(close=True)], token=subscriber)

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await push_async(session, subscriber, vapid)
        assert await push_async(session, subscriber, vapid) == 201

    assert [r.answer for r in fake.requests_for(subscriber)] == ["close", 201]
    assert fake.stats()["closed"] == 1 and len(fake.deliveries) == 1


def test_retry_after_as_an_http_date(fake: FakePushService, vapid: Vapid) -> None:
    subscriber = fake.new_subscriber()
    fake.script([Behaviour(status=429, retry_after_date=30)], token=subscriber)

    with pytest.raises(WebPushException) as raised:
        send(subscriber, vapid)
    answered = time.time()
    response = raised.value.response
    assert response is not None and response.status_code == 429
    at = email.utils.parsedate_to_datetime(response.headers["Retry-After"]).timestamp()
    assert answered + 29 <= at <= answered + 31  # whole seconds, rounded up
    [request] = fake.requests_for(subscriber)
    assert request.answer == 429 and request.retry_after == response.headers["Retry-After"]
    assert request.received_at + 30 <= at < request.received_at + 31

    with pytest.raises(ValueError, match="exclude"):
        Behaviour(status=429, retry_after=1, retry_after_date=1)
    with pytest.raises(ValueError, match="exclude"):
        Behaviour(hang=True, close=True)


def test_a_default_sequence_is_taken_in_turn(fake: FakePushService, vapid: Vapid) -> None:
    subscriber = fake.new_subscriber()
    fake.set_default([Behaviour(500), Behaviour(502), Behaviour(503, retry_after=1)])

    statuses = [status_of(lambda: send(subscriber, vapid)) for _ in range(4)]

    assert statuses == [500, 502, 503, 500]
    fake.set_default(None)
    assert send(subscriber, vapid).status_code == 201
    assert [r.answer for r in fake.requests] == [500, 502, 503, 500, 201]
    assert [r.received_at for r in fake.requests] == sorted(r.received_at for r in fake.requests)


def test_control_default_takes_a_list_and_the_new_fields(
    fake: FakePushService, vapid: Vapid
) -> None:
    subscriber = fake.new_subscriber()
    with httpx.Client(base_url=fake.origin, timeout=5) as client:
        phases = [{"status": 500}, {"status": 429, "retry_after_date": 5}]
        answer = client.post("/_control/default", json=phases)
        assert answer.is_success and len(answer.json()["default"]) == 2
        assert status_of(lambda: send(subscriber, vapid)) == 500
        with pytest.raises(WebPushException) as raised:
            send(subscriber, vapid)
        assert raised.value.response is not None
        assert raised.value.response.headers["Retry-After"].endswith(" GMT")
        assert client.post("/_control/default", json=[{}]).status_code == 400
        assert client.post("/_control/default", json={"hang": 1}).status_code == 400
        assert client.post("/_control/default", json={"hang": True}).is_success
        with pytest.raises(requests.exceptions.Timeout):
            send(subscriber, vapid, timeout=0.3)
        assert client.post("/_control/default", json={}).json() == {"default": None}
        assert send(subscriber, vapid).status_code == 201
        stats = client.get("/_control/stats").json()
    assert (stats["requests"], stats["hung"], stats["answered"]) == (4, 1, 2)


def test_stop_cuts_a_stall_short(vapid: Vapid) -> None:
    service = FakePushService().start()
    service.set_default(Behaviour(stall=60.0))
    subscriber = service.new_subscriber()
    with pytest.raises(requests.exceptions.Timeout):
        send(subscriber, vapid, timeout=0.2)
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 5
    assert service.deliveries == []


# -- sampling verification -------------------------------------------------------------------


def test_verify_every_third(vapid: Vapid) -> None:
    with FakePushService(verify_every=3) as sampled:
        subscriber = sampled.new_subscriber()
        for _ in range(6):
            assert send(subscriber, vapid).status_code == 201

        deliveries = sampled.deliveries
        assert [d.verified for d in deliveries] == [True, False, False] * 2
        assert all(d.json == MESSAGE for d in deliveries if d.verified)
        assert all(d.payload is None and d.json is None for d in deliveries if not d.verified)
        assert all(d.claims == {} for d in deliveries if not d.verified)
        assert {(d.ttl, d.vapid_key) for d in deliveries} == {
            (60, public_key_b64(vapid.private_key))
        }
        assert sampled.stats()["verified"] == 2 and sampled.stats()["accepted"] == 6

        # The price of sampling: a bad signature gets through unless its turn is verified.
        sampled.clear()
        spec = Spec.good(sampled)
        spec.signing_key = _other_key()
        assert spec.post().status_code == 401
        assert spec.post().status_code == 201
        spec.headers.pop("TTL")  # header checks still apply to every request
        assert spec.post().status_code == 400
        assert [status for _, status, _ in sampled.rejected] == [401, 400]


# -- waiting ---------------------------------------------------------------------------------


def test_wait_for_blocks_until_delivered(fake: FakePushService, vapid: Vapid) -> None:
    subscriber = fake.new_subscriber()

    def later() -> None:
        time.sleep(0.2)
        send(subscriber, vapid)

    sender = threading.Thread(target=later)
    sender.start()
    try:
        [delivery] = fake.wait_for(1, timeout=10)
        assert delivery.json == MESSAGE
    finally:
        sender.join()

    with pytest.raises(AssertionError, match="expected at least 2 push deliveries"):
        fake.wait_for(2, timeout=0.2)

    fake.clear()
    assert fake.deliveries == [] and fake.stats()["accepted"] == 0


# -- control endpoints -----------------------------------------------------------------------


def test_control_endpoints(fake: FakePushService, vapid: Vapid) -> None:
    with httpx.Client(base_url=fake.origin, timeout=5) as client:
        created = client.post("/_control/subscribers", json={"count": 2}).json()
        subscriptions = created["subscriptions"]
        assert len(subscriptions) == 2
        assert client.post("/_control/subscribers", json={"count": 0}).status_code == 400

        assert client.post("/_control/default", json={"status": 503, "retry_after": 7}).is_success
        with pytest.raises(WebPushException) as raised:
            webpush(
                subscription_info=subscriptions[0],
                data="{}",
                vapid_private_key=vapid,
                vapid_claims={"sub": "mailto:ops@example.org"},
                ttl=60,
                timeout=5,
            )
        assert raised.value.response is not None
        assert raised.value.response.headers["Retry-After"] == "7"
        assert client.post("/_control/default", json={"status": 99}).status_code == 400
        assert client.post("/_control/default", json={"stal": 1}).status_code == 400
        assert client.post("/_control/default", json={}).is_success

        for subscription in subscriptions:
            webpush(
                subscription_info=subscription,
                data="{}",
                vapid_private_key=vapid,
                vapid_claims={"sub": "mailto:ops@example.org"},
                ttl=60,
                timeout=5,
            )
        stats = client.get("/_control/stats").json()
        assert stats["accepted"] == 2 and stats["verified"] == 2 and stats["rejected"] == 0
        assert stats["answered"] == 1
        assert 0 < stats["first_at"] <= stats["last_at"] <= time.time()

        assert client.post("/_control/reset").is_success
        assert client.get("/_control/stats").json() == {
            "accepted": 0,
            "verified": 0,
            "rejected": 0,
            "answered": 0,
            "requests": 0,
            "hung": 0,
            "closed": 0,
            "first_at": None,
            "last_at": None,
        }


# -- as a separate process -------------------------------------------------------------------


@pytest.mark.slow
def test_runs_as_a_process(vapid: Vapid) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fakepush", "--port", "0", "--verify-every", "1"],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 30)
        assert readable, "no READY line within 30 s"
        line = process.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:"), line
        origin = line.split()[1]

        with httpx.Client(base_url=origin, timeout=5) as client:
            response = client.post("/_control/subscribers", json={"count": 2})
            subscriptions = response.json()["subscriptions"]
            assert [s["endpoint"].startswith(f"{origin}/push/") for s in subscriptions] == [
                True,
                True,
            ]
            with requests.Session() as session:
                for subscription in subscriptions:
                    webpush(
                        subscription_info=subscription,
                        data=json.dumps(MESSAGE),
                        vapid_private_key=vapid,
                        vapid_claims={"sub": "mailto:ops@example.org"},
                        ttl=60,
                        timeout=5,
                        requests_session=session,
                    )
            stats = client.get("/_control/stats").json()
        assert stats["accepted"] == 2 and stats["verified"] == 2 and stats["rejected"] == 0
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
