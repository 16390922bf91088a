"""Web Push over one shared aiohttp session: pywebpush encrypts, the VAPID header is cached.

The message is encrypted with pywebpush's ``WebPusher.encode`` (RFC 8291, aes128gcm) and posted
here rather than through ``WebPusher.send_async``: that one decodes every answer body as text,
and a push service's error page in an odd charset would then look like a broken subscription.

``send`` never raises for what a subscription, a push service or the network does; it returns
an ``Outcome`` that the dispatcher turns into the reminder's next state.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp
import msgspec
from pywebpush import WebPusher

from server.reminders.vapid import VapidSigner

# Base64url, at most 32 characters (RFC 8030 section 5.4).
TOPIC_MAX = 32
# A Retry-After longer than this is not believed.
MAX_RETRY_AFTER = 3600.0


class Outcome(msgspec.Struct, frozen=True):
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    duration_ms: int = 0

    @property
    def accepted(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """The subscription no longer exists (or never could work): never send to it again."""
        return self.status_code in (404, 410) or self.error == "invalid_subscription"

    @property
    def result(self) -> str:
        """What the send came to, in a word (a label of the send metrics)."""
        if self.accepted:
            return "accepted"
        if self.gone:
            return "gone"
        return "retry" if self.retryable else "refused"

    @property
    def retryable(self) -> bool:
        """Worth another try later: the service is busy or down, or the network failed."""
        if self.status_code is None:
            return self.error in ("timeout", "connection", "not_sent")
        return self.status_code == 429 or self.status_code >= 500


def origin_of(endpoint: str) -> str:
    """The push service's origin, as its VAPID ``aud`` claim must name it."""
    parts = urlsplit(endpoint)
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), at most
    an hour; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value) if value.isascii() and value.isdigit() else None
        if seconds is None:
            seconds = parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError, OverflowError):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


class PushSender:
    channel = "web_push"

    def __init__(self, signer: VapidSigner, timeout: float, connections: int) -> None:
        self.signer = signer
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._encrypting = asyncio.Lock()

    async def __aenter__(self) -> PushSender:
        connector = aiohttp.TCPConnector(limit=self.connections, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        endpoint: str,
        p256dh: str,
        auth: str,
        data: bytes,
        *,
        ttl: int,
        topic: str | None,
        now: float,
    ) -> Outcome:
        assert self._session is not None, "use the sender as an async context manager"
        started = time.perf_counter()
        # One encryption per turn of the event loop (about 0.3 ms of CPU each): the sends a
        # batch starts together would otherwise all encrypt in the same turn, and every
        # check-in arriving meanwhile would wait for all of them. The lock is held across a
        # yield, so the next sender waits for the next turn (bench/push_outage.py).
        async with self._encrypting:
            try:
                pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
                body = pusher.encode(data, "aes128gcm")["body"]
                authorization = self.signer.authorization(origin_of(endpoint), now)
            except Exception:  # keys or an address pywebpush / py_vapid cannot use: never will
                return Outcome(error="invalid_subscription", duration_ms=_since(started))
            await asyncio.sleep(0)
        headers = {
            "Authorization": authorization,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(ttl),
            "Urgency": "high",
        }
        if topic:
            headers["Topic"] = topic[:TOPIC_MAX]
        try:
            async with self._session.post(endpoint, data=body, headers=headers) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
                await response.read()  # drain, so the connection is reused
        except TimeoutError:
            return Outcome(error="timeout", duration_ms=_since(started))
        except (aiohttp.ClientError, OSError, UnicodeError, ValueError):
            return Outcome(error="connection", duration_ms=_since(started))
        return Outcome(status_code=status, retry_after=retry_after, duration_ms=_since(started))


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
