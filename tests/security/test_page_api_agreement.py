"""A protected action served both as a dashboard page and through the JSON API is allowed and
refused alike: asked by the same coordinator, the page and the API give the same answer.

The actions come from the app's own route table: every staff handler carries its sign-in guard
(``staff_page`` or ``staff_api``) and one action guard (server/auth/actions.py), and the handlers
that share an action are that action's page and API. For each action served both ways, a
coordinator and an admin of the clinic ask every handler of it (the page with the session and
its form's CSRF token; the API with the session and the X-CSRF-Token header, and with an API
token); each answer must be what the action allows that role. A change without the CSRF token
is refused on both sides. The action guards run before a body is read, so a refusal is a 403
whatever the body; the sample bodies below make the allowed requests real changes.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar.routes import HTTPRoute

from server import db
from server.app import create_app
from server.auth.actions import Action
from server.auth.guards import staff_api, staff_page
from server.auth.schemas import Role
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import client_ip, make_clinic, make_coordinator, make_patient
from tests.support.live import ServerProcess
from tests.support.staff import make_staff, signed_in

Surface = Literal["page", "api"]


@dataclass(frozen=True)
class Handler:
    surface: Surface
    action: Action
    method: str
    path: str


@cache
def staff_handlers() -> list[Handler]:
    """Every staff handler of the app, with its surface and its action."""
    app = create_app(Settings(), "postgresql://unused@127.0.0.1/unused")
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"}:
                continue  # Litestar's own, answering which methods the path takes
            guards = handler.resolve_guards()
            surface: Surface | None = (
                "page" if staff_page in guards else "api" if staff_api in guards else None
            )
            if surface is None:
                continue
            actions = [guard for guard in guards if isinstance(guard, Action)]
            assert len(actions) == 1, f"{route.path}: one action guard, not {actions}"
            for method in sorted(handler.http_methods):
                found.append(Handler(surface, actions[0], method, route.path))
    return found


def served_both_ways() -> dict[str, list[Handler]]:
    by_action: dict[str, list[Handler]] = defaultdict(list)
    for handler in staff_handlers():
        by_action[handler.action.name].append(handler)
    return {
        name: handlers
        for name, handlers in sorted(by_action.items())
        if {h.surface for h in handlers} == {"page", "api"}
    }


def test_every_staff_handler_names_its_action() -> None:
    app = create_app(Settings(), "postgresql://unused@127.0.0.1/unused")
    guarded = {(h.method, h.path) for h in staff_handlers()}
    api = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/coordinator")
        for method in route.methods - {"HEAD", "OPTIONS"}
    }
    assert api - guarded == set(), "coordinator API handlers without the staff guards"
    both = served_both_ways()
    # The actions this test exists for: a page and an API that once disagreed.
    assert {"protocol.read", "protocol.change", "alert.acknowledge"} <= both.keys()


def _samples(surface: Surface) -> dict[str, dict[str, Any]]:
    """Bodies that make an allowed request a real change, by action (an action missing here is
    still asked: its guard answers before the body is read)."""
    at = now() + timedelta(days=5)
    if surface == "page":
        local = at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%dT%H:%M")
        return {
            "patient.settings": {"language": "es"},
            "patient.discharge": {"confirm": "yes"},
            "infusion.schedule": {"scheduled_at": local},
            "infusion.change": {"action": "cancelled"},
            "alert.acknowledge": {"note": "Called the patient"},
            "protocol.change": {"nudge_after_minutes": "95"},
        }
    return {
        "patient.settings": {"language": "es"},
        "infusion.schedule": {"scheduled_at": at.isoformat()},
        "infusion.change": {"status": "cancelled"},
        "alert.acknowledge": {"note": "Called the patient"},
        "protocol.change": {"nudge_after_minutes": 95},
    }


@dataclass
class Staff:
    role: Role
    browser: httpx.AsyncClient  # signed in: the session cookie
    csrf: str
    token: str  # an API token of a coordinator with the same role


@dataclass
class World:
    clinic_id: uuid.UUID
    staff: list[Staff]
    colleague_id: uuid.UUID


@pytest.fixture(scope="module")
async def world(pool: db.Pool, server: ServerProcess) -> AsyncIterator[World]:
    clinic = await make_clinic(pool)
    colleague = await make_staff(pool, clinic.id)
    colleague_id = await pool.fetchval("select id from coordinator where email = $1", colleague)
    roles: tuple[Role, Role] = ("coordinator", "admin")
    staff = []
    async with (
        httpx.AsyncClient(base_url=server.url, headers={"X-Forwarded-For": client_ip()}) as one,
        httpx.AsyncClient(base_url=server.url, headers={"X-Forwarded-For": client_ip()}) as two,
    ):
        for role, browser in zip(roles, (one, two), strict=True):
            csrf = await signed_in(browser, await make_staff(pool, clinic.id, role))
            token = await make_coordinator(pool, clinic.id, role)
            staff.append(Staff(role, browser, csrf, token))
        yield World(clinic.id, staff, colleague_id)


async def _records(pool: db.Pool, settings: Settings, w: World) -> dict[str, uuid.UUID]:
    """A patient of the clinic with an open alert and a scheduled infusion: fresh for each
    action, so one action's change does not decide another's answer."""
    created = await make_patient(pool, settings, w.clinic_id)
    alert_id = await pool.fetchval(
        "insert into alert (patient_id, kind, raised_at) values ($1, 'pain_high', $2) returning id",
        created.patient_id,
        now(),
    )
    session_id = await pool.fetchval(
        "insert into infusion_session (patient_id, scheduled_at, status)"
        " values ($1, $2::timestamptz + interval '3 days', 'scheduled') returning id",
        created.patient_id,
        now(),
    )
    return {
        "patient_id": created.patient_id,
        "alert_id": alert_id,
        "session_id": session_id,
        "coordinator_id": w.colleague_id,
    }


def _url(path: str, ids: dict[str, uuid.UUID]) -> str:
    def fill(match: re.Match[str]) -> str:
        assert match.group(1) in ids, f"no record to put in {match.group(0)} of {path}"
        return str(ids[match.group(1)])

    return re.sub(r"\{(\w+):\w+\}", fill, path)


Credential = Literal["session", "token", "session without CSRF"]


async def _ask(
    http: httpx.AsyncClient,
    handler: Handler,
    staff: Staff,
    credential: Credential,
    ids: dict[str, uuid.UUID],
) -> httpx.Response:
    url = _url(handler.path, ids)
    sample = _samples(handler.surface).get(handler.action.name)
    with_csrf = credential != "session without CSRF"
    if handler.surface == "page":
        if handler.method == "GET":
            return await staff.browser.get(url)
        form = (sample or {}) | ({"csrf_token": staff.csrf} if with_csrf else {})
        return await staff.browser.post(url, data=form)
    body = sample if handler.method != "GET" else None
    if credential == "token":
        headers = {"Authorization": f"Bearer {staff.token}"}
        return await http.request(handler.method, url, json=body, headers=headers)
    headers = {"X-CSRF-Token": staff.csrf} if with_csrf else {}
    return await staff.browser.request(handler.method, url, json=body, headers=headers)


def _verdict(response: httpx.Response) -> str:
    """Refused (403), served, or what else happened (not signed in, a failure)."""
    status = response.status_code
    if status == 403:
        return "refused"
    if status == 401 or response.headers.get("location", "").startswith("/coordinator/sign-in"):
        return "not signed in"
    # Done, or a 409 because an earlier request of the test already did it (discharged,
    # acknowledged, cancelled), or the patient has no phone to nudge.
    if status < 400 or status == 409:
        return "served"
    return f"answered {status}"


@pytest.mark.parametrize("action", sorted(served_both_ways()))
async def test_page_and_api_agree(
    action: str, world: World, pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    handlers = served_both_ways()[action]
    ids = await _records(pool, settings, world)
    for staff in world.staff:
        expected = "served" if handlers[0].action.allows(staff.role) else "refused"
        for handler in handlers:
            credentials: list[Credential] = ["session"]
            if handler.surface == "api":
                credentials.append("token")
            for credential in credentials:
                response = await _ask(http, handler, staff, credential, ids)
                asked = f"{staff.role}: {handler.method} {handler.path} ({credential})"
                assert _verdict(response) == expected, (asked, response.status_code, response.text)
            if handler.method != "GET":
                response = await _ask(http, handler, staff, "session without CSRF", ids)
                asked = f"{staff.role}: {handler.method} {handler.path} (no CSRF token)"
                assert _verdict(response) == "refused", (asked, response.status_code)


async def test_which_methods_a_path_takes_needs_no_sign_in(http: httpx.AsyncClient) -> None:
    """OPTIONS passes the sign-in guards: it tells the methods, never anyone's data."""
    for path in sorted({h.path for h in staff_handlers()}):
        url = _url(
            path,
            dict.fromkeys(("patient_id", "alert_id", "session_id", "coordinator_id"), uuid.uuid4()),
        )
        response = await http.options(url)
        assert response.status_code == 204 and "OPTIONS" in response.headers["allow"], path
