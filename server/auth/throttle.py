"""Attempt counting in PostgreSQL, so a limit holds across any number of server processes.

Fixed windows. Each attempt is counted before it is tried, so a burst of parallel guesses cannot
slip past a limit between a check and an increment; a success is refunded afterwards.

- Each client (an IPv4 address or an IPv6 /64) may fail ``per_client`` times a window. A client
  over its limit is refused without touching the global count, so one noisy client cannot spend
  everyone's budget.
- All clients together may fail ``global_`` times a window. Once that is spent, a client still
  gets its first try of the window, and no more: patients typing their own code are served while
  a distributed guesser gets one guess per address per window.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import msgspec

from server.db import Connection, Exec, Scalar

_hit = Scalar("throttle.hit", int)  # the bucket's count in the window, this one included
_refund = Exec("throttle.refund")
_purge = Exec("throttle.purge")


class Limit(msgspec.Struct, frozen=True):
    window_seconds: int
    per_client: int
    global_: int


class Verdict(msgspec.Struct, frozen=True):
    allowed: bool
    retry_after: int
    window_start: datetime
    buckets: list[str]


def client_key(host: str | None) -> str:
    """The unit a client is limited by: its IPv4 address or its IPv6 /64."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return (
        str(address.ipv4_mapped or address)
        if isinstance(address, ipaddress.IPv6Address)
        else str(address)
    )


def window_start(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


async def attempt(
    conn: Connection, scope: str, client: str, limit: Limit, now: datetime
) -> Verdict:
    start = window_start(now, limit.window_seconds)
    end = start + timedelta(seconds=limit.window_seconds)
    retry_after = max(1, int((end - now).total_seconds() + 0.999))
    client_bucket, global_bucket = f"{scope}:client:{client}", f"{scope}:global"
    client_hits = await _hit.required(conn, client_bucket, start)
    if client_hits > limit.per_client:
        return Verdict(False, retry_after, start, [client_bucket])
    global_hits = await _hit.required(conn, global_bucket, start)
    if global_hits == 1:
        # First attempt of a new window anywhere: drop the counters of old windows.
        await _purge(conn, start - timedelta(days=1))
    allowed = global_hits <= limit.global_ or client_hits == 1
    return Verdict(allowed, retry_after, start, [client_bucket, global_bucket])


async def refund(conn: Connection, verdict: Verdict) -> None:
    await _refund(conn, verdict.buckets, verdict.window_start)
