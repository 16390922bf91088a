"""A short-lived, per-process cache of device tokens, invalidated through PostgreSQL.

Every patient request must know whose device is asking. Looking the token up costs a database
round trip, half of what a check-in submission needs otherwise. Entries live ``ttl`` seconds at
most; a revoked device or discharged patient is evicted at once in every process through
LISTEN on ``checkin_device_changed`` (sent by triggers, whatever made the change). While the
listening connection is down, the cache is bypassed entirely.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from uuid import UUID

from server import db
from server.auth.schemas import PatientPrincipal

CHANNEL = "checkin_device_changed"
PROBE_EVERY = 20.0


class DeviceCache:
    def __init__(self, ttl: float = 60.0, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[PatientPrincipal, float]] = OrderedDict()
        self._generation = 0
        self.enabled = False  # only while we are listening for invalidations

    @property
    def generation(self) -> int:
        """Changes on every invalidation; a lookup that saw another one must not be cached."""
        return self._generation

    def get(self, token_hash: bytes) -> PatientPrincipal | None:
        if not self.enabled:
            return None
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        principal, expires = entry
        if expires < time.monotonic():
            del self._entries[token_hash]
            return None
        return principal

    def put(self, token_hash: bytes, principal: PatientPrincipal, generation: int) -> None:
        if not self.enabled or generation != self._generation:
            return
        self._entries[token_hash] = (principal, time.monotonic() + self.ttl)
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, payload: str) -> None:
        self._generation += 1
        kind, _, raw_id = payload.partition(":")
        try:
            target = UUID(raw_id)
        except ValueError:
            self.clear()
            return
        attribute = "patient_id" if kind == "patient" else "device_id"
        stale = [k for k, (p, _) in self._entries.items() if getattr(p, attribute) == target]
        for key in stale:
            del self._entries[key]

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    def _listening(self) -> None:
        self.clear()  # anything cached before we listened may be stale
        self.enabled = True

    def _lost(self) -> None:
        self.enabled = False
        self.clear()

    async def listen(self, dsn: str) -> None:
        """Invalidate from PostgreSQL for as long as the server runs; off while not listening."""
        await db.listen_forever(
            dsn,
            CHANNEL,
            self.invalidate,
            on_listening=self._listening,
            on_lost=self._lost,
            what="device cache",
            probe_every=PROBE_EVERY,
        )
