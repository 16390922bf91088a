"""Attempt counting in PostgreSQL, so a limit holds across any number of server processes.

Fixed windows: each attempt is counted before it is tried, in the client's bucket and in the
global one, and refunded if it succeeded. Counting first means a burst of parallel guesses
cannot slip past the limit between a check and an increment.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import msgspec

from server.db import Connection, q


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
    buckets = [f"{scope}:client:{client}", f"{scope}:global"]
    rows = await conn.fetch(q("throttle.hit"), buckets, start)
    hits = {row["bucket"]: row["hits"] for row in rows}
    allowed = hits[buckets[0]] <= limit.per_client and hits[buckets[1]] <= limit.global_
    end = start + timedelta(seconds=limit.window_seconds)
    retry_after = max(1, int((end - now).total_seconds() + 0.999))
    if hits[buckets[0]] == 1 and hits[buckets[1]] == 1:
        # First attempt of a new window anywhere: drop the counters of old windows.
        await conn.execute(q("throttle.purge"), start - timedelta(days=1))
    return Verdict(allowed, retry_after, start, buckets)


async def refund(conn: Connection, verdict: Verdict) -> None:
    await conn.execute(q("throttle.refund"), verdict.buckets, verdict.window_start)
