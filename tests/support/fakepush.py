"""A fake Web Push service that checks requests the way a real one does.

It verifies the VAPID header (RFC 8292: ES256 JWT, `aud`, `exp`, `sub`, the key in `k`), the
RFC 8030 headers (`TTL`, `Urgency`, `Topic`) and decrypts the aes128gcm body (RFC 8291) with the
subscriber's private key, then records what a phone would have received.

In-process (tests): ``with FakePushService() as push: sub = push.new_subscriber() ...``; the
server runs on its own event loop in a daemon thread.

As a process (benchmarks): ``python -m tests.support.fakepush --port 0 --verify-every 100`` prints
``READY <origin>`` and is driven through the JSON endpoints under ``/_control/``.

Answers, in order of precedence for a known subscription: a scripted `Behaviour` for that token,
then one scripted for any token, then 410 Gone for a forgotten subscription, then the default
behaviour, then 201. Every request is still checked: a faulty request is answered with its 4xx
unless a behaviour says to answer with an error anyway, and it is always listed in `rejected`.

An outage is a default that changes by phase: ``set_default(Behaviour(hang=True))`` (no answer
until the client gives up), ``set_default([Behaviour(500), Behaviour(502), Behaviour(503)])``
(taken in turn, request by request), ``Behaviour(429, retry_after=5)`` or
``Behaviour(429, retry_after_date=5)`` (an HTTP-date), ``Behaviour(close=True)`` (the connection
is dropped unanswered), then ``set_default(None)`` to recover. `requests` lists every request
with what it was answered, so a test can count how hard a client pushed during each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from email.utils import formatdate
from types import TracebackType
from typing import Any, Self

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

URGENCIES = frozenset({"very-low", "low", "normal", "high"})
MAX_BODY = 4096  # RFC 8030 section 7.2: the least a push service must accept, and what FCM takes
MAX_EXP_AHEAD = 24 * 60 * 60  # RFC 8292 section 2: `exp` no more than 24 hours ahead
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_TTL = re.compile(r"[0-9]{1,10}")
_CACHE_LIMIT = 4096


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as Web Push and JWTs use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding; raises ValueError on anything else."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the pattern above rules this out
        raise ValueError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Subscriber:
    """What a browser holds for one push subscription; the private key decrypts messages."""

    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    endpoint: str

    @classmethod
    def create(cls, endpoint: str) -> Subscriber:
        return cls(ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16), endpoint)

    @property
    def token(self) -> str:
        return self.endpoint.rsplit("/", 1)[1]

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url_encode(raw)

    def subscription_info(self) -> dict[str, Any]:
        """The JSON of the browser's PushSubscription (`PushSubscription.toJSON()`)."""
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": self.p256dh, "auth": b64url_encode(self.auth_secret)},
        }


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How the service answers one request (scripted) or every request (default).

    A stall longer than the client's timeout simulates a slow push service; a 2xx status still
    records a delivery (after the stall, if it ends before the service stops). `hang` never
    answers: the request ends when the client gives up (or the service stops) and nothing is
    delivered. `close` drops the connection without an answer. `retry_after` sends
    Retry-After in seconds; `retry_after_date` sends it as an HTTP-date that many seconds after
    the request arrived (rounded up to the next whole second, so a client never waits less).
    """

    status: int = 201
    retry_after: int | None = None
    stall: float = 0.0
    retry_after_date: int | None = None
    hang: bool = False
    close: bool = False

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 599:
            raise ValueError(f"status must be 200-599, not {self.status}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")
        if self.retry_after_date is not None and self.retry_after_date < 0:
            raise ValueError("retry_after_date must not be negative")
        if self.retry_after is not None and self.retry_after_date is not None:
            raise ValueError("retry_after and retry_after_date exclude each other")
        if self.stall < 0:
            raise ValueError("stall must not be negative")
        if self.hang and self.close:
            raise ValueError("hang and close exclude each other")

    @property
    def success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def answer(self) -> int | str:
        """What `requests` lists for a request answered this way."""
        if self.hang:
            return "hang"
        if self.close:
            return "close"
        return self.status

    @classmethod
    def from_json(cls, data: object) -> Behaviour | None:
        """`{}` means none; otherwise the fields of a Behaviour, all optional."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        if not data:
            return None
        unknown = set(data) - {
            "status",
            "retry_after",
            "stall",
            "retry_after_date",
            "hang",
            "close",
        }
        if unknown:
            raise ValueError(f"unknown fields: {sorted(unknown)}")
        status = data.get("status", 201)
        retry_after = data.get("retry_after")
        retry_after_date = data.get("retry_after_date")
        stall = data.get("stall", 0.0)
        hang = data.get("hang", False)
        close = data.get("close", False)
        if not _is_int(status):
            raise ValueError("status must be an integer")
        for name, value in (("retry_after", retry_after), ("retry_after_date", retry_after_date)):
            if value is not None and not _is_int(value):
                raise ValueError(f"{name} must be an integer or null")
        if not (_is_int(stall) or isinstance(stall, float)):
            raise ValueError("stall must be a number")
        if not isinstance(hang, bool) or not isinstance(close, bool):
            raise ValueError("hang and close must be true or false")
        return cls(
            status=status,
            retry_after=retry_after,
            stall=float(stall),
            retry_after_date=retry_after_date,
            hang=hang,
            close=close,
        )

    @classmethod
    def default_from_json(cls, data: object) -> tuple[Behaviour, ...]:
        """A default: one Behaviour as a JSON object (`{}` for none) or a list taken in turn."""
        if isinstance(data, list):
            behaviours = [cls.from_json(item) for item in data]
            if any(b is None for b in behaviours):
                raise ValueError("a list of behaviours must not contain {}")
            return tuple(b for b in behaviours if b is not None)
        behaviour = cls.from_json(data)
        return () if behaviour is None else (behaviour,)

    def headers(self, now: float) -> dict[str, str]:
        if self.retry_after is not None:
            return {"Retry-After": str(self.retry_after)}
        if self.retry_after_date is not None:
            at = math.ceil(now + self.retry_after_date)
            return {"Retry-After": formatdate(at, usegmt=True)}
        return {}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message the service accepted. `payload` and `json` are None when not verified."""

    token: str
    endpoint: str
    payload: bytes | None
    json: Any
    ttl: int
    urgency: str | None
    topic: str | None
    claims: dict[str, Any]
    vapid_key: str
    received_at: float
    verified: bool


@dataclass(frozen=True, slots=True)
class Request:
    """One request to a push endpoint of a known subscription and what it was answered: a
    status, or "hang" / "close" when it got none, and the Retry-After header if any."""

    token: str
    received_at: float
    answer: int | str
    retry_after: str | None = None


@dataclass(slots=True)
class _Stats:
    accepted: int = 0
    verified: int = 0
    requests: int = 0
    hung: int = 0
    closed: int = 0
    first_at: float | None = None
    last_at: float | None = None


class _Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Checked:
    ttl: int
    urgency: str | None
    topic: str | None
    vapid_key: str
    claims: dict[str, Any]
    payload: bytes | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _token_of(token: str | Subscriber) -> str:
    return token.token if isinstance(token, Subscriber) else token


@dataclass
class _State:
    """Everything the request handler and the test thread share; guarded by `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    scripts: dict[str | None, deque[Behaviour]] = field(default_factory=dict)
    default: tuple[Behaviour, ...] = ()
    default_turn: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)
    answered: list[tuple[str, int]] = field(default_factory=list)
    stats: _Stats = field(default_factory=_Stats)
    seen: int = 0
    messages: int = 0

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)


class FakePushService:
    """An aiohttp push service on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        port: int = 0,
        verify_every: int = 1,
        expected_vapid_key: str | None = None,
        *,
        record_deliveries: bool = True,
    ) -> None:
        if verify_every < 1:
            raise ValueError("verify_every must be at least 1")
        self.verify_every = verify_every
        self.expected_vapid_key = expected_vapid_key
        self.record_deliveries = record_deliveries
        self._requested_port = port
        self._port: int | None = None
        self._state = _State()
        # Only touched on the event loop: parsed VAPID keys and already verified JWTs.
        self._public_keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._good_tokens: dict[tuple[str, str], dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake push service is not listening")
        return self._port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        """Listen from a daemon thread with its own event loop; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fakepush", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the fake push service did not start in time")
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise RuntimeError("the fake push service could not start") from failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening; stalled requests are cut short. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def __enter__(self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _open(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/push/{token}", self._push)
        app.router.add_post("/_control/subscribers", self._control_subscribers)
        app.router.add_get("/_control/stats", self._control_stats)
        app.router.add_post("/_control/reset", self._control_reset)
        app.router.add_post("/_control/default", self._control_default)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self._requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def _close(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- subscribers and scripting (any thread) --------------------------------------------

    def new_subscriber(self) -> Subscriber:
        subscriber = Subscriber.create(f"{self.origin}/push/{secrets.token_urlsafe(24)}")
        with self._state.lock:
            self._state.subscribers[subscriber.token] = subscriber
        return subscriber

    def script(self, responses: Iterable[Behaviour], token: str | Subscriber | None = None) -> None:
        """Answer the next requests for `token` (any token if None) this way, one each."""
        key = None if token is None else _token_of(token)
        with self._state.lock:
            self._state.scripts.setdefault(key, deque()).extend(responses)

    def set_default(self, behaviour: Behaviour | Sequence[Behaviour] | None) -> None:
        """Answer every request this way (an outage, a slow service) until set back to None;
        a sequence is taken in turn, one behaviour per request, round and round."""
        if behaviour is None:
            behaviours: tuple[Behaviour, ...] = ()
        elif isinstance(behaviour, Behaviour):
            behaviours = (behaviour,)
        else:
            behaviours = tuple(behaviour)
        with self._state.lock:
            self._state.default = behaviours
            self._state.default_turn = 0

    def forget(self, token: str | Subscriber) -> None:
        """The subscription expired: answer 410 Gone from now on."""
        with self._state.lock:
            self._state.forgotten.add(_token_of(token))

    # -- what was received (any thread) ----------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        with self._state.lock:
            return list(self._state.deliveries)

    @property
    def rejected(self) -> list[tuple[str, int, str]]:
        """(token, status, reason) for each request that failed a check."""
        with self._state.lock:
            return list(self._state.rejected)

    @property
    def answered(self) -> list[tuple[str, int]]:
        """(token, status) for each request answered with a scripted, default or 410 error."""
        with self._state.lock:
            return list(self._state.answered)

    @property
    def requests(self) -> list[Request]:
        """Every request to a known subscription, in order of arrival (scripted, default and
        normal ones; not kept when the service records no deliveries)."""
        with self._state.lock:
            return list(self._state.requests)

    def requests_for(self, token: str | Subscriber) -> list[Request]:
        wanted = _token_of(token)
        with self._state.lock:
            return [r for r in self._state.requests if r.token == wanted]

    def deliveries_for(self, token: str | Subscriber) -> list[Delivery]:
        wanted = _token_of(token)
        with self._state.lock:
            return [d for d in self._state.deliveries if d.token == wanted]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Block until at least `count` deliveries were recorded; AssertionError otherwise."""
        state = self._state
        with state.changed:
            done = state.changed.wait_for(lambda: len(state.deliveries) >= count, timeout)
            if done:
                return list(state.deliveries)
            got, rejected, answered = len(state.deliveries), state.rejected[-5:], state.answered
        raise AssertionError(
            f"expected at least {count} push deliveries within {timeout} s, got {got}; "
            f"rejected {len(state.rejected)} (last: {rejected}), answered {len(answered)} "
            f"with errors (last: {answered[-5:]})"
        )

    def stats(self) -> dict[str, Any]:
        with self._state.lock:
            stats = asdict(self._state.stats)
            stats["rejected"] = len(self._state.rejected)
            stats["answered"] = len(self._state.answered)
        return stats

    def clear(self) -> None:
        """Forget what was received and the counters (not subscribers, scripts or defaults)."""
        with self._state.lock:
            self._state.deliveries.clear()
            self._state.requests.clear()
            self._state.rejected.clear()
            self._state.answered.clear()
            self._state.stats = _Stats()
            self._state.seen = 0

    def reset(self) -> None:
        """`clear()`, and drop scripts, the default behaviour and forgotten subscriptions."""
        self.clear()
        with self._state.lock:
            self._state.scripts.clear()
            self._state.default = ()
            self._state.forgotten.clear()

    # -- the push endpoint (event loop) ----------------------------------------------------

    async def _push(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject(token, 413, f"body larger than {MAX_BODY} bytes")
        state = self._state
        with state.lock:
            subscriber = state.subscribers.get(token)
            if subscriber is None:
                state.rejected.append((token, 404, "no such subscription"))
                return web.Response(status=404, text="no such subscription")
            verify = state.seen % self.verify_every == 0
            state.seen += 1
            behaviour = self._next_behaviour(token)
            received = time.time()

        outcome: _Checked | _Rejected
        try:
            outcome = self._check(request, body, subscriber, verify)
        except _Rejected as exc:
            outcome = exc
        headers = {} if behaviour is None else behaviour.headers(received)
        answer = 201 if behaviour is None else behaviour.answer
        if isinstance(outcome, _Rejected) and (behaviour is None or behaviour.success):
            answer = outcome.status
        with state.lock:
            if isinstance(outcome, _Rejected):
                state.rejected.append((token, outcome.status, outcome.reason))
            state.stats.requests += 1
            state.stats.hung += answer == "hang"
            state.stats.closed += answer == "close"
            if self.record_deliveries:
                state.requests.append(Request(token, received, answer, headers.get("Retry-After")))

        if behaviour is not None:
            if behaviour.hang:
                await self._hang(request)
                return web.Response(status=503, text="shutting down")
            if behaviour.stall and not await self._stall(behaviour.stall):
                return web.Response(status=503, text="shutting down")
            if behaviour.close:
                self._drop(request)
                return web.Response(status=503)  # never reaches the client
            if not behaviour.success:
                with state.lock:
                    state.answered.append((token, behaviour.status))
                return web.Response(status=behaviour.status, headers=headers)
        if isinstance(outcome, _Rejected):
            return web.Response(status=outcome.status, text=outcome.reason, headers=headers)

        self._record(subscriber, outcome)
        with state.lock:
            state.messages += 1
            message = state.messages
        headers["Location"] = f"{self.origin}/message/{message}"
        headers["TTL"] = str(outcome.ttl)
        return web.Response(status=201 if behaviour is None else behaviour.status, headers=headers)

    def _next_behaviour(self, token: str) -> Behaviour | None:
        """With the lock held: the scripted, expired or default answer for this request."""
        state = self._state
        for key in (token, None):
            queue = state.scripts.get(key)
            if queue:
                return queue.popleft()
        if token in state.forgotten:
            return Behaviour(status=410)
        if not state.default:
            return None
        behaviour = state.default[state.default_turn % len(state.default)]
        state.default_turn += 1
        return behaviour

    async def _stall(self, seconds: float) -> bool:
        """Sleep, cut short when the service stops; False if it did."""
        assert self._closing is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
        return not self._closing.is_set()

    async def _hang(self, request: web.Request) -> None:
        """Wait without answering until the client hangs up or the service stops."""
        assert self._closing is not None
        while not self._closing.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), 0.05)

    @staticmethod
    def _drop(request: web.Request) -> None:
        """Close the connection under the request: the client sees it end without an answer."""
        transport = request.transport
        if transport is not None:
            transport.abort()

    def _reject(self, token: str, status: int, reason: str) -> web.Response:
        with self._state.lock:
            self._state.rejected.append((token, status, reason))
        return web.Response(status=status, text=reason)

    def _record(self, subscriber: Subscriber, checked: _Checked) -> None:
        decoded: Any = None
        if checked.payload is not None:
            with contextlib.suppress(ValueError):
                decoded = json.loads(checked.payload)
        now = time.time()
        delivery = Delivery(
            token=subscriber.token,
            endpoint=subscriber.endpoint,
            payload=checked.payload,
            json=decoded,
            ttl=checked.ttl,
            urgency=checked.urgency,
            topic=checked.topic,
            claims=checked.claims,
            vapid_key=checked.vapid_key,
            received_at=now,
            verified=checked.payload is not None,
        )
        state = self._state
        with state.changed:
            stats = state.stats
            stats.accepted += 1
            stats.verified += delivery.verified
            if stats.first_at is None:
                stats.first_at = now
            stats.last_at = now
            if self.record_deliveries:
                state.deliveries.append(delivery)
            state.changed.notify_all()

    # -- checks ----------------------------------------------------------------------------

    def _check(
        self, request: web.Request, body: bytes, subscriber: Subscriber, verify: bool
    ) -> _Checked:
        """The header checks always; the signature, claims and decryption when `verify`."""
        jwt, key = self._parse_authorization(request.headers.get("Authorization"))
        if self.expected_vapid_key is not None and key != self.expected_vapid_key:
            raise _Rejected(403, "VAPID key is not the one this subscription was created with")

        ttl_header = request.headers.get("TTL")
        if ttl_header is None:
            raise _Rejected(400, "TTL header missing")
        if not _TTL.fullmatch(ttl_header):
            raise _Rejected(400, "TTL must be a non-negative integer")

        encoding = request.headers.get("Content-Encoding")
        if encoding is None:
            raise _Rejected(400, "Content-Encoding header missing")
        if encoding.strip().lower() != "aes128gcm":
            raise _Rejected(415, f"unsupported Content-Encoding {encoding!r}; use aes128gcm")

        urgency = request.headers.get("Urgency")
        if urgency is not None and urgency not in URGENCIES:
            raise _Rejected(400, "Urgency must be very-low, low, normal or high")
        topic = request.headers.get("Topic")
        if topic is not None and not _TOPIC.fullmatch(topic):
            raise _Rejected(400, "Topic must be 1-32 characters of the base64url alphabet")

        if not body:
            raise _Rejected(400, "empty body")
        if len(body) > MAX_BODY:
            raise _Rejected(413, f"body larger than {MAX_BODY} bytes")

        claims: dict[str, Any] = {}
        payload: bytes | None = None
        if verify:
            claims = self._verify_jwt(jwt, key)
            try:
                payload = http_ece.decrypt(
                    body,
                    private_key=subscriber.private_key,
                    auth_secret=subscriber.auth_secret,
                    version="aes128gcm",
                )
            except Exception as exc:
                raise _Rejected(400, "body does not decrypt for this subscription") from exc
        return _Checked(int(ttl_header), urgency, topic, key, claims, payload)

    @staticmethod
    def _parse_authorization(header: str | None) -> tuple[str, str]:
        if not header:
            raise _Rejected(401, "Authorization header missing")
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "vapid":
            raise _Rejected(401, "Authorization scheme must be vapid (RFC 8292)")
        params: dict[str, str] = {}
        for part in rest.split(","):
            name, equals, value = part.strip().partition("=")
            if not equals:
                raise _Rejected(401, "Authorization parameters must be t=<JWT>, k=<key>")
            params[name.strip().lower()] = value.strip()
        if not params.get("t") or not params.get("k"):
            raise _Rejected(401, "Authorization needs both t and k")
        return params["t"], params["k"]

    def _public_key(self, key: str) -> ec.EllipticCurvePublicKey:
        public = self._public_keys.get(key)
        if public is not None:
            return public
        try:
            raw = b64url_decode(key)
            if len(raw) != 65 or raw[0] != 4:
                raise ValueError("not an uncompressed point")
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError as exc:
            raise _Rejected(401, "k is not an uncompressed P-256 public key") from exc
        if len(self._public_keys) >= _CACHE_LIMIT:
            self._public_keys.clear()
        self._public_keys[key] = public
        return public

    def _verify_jwt(self, jwt: str, key: str) -> dict[str, Any]:
        claims = self._good_tokens.get((jwt, key))
        if claims is None:
            claims = self._verify_signature(jwt, key)
            if len(self._good_tokens) >= _CACHE_LIMIT:
                self._good_tokens.clear()
            self._good_tokens[(jwt, key)] = claims
        # The claims are checked on every request: a cached token may have expired since.
        if claims.get("aud") != self.origin:
            raise _Rejected(401, f"JWT aud must be {self.origin}")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise _Rejected(401, "JWT exp missing or not a number")
        now = time.time()
        if exp <= now:
            raise _Rejected(401, "JWT expired")
        if exp > now + MAX_EXP_AHEAD:
            raise _Rejected(401, "JWT exp more than 24 hours ahead")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
            raise _Rejected(401, "JWT sub missing or not a mailto: or https: URL")
        if sub in {"mailto:", "https:"}:
            raise _Rejected(401, "JWT sub is empty")
        return dict(claims)

    def _verify_signature(self, jwt: str, key: str) -> dict[str, Any]:
        public = self._public_key(key)
        parts = jwt.split(".")
        if len(parts) != 3:
            raise _Rejected(401, "t is not a JWT")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError as exc:
            raise _Rejected(401, "t is not a JWT") from exc
        if not isinstance(header, dict) or header.get("alg") != "ES256":
            raise _Rejected(401, "JWT alg must be ES256")
        if not isinstance(claims, dict):
            raise _Rejected(401, "JWT claims must be an object")
        if len(signature) != 64:
            raise _Rejected(401, "ES256 signature must be 64 bytes")
        der = utils.encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public.verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise _Rejected(401, "JWT signature does not verify with k") from exc
        return claims

    # -- control endpoints (JSON; for the benchmark process) -------------------------------

    async def _control_subscribers(self, request: web.Request) -> web.Response:
        try:
            count = (await request.json()).get("count")
        except (ValueError, AttributeError):
            count = None
        if not _is_int(count) or not 1 <= count <= 100_000:
            return web.json_response({"error": "count must be an integer 1-100000"}, status=400)
        subscriptions = [self.new_subscriber().subscription_info() for _ in range(count)]
        return web.json_response({"subscriptions": subscriptions})

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.clear()
        return web.json_response({"ok": True})

    async def _control_default(self, request: web.Request) -> web.Response:
        """A JSON object (`{}` for none) or a list of them taken in turn; see `set_default`."""
        try:
            behaviours = Behaviour.default_from_json(await request.json())
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.set_default(behaviours)
        if len(behaviours) == 1:
            return web.json_response({"default": asdict(behaviours[0])})
        return web.json_response({"default": [asdict(b) for b in behaviours] or None})


# -- as a process ----------------------------------------------------------------------------


async def _serve(service: FakePushService) -> None:
    await service._open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"READY {service.origin}", flush=True)
    try:
        await stop.wait()
    finally:
        await service._close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fakepush", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--verify-every", type=int, default=1, help="fully verify one request in N (default 1)"
    )
    parser.add_argument("--expected-vapid-key", default=None, help="the only VAPID key accepted")
    args = parser.parse_args(argv)
    if os.environ.get("TEST_CLOCK"):  # started by a test run at a set instant: keep its time
        from server.clock import server_clock
        from tests.support import clock

        at = server_clock(os.environ["TEST_CLOCK"])()  # the test's time at this moment
        clock.travel(clock.Instant("TEST_CLOCK", at, "UTC", "the time of the test run"))
    service = FakePushService(
        port=args.port,
        verify_every=args.verify_every,
        expected_vapid_key=args.expected_vapid_key,
        record_deliveries=False,  # counters only: a long benchmark would fill memory
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(service))
    return 0


if __name__ == "__main__":
    sys.exit(main())
