"""Phones for the fault tests: enrolled patients who post check-ins the way the patient app
does, keeping each one and sending it again (same id, same content) until the server stores
it, whatever the server or the network answers in between."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from server import db
from server.auth import store as auth_store
from server.auth.tokens import new_token
from server.clinics import service as clinics
from server.patients import service as patients
from server.patients.schemas import NewPatient
from server.settings import Settings
from tests.support.clock import now


async def seed_phones(url: str, count: int) -> list[tuple[uuid.UUID, str]]:
    """A clinic with ``count`` active patients, each with an enrolled device: (patient, token)."""
    at = now()
    phones: list[tuple[uuid.UUID, str]] = []
    async with db.connection(url) as conn:
        clinic = await clinics.create_clinic(conn, "Fault Clinic", "UTC", now=at)
        for i in range(count):
            created = await patients.create_patient(
                conn,
                Settings(),
                clinic.id,
                NewPatient(display_name=f"Phone {i}", timezone="Europe/Madrid"),
                actor_kind="operator",
                actor_id=None,
                now=at,
            )
            token, token_hash = new_token()
            await auth_store.insert_device(conn, created.patient_id, token_hash, at)
            phones.append((created.patient_id, token))
        await conn.execute("update patient set status = 'active'")
    return phones


@dataclass
class Fleet:
    """Phones posting check-ins at a steady rate; each check-in is retried until stored."""

    base_url: str
    phones: list[tuple[uuid.UUID, str]]
    interval: float = 0.1  # each phone makes a check-in this often
    made: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # check-in -> patient
    stored: dict[uuid.UUID, int] = field(default_factory=dict)  # check-in -> 201 or 200
    failures: Counter[str] = field(default_factory=Counter)  # what the failed attempts got
    retried: set[uuid.UUID] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)  # 4xx answers: a defect
    _making: bool = True
    _abandoned: bool = False

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=len(self.phones))
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5.0, limits=limits) as http:
            await asyncio.gather(*(self._phone(http, p, t) for p, t in self.phones))

    def stop_making(self) -> None:
        """No new check-ins; those not yet stored are still sent until they are."""
        self._making = False

    def abandon(self) -> None:
        """Stop at once, stored or not (a failed test's clean-up)."""
        self._making = False
        self._abandoned = True

    async def _phone(self, http: httpx.AsyncClient, patient: uuid.UUID, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        while self._making:
            started = time.monotonic()
            checkin = uuid.uuid4()
            self.made[checkin] = patient
            body = {
                "id": str(checkin),
                "answered_at": now().isoformat(),
                "answers": {"pain_now": 4, "pain_avg_24h": 5, "fatigue": 3, "sleep_quality": 6},
            }
            await self._send_until_stored(http, checkin, body, headers)
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def _send_until_stored(
        self,
        http: httpx.AsyncClient,
        checkin: uuid.UUID,
        body: dict[str, object],
        headers: dict[str, str],
    ) -> None:
        backoff = 0.1
        while not self._abandoned:
            try:
                response = await http.post("/api/checkins", json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.failures[type(exc).__name__] += 1
            else:
                if response.status_code in (200, 201):
                    self.stored[checkin] = response.status_code
                    return
                if response.status_code < 500:
                    self.unexpected.append(f"{response.status_code} {response.text[:200]}")
                    return
                retry_after = response.headers.get("retry-after")
                self.failures[f"{response.status_code} retry-after={retry_after}"] += 1
            self.retried.add(checkin)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)


@dataclass
class HealthWatch:
    """/healthz every 100 ms: (monotonic time, status or the error's name)."""

    base_url: str
    seen: list[tuple[float, int | str]] = field(default_factory=list)
    _running: bool = True

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=3.0) as http:
            while self._running:
                try:
                    status: int | str = (await http.get("/healthz")).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.seen.append((time.monotonic(), status))
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        self._running = False

    def between(self, start: float, end: float) -> list[int | str]:
        return [status for at, status in self.seen if start <= at <= end]
