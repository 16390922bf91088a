"""Web Push over one shared aiohttp session: encryption by pywebpush, VAPID header cached.

``send`` never raises for what a push service or the network does; it returns an ``Outcome``
that the dispatcher turns into the reminder's next state.
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
    def retryable(self) -> bool:
        """Worth another try later: the service is busy or down, or the network failed."""
        if self.status_code is None:
            return self.error in ("timeout", "connection")
        return self.status_code == 429 or self.status_code >= 500


def origin_of(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class PushSender:
    def __init__(self, signer: VapidSigner, timeout: float, connections: int) -> None:
        self.signer = signer
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

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
        headers = {
            "Authorization": self.signer.authorization(origin_of(endpoint), now),
            "Urgency": "high",
        }
        if topic:
            headers["Topic"] = topic[:TOPIC_MAX]
        started = time.perf_counter()
        try:
            pusher = WebPusher(
                {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
                aiohttp_session=self._session,
            )
            response = await pusher.send_async(
                data,
                headers=headers,
                ttl=ttl,
                content_encoding="aes128gcm",
                timeout=self.timeout,
            )
        except TimeoutError:
            return Outcome(error="timeout", duration_ms=_since(started))
        except (aiohttp.ClientError, OSError):
            return Outcome(error="connection", duration_ms=_since(started))
        except asyncio.CancelledError:
            raise
        except Exception:  # keys that pywebpush cannot use: this subscription cannot work
            return Outcome(error="invalid_subscription", duration_ms=_since(started))
        assert isinstance(response, aiohttp.ClientResponse)
        return Outcome(
            status_code=response.status,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
            duration_ms=_since(started),
        )


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
