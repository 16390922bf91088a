"""Access control matrix: every endpoint of the app against every kind of wrong caller.

The endpoints come from the app's own route table, so an endpoint added without a row in
MATRIX fails `test_every_route_has_a_matrix_entry`. For each protected endpoint the wrong
callers are: another patient, another clinic's admin (API token, and session cookie with its
CSRF token), a revoked device, a disabled coordinator's token, a revoked API token, an idle
(expired) and a signed-out staff session, a patient's device token where staff are expected,
and no credentials at all. The contract (DESIGN.md, rule 7 and the HTTP contract): another's
record answers 404, missing or invalid credentials 401, a dashboard page without a session
redirects to the sign-in page; nothing of the clinic's data changes and no read is audited.
Then the rightful caller makes the same requests and is not refused, so a 404 above means
"not yours", not "no such URL".
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
import pytest

from server import db
from server.app import create_app
from server.auth.tokens import sha256
from server.clinics import service as clinics
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import (
    checkin_body,
    client_ip,
    enroll,
    make_clinic,
    make_patient,
    open_window_now,
)
from tests.support.fakepush import FakePushService, Subscriber
from tests.support.live import ServerProcess
from tests.support.staff import hidden, make_staff, sign_in

# public: anyone; patient: a device; staff: the coordinator JSON API; page: dashboard HTML.
Kind = Literal["public", "patient", "staff", "page"]
# record: the path names one of a clinic's records (another clinic's caller gets 404);
# clinic: the caller's own clinic (another clinic's caller is served, but only its own data);
# own: the patient's own data, with no id in the path; stream: an event stream (not read).
Scope = Literal["record", "clinic", "own", "stream", "none"]


@dataclass(frozen=True)
class Entry:
    kind: Kind
    scope: Scope = "none"
    body: Callable[[World], Any] | None = None
    # Another patient naming this patient's record: 404, or 422 for an id in a body field
    # (the same answer as for an id that does not exist).
    other_status: int = 404
    last: int = 0  # ends the rightful caller's device (1) or the patient (2): checked at the end


def _p(w: World) -> str:
    return str(w.patient_id)


MATRIX: dict[tuple[str, str], Entry] = {
    # Public: no credentials, no patient data.
    ("GET", "/healthz"): Entry("public"),
    ("GET", "/readyz"): Entry("public"),
    ("POST", "/api/enroll"): Entry("public"),
    ("GET", "/api/push/public-key"): Entry("public"),
    ("GET", "/app"): Entry("public"),
    ("GET", "/app/enroll"): Entry("public"),
    ("GET", "/app/{file_path:path}"): Entry("public"),
    ("GET", "/coordinator"): Entry("public"),
    ("GET", "/coordinator/sign-in"): Entry("public"),
    ("POST", "/coordinator/sign-in"): Entry("public"),
    ("POST", "/coordinator/sign-out"): Entry("public"),
    ("GET", "/coordinator/static/{file_path:path}"): Entry("public"),
    ("GET", "/schema"): Entry("public"),
    ("GET", "/schema/elements"): Entry("public"),
    ("GET", "/schema/oauth2-redirect.html"): Entry("public"),
    ("GET", "/schema/openapi.json"): Entry("public"),
    ("GET", "/schema/openapi.yaml"): Entry("public"),
    ("GET", "/schema/openapi.yml"): Entry("public"),
    ("GET", "/schema/rapidoc"): Entry("public"),
    ("GET", "/schema/redoc"): Entry("public"),
    ("GET", "/schema/swagger"): Entry("public"),
    ("GET", "/schema/{path:str}"): Entry("public"),
    # Patient API: the device's own data; ids in a body must be the patient's own.
    ("GET", "/api/me"): Entry("patient", "own"),
    ("PATCH", "/api/me"): Entry("patient", "own", lambda w: {"language": "es"}),
    ("GET", "/api/checkins"): Entry("patient", "own"),
    ("POST", "/api/checkins"): Entry(
        "patient", "record", lambda w: checkin_body(due_id=str(w.window_id)), other_status=422
    ),
    ("GET", "/api/checkins/due"): Entry("patient", "own"),
    ("GET", "/api/checkins/trend"): Entry("patient", "own"),
    ("PUT", "/api/push/subscription"): Entry("patient", "own", lambda w: w.subscription),
    ("DELETE", "/api/push/subscription"): Entry("patient", "own"),
    ("POST", "/api/push/opened"): Entry(
        "patient", "record", lambda w: {"reminder_id": str(w.reminder_id)}
    ),
    ("POST", "/api/logout"): Entry("patient", "own", last=1),
    # Coordinator JSON API.
    ("GET", "/api/coordinator/patients"): Entry("staff", "clinic"),
    ("POST", "/api/coordinator/patients"): Entry(
        "staff",
        "clinic",
        lambda w: {"display_name": "New", "timezone": "Europe/Paris", "condition": "crps"},
    ),
    ("GET", "/api/coordinator/patients/{patient_id:uuid}"): Entry("staff", "record"),
    ("PATCH", "/api/coordinator/patients/{patient_id:uuid}"): Entry(
        "staff", "record", lambda w: {"language": "es"}
    ),
    ("GET", "/api/coordinator/patients/{patient_id:uuid}/checkins"): Entry("staff", "record"),
    ("GET", "/api/coordinator/patients/{patient_id:uuid}/fhir"): Entry("staff", "record"),
    ("GET", "/api/coordinator/patients/{patient_id:uuid}/trend"): Entry("staff", "record"),
    ("GET", "/api/coordinator/patients/{patient_id:uuid}/windows"): Entry("staff", "record"),
    ("GET", "/api/coordinator/patients/{patient_id:uuid}/infusions"): Entry("staff", "record"),
    ("POST", "/api/coordinator/patients/{patient_id:uuid}/infusions"): Entry(
        "staff", "record", lambda w: {"scheduled_at": w.future.isoformat()}
    ),
    ("PATCH", "/api/coordinator/patients/{patient_id:uuid}/infusions/{session_id:uuid}"): Entry(
        "staff", "record", lambda w: {"status": "cancelled"}
    ),
    ("POST", "/api/coordinator/patients/{patient_id:uuid}/nudge"): Entry("staff", "record"),
    ("POST", "/api/coordinator/patients/{patient_id:uuid}/enrollment-code"): Entry(
        "staff", "record"
    ),
    ("POST", "/api/coordinator/patients/{patient_id:uuid}/discharge"): Entry(
        "staff", "record", last=2
    ),
    ("GET", "/api/coordinator/alerts"): Entry("staff", "clinic"),
    ("POST", "/api/coordinator/alerts/{alert_id:uuid}/acknowledge"): Entry(
        "staff", "record", lambda w: {"note": "Called the patient"}
    ),
    ("GET", "/api/coordinator/export.csv"): Entry("staff", "clinic"),
    ("GET", "/api/coordinator/clinic/protocol"): Entry("staff", "clinic"),
    ("PATCH", "/api/coordinator/clinic/protocol"): Entry(
        "staff", "clinic", lambda w: {"nudge_after_minutes": 95}
    ),
    # Dashboard pages (session cookie; forms carry the CSRF token).
    ("GET", "/coordinator/board"): Entry("page", "clinic"),
    ("GET", "/coordinator/board/events"): Entry("page", "stream"),
    ("GET", "/coordinator/patients"): Entry("page", "clinic"),
    ("GET", "/coordinator/patients/{patient_id:uuid}"): Entry("page", "record"),
    ("POST", "/coordinator/patients/{patient_id:uuid}/nudge"): Entry("page", "record"),
    ("POST", "/coordinator/patients/{patient_id:uuid}/infusions"): Entry(
        "page", "record", lambda w: {"scheduled_at": w.future.strftime("%Y-%m-%dT%H:%M")}
    ),
    ("POST", "/coordinator/patients/{patient_id:uuid}/infusions/{session_id:uuid}"): Entry(
        "page", "record", lambda w: {"action": "cancelled"}
    ),
    ("POST", "/coordinator/patients/{patient_id:uuid}/settings"): Entry(
        "page", "record", lambda w: {"language": "es"}
    ),
    ("POST", "/coordinator/patients/{patient_id:uuid}/enrollment-code"): Entry("page", "record"),
    ("POST", "/coordinator/patients/{patient_id:uuid}/discharge"): Entry(
        "page", "record", lambda w: {"confirm": "yes"}, last=2
    ),
    ("POST", "/coordinator/alerts/{alert_id:uuid}/acknowledge"): Entry(
        "page", "record", lambda w: {"note": "Called the patient"}
    ),
    ("GET", "/coordinator/staff"): Entry("page", "clinic"),
    ("POST", "/coordinator/staff"): Entry(
        "page",
        "clinic",
        lambda w: {
            "email": f"n-{secrets.token_hex(4)}@clinic.test",
            "display_name": "New",
            "role": "coordinator",
            "password": "a long enough password",
        },
    ),
    ("POST", "/coordinator/staff/{coordinator_id:uuid}"): Entry(
        "page", "record", lambda w: {"action": "disable"}
    ),
    ("GET", "/coordinator/protocol"): Entry("page", "clinic"),
    ("POST", "/coordinator/protocol"): Entry(
        "page", "clinic", lambda w: {"nudge_after_minutes": "95"}
    ),
    ("GET", "/coordinator/audit"): Entry("page", "clinic"),
}

# Paths of public entries that take a parameter: a real file to ask for.
PUBLIC_PATHS = {
    "/app/{file_path:path}": "/app/index.html",
    "/coordinator/static/{file_path:path}": "/coordinator/static/dashboard.css",
    "/schema/{path:str}": "/schema/openapi.json",
}


def route_table() -> set[tuple[str, str]]:
    """Every (method, path) the app serves, as its router sees them."""
    app = create_app(Settings(), "postgresql://unused@127.0.0.1/unused")
    return {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_route_has_a_matrix_entry() -> None:
    routes = route_table()
    assert routes - MATRIX.keys() == set(), "add these endpoints to the access matrix"
    assert MATRIX.keys() - routes == set(), "these matrix entries match no endpoint"


# --- the world: clinic A (whose records are asked for) and clinic B --------------------------


@dataclass
class Caller:
    """Credentials as a client sends them: headers, plus the CSRF token forms carry."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    csrf: str | None = None


@dataclass
class World:
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    marker: str  # the patient's name: must never reach a wrong caller
    window_id: uuid.UUID
    checkin_id: str
    alert_id: uuid.UUID
    session_id: uuid.UUID
    reminder_id: uuid.UUID
    colleague_id: uuid.UUID
    future: datetime
    subscription: dict[str, Any]
    owner_patient: Caller
    owner_staff_api: Caller
    owner_staff_session: Caller
    wrong_patient: list[Caller]
    wrong_staff: list[Caller]
    other_clinic_api: Caller
    other_clinic_session: Caller
    other_patient: Caller


def _cookie(name: str, value: str) -> dict[str, str]:
    return {"Cookie": f"{name}={value}", "X-Forwarded-For": client_ip()}


async def _session(server: ServerProcess, email: str) -> tuple[str, str]:
    """Sign in with the form; returns the session cookie's value and its CSRF token."""
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-Forwarded-For": client_ip()}
    ) as browser:
        assert (await sign_in(browser, email)).status_code == 302
        board = await browser.get("/coordinator/board")
        return browser.cookies["checkin_staff"], hidden(board.text, "csrf_token")


def _session_caller(name: str, cookie: str, csrf: str) -> Caller:
    headers = _cookie("checkin_staff", cookie) | {"X-CSRF-Token": csrf}
    return Caller(name, headers, csrf)


async def _build(
    pool: db.Pool,
    settings: Settings,
    http: httpx.AsyncClient,
    server: ServerProcess,
    push_service: FakePushService,
) -> World:
    clinic, other = await make_clinic(pool), await make_clinic(pool)
    marker = f"Zed{secrets.token_hex(4)}"
    # The patient's reminders fall due hours from now, so no background work changes the
    # clinic's rows while the matrix runs.
    local = (now() + timedelta(hours=6)).astimezone(ZoneInfo("America/New_York"))
    created = await make_patient(
        pool, settings, clinic.id, display_name=marker, reminder_time=local.strftime("%H:%M")
    )
    device = await enroll(http, created.enrollment_code)
    owner_patient = Caller("owner device", {"Authorization": f"Bearer {device}"})
    window_id = await open_window_now(pool, created.patient_id)
    body = checkin_body(due_id=str(window_id))
    stored = await http.post("/api/checkins", json=body, headers=owner_patient.headers)
    assert stored.status_code == 201, stored.text
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
    reminder_id = await pool.fetchval(
        "insert into reminder (patient_id, kind, send_at, expires_at, status, sent_at)"
        " values ($1, 'manual', $2, $2::timestamptz + interval '1 hour', 'sent', $2) returning id",
        created.patient_id,
        now(),
    )
    # Clinic A's staff: the owner (API token and session), and the wrong ways in.
    owner_email = await make_staff(pool, clinic.id, "admin")
    owner_token = await _api_token(pool, owner_email)
    owner_cookie, owner_csrf = await _session(server, owner_email)
    colleague_email = await make_staff(pool, clinic.id)
    colleague_id = await pool.fetchval(
        "select id from coordinator where email = $1", colleague_email
    )
    revoked_token = await _api_token(pool, colleague_email)
    await pool.execute(
        "update coordinator_token set revoked_at = $2 where token_hash = $1",
        sha256(revoked_token),
        now(),
    )
    disabled_email = await make_staff(pool, clinic.id, "admin")
    disabled_token = await _api_token(pool, disabled_email)
    await pool.execute(
        "update coordinator set disabled_at = $2 where email = $1", disabled_email, now()
    )
    idle_email = await make_staff(pool, clinic.id, "admin")
    idle_cookie, idle_csrf = await _session(server, idle_email)
    await pool.execute(
        "update staff_session set last_seen_at = $2::timestamptz - interval '31 minutes'"
        " where id_hash = $1",
        sha256(idle_cookie),
        now(),
    )
    ended_cookie, ended_csrf = await _session(server, owner_email)
    await pool.execute(
        "update staff_session set ended_at = $2 where id_hash = $1", sha256(ended_cookie), now()
    )
    # A revoked device (its patient signed out) and another patient of the same clinic.
    gone = await make_patient(pool, settings, clinic.id)
    gone_device = await enroll(http, gone.enrollment_code)
    assert (
        await http.post("/api/logout", headers={"Authorization": f"Bearer {gone_device}"})
    ).status_code == 204
    neighbour = await make_patient(pool, settings, clinic.id)
    neighbour_device = await enroll(http, neighbour.enrollment_code)
    # Clinic B's admin: every power, in another clinic.
    other_email = await make_staff(pool, other.id, "admin")
    other_cookie, other_csrf = await _session(server, other_email)
    other_api = Caller(
        "other clinic's admin, API token",
        {"Authorization": f"Bearer {await _api_token(pool, other_email)}"},
    )
    other_session = _session_caller("other clinic's admin, session", other_cookie, other_csrf)
    no_one = Caller("no credentials", {})
    revoked_device = Caller("revoked device", {"Authorization": f"Bearer {gone_device}"})
    revoked_device_cookie = Caller("revoked device, cookie", _cookie("checkin_device", gone_device))
    staff_token = Caller("coordinator's API token", {"Authorization": f"Bearer {owner_token}"})
    wrong_staff = [
        no_one,
        Caller("revoked API token", {"Authorization": f"Bearer {revoked_token}"}),
        Caller("disabled coordinator's token", {"Authorization": f"Bearer {disabled_token}"}),
        _session_caller("idle session", idle_cookie, idle_csrf),
        _session_caller("signed-out session", ended_cookie, ended_csrf),
        Caller("patient's device token", owner_patient.headers),
        revoked_device,
        Caller("made-up token", {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}),
    ]
    return World(
        clinic_id=clinic.id,
        patient_id=created.patient_id,
        marker=marker,
        window_id=window_id,
        checkin_id=body["id"],
        alert_id=alert_id,
        session_id=session_id,
        reminder_id=reminder_id,
        colleague_id=colleague_id,
        future=now() + timedelta(days=5),
        subscription=Subscriber.create(
            f"{push_service.origin}/push/{secrets.token_hex(8)}"
        ).subscription_info(),
        owner_patient=owner_patient,
        owner_staff_api=Caller("owner, API token", {"Authorization": f"Bearer {owner_token}"}),
        owner_staff_session=_session_caller("owner, session", owner_cookie, owner_csrf),
        wrong_patient=[no_one, revoked_device, revoked_device_cookie, staff_token]
        + [c for c in wrong_staff if "session" in c.name],
        wrong_staff=wrong_staff,
        other_clinic_api=other_api,
        other_clinic_session=other_session,
        other_patient=Caller("another patient", {"Authorization": f"Bearer {neighbour_device}"}),
    )


async def _api_token(pool: db.Pool, email: str) -> str:
    async with pool.acquire() as conn:
        issued = await clinics.issue_api_token(conn, email, "matrix", now=now())
    return issued.token


# Clinic A's rows, with the columns that only record use (last seen, plans extended) left out.
SNAPSHOT = """
select md5(coalesce(string_agg(r, '|' order by r), '')) from (
  select to_jsonb(c)::text r from clinic c where id = $1
  union all select (to_jsonb(c) - 'last_sign_in_at')::text from coordinator c where clinic_id = $1
  union all select (to_jsonb(p) - 'planned_until')::text from patient p where clinic_id = $1
  union all select (to_jsonb(x) - 'last_seen_at')::text from device x
    join patient p on p.id = x.patient_id where p.clinic_id = $1
  union all select to_jsonb(x)::text from checkin x
    join patient p on p.id = x.patient_id where p.clinic_id = $1
  union all select to_jsonb(x)::text from checkin_due x
    join patient p on p.id = x.patient_id where p.clinic_id = $1
  union all select to_jsonb(x)::text from alert x
    join patient p on p.id = x.patient_id where p.clinic_id = $1
  union all select to_jsonb(x)::text from infusion_session x
    join patient p on p.id = x.patient_id where p.clinic_id = $1
  union all select to_jsonb(x)::text from reminder x
    join patient p on p.id = x.patient_id where p.clinic_id = $1
  union all select to_jsonb(x)::text from push_subscription x
    join patient p on p.id = x.patient_id where p.clinic_id = $1
  union all select to_jsonb(x)::text from enrollment_code x
    join patient p on p.id = x.patient_id where p.clinic_id = $1
  union all select to_jsonb(a)::text from audit_event a
    where a.clinic_id = $1 and a.action not like 'staff.sign_in%'
) t
"""


def _url(path: str, w: World) -> str:
    if path in PUBLIC_PATHS:
        return PUBLIC_PATHS[path]
    return (
        path.replace("{patient_id:uuid}", _p(w))
        .replace("{alert_id:uuid}", str(w.alert_id))
        .replace("{session_id:uuid}", str(w.session_id))
        .replace("{coordinator_id:uuid}", str(w.colleague_id))
    )


Send = Callable[[str, str, Entry, Caller], Awaitable[httpx.Response]]


def _sender(http: httpx.AsyncClient, w: World) -> Send:
    async def send(method: str, path: str, entry: Entry, caller: Caller) -> httpx.Response:
        url = _url(path, w)
        body = entry.body(w) if entry.body else None
        if entry.kind == "page":
            if method == "GET":
                return await http.get(url, headers=caller.headers)
            form = (body or {}) | {"csrf_token": caller.csrf or "", "back": "/coordinator/board"}
            return await http.post(url, data=form, headers=caller.headers)
        return await http.request(method, url, json=body, headers=caller.headers)

    return send


def _to_sign_in(response: httpx.Response) -> bool:
    return response.status_code == 302 and response.headers["location"].startswith(
        "/coordinator/sign-in?next="
    )


@pytest.fixture(scope="module")
async def world(
    pool: db.Pool,
    settings: Settings,
    http: httpx.AsyncClient,
    server: ServerProcess,
    push_service: FakePushService,
) -> World:
    return await _build(pool, settings, http, server, push_service)


async def test_wrong_callers_are_refused_and_change_nothing(
    world: World, pool: db.Pool, http: httpx.AsyncClient
) -> None:
    w, send = world, _sender(http, world)
    before = await pool.fetchval(SNAPSHOT, w.clinic_id)
    failures: list[str] = []

    def expect(ok: bool, method: str, path: str, caller: Caller, r: httpx.Response) -> None:
        if not ok:
            failures.append(f"{method} {path} as {caller.name}: {r.status_code} {r.text[:120]}")

    for (method, path), entry in sorted(MATRIX.items()):
        if entry.kind == "public":
            continue
        if entry.kind == "patient":
            for caller in w.wrong_patient:
                r = await send(method, path, entry, caller)
                expect(r.status_code == 401, method, path, caller, r)
            if entry.scope == "record":
                # The other patient names this patient's window or reminder.
                r = await send(method, path, entry, w.other_patient)
                expect(r.status_code == entry.other_status, method, path, w.other_patient, r)
                made_up = World(
                    **vars(w) | {"window_id": uuid.uuid4(), "reminder_id": uuid.uuid4()}
                )
                nowhere = await _sender(http, made_up)(method, path, entry, w.other_patient)
                same = (nowhere.status_code, nowhere.json()) == (r.status_code, r.json())
                expect(same, method, path, w.other_patient, r)
            elif method == "GET":
                r = await send(method, path, entry, w.other_patient)
                leaked = w.marker in r.text or w.checkin_id in r.text or _p(w) in r.text
                expect(r.status_code == 200 and not leaked, method, path, w.other_patient, r)
        elif entry.kind == "staff":
            for caller in w.wrong_staff:
                r = await send(method, path, entry, caller)
                expect(r.status_code == 401, method, path, caller, r)
            for caller in (w.other_clinic_api, w.other_clinic_session):
                r = await send(method, path, entry, caller)
                if entry.scope == "record":
                    ok = r.status_code == 404 and w.marker not in r.text
                else:  # served, but only the caller's own clinic
                    ok = r.status_code < 300 and w.marker not in r.text and _p(w) not in r.text
                expect(ok, method, path, caller, r)
        else:
            for caller in w.wrong_staff:
                if entry.scope == "stream":
                    async with http.stream(method, path, headers=caller.headers) as r:
                        expect(_to_sign_in(r), method, path, caller, r)
                    continue
                r = await send(method, path, entry, caller)
                expect(_to_sign_in(r), method, path, caller, r)
            caller = w.other_clinic_session
            if entry.scope == "stream":
                continue  # the other clinic's own board: its events are tested elsewhere
            r = await send(method, path, entry, caller)
            if entry.scope == "record":
                ok = r.status_code == 404 and w.marker not in r.text
            else:
                ok = r.status_code in (200, 302) and w.marker not in r.text
            expect(ok, method, path, caller, r)
    assert failures == []
    assert await pool.fetchval(SNAPSHOT, w.clinic_id) == before, "a refused request changed data"


async def test_rightful_callers_are_served(
    world: World, pool: db.Pool, http: httpx.AsyncClient
) -> None:
    """The same requests from the patient and the clinic's admin pass the access check (a
    business refusal like 409 or 422 is fine): the URLs and bodies above are real."""
    w, send = world, _sender(http, world)
    owners: dict[Kind, list[Caller]] = {
        "patient": [w.owner_patient],
        "staff": [w.owner_staff_api, w.owner_staff_session],
        "page": [w.owner_staff_session],
    }
    failures: list[str] = []
    entries = sorted(MATRIX.items(), key=lambda item: (item[1].last, item[0]))
    for (method, path), entry in entries:
        if entry.kind == "public":
            r = await http.request(method, _url(path, w), headers={"X-Forwarded-For": client_ip()})
            if r.status_code >= 400 and method == "GET":
                failures.append(f"{method} {path}: {r.status_code}")
            continue
        for caller in owners[entry.kind]:
            if entry.scope == "stream":
                async with http.stream(method, path, headers=caller.headers) as r:
                    ok = r.status_code == 200
            else:
                r = await send(method, path, entry, caller)
                ok = r.status_code in (200, 201, 202, 204, 409, 422) or (
                    r.status_code == 302 and not _to_sign_in(r)
                )
            if not ok:
                failures.append(f"{method} {path} as {caller.name}: {r.status_code}")
    assert failures == []
    reads = await pool.fetchval(
        "select count(*) from audit_event where patient_id = $1 and action = 'patient.read'",
        w.patient_id,
    )
    assert reads > 0  # the rightful reads were audited (and the refused ones were not)


async def test_no_one_raises_a_role_and_admins_keep_their_own(
    pool: db.Pool, http: httpx.AsyncClient, server: ServerProcess
) -> None:
    """A coordinator cannot make themselves or anyone an admin, through any write endpoint or
    form; an admin cannot demote or disable themselves (so a clinic keeps its admins)."""
    clinic = await make_clinic(pool)
    nurse_email = await make_staff(pool, clinic.id)
    colleague_email = await make_staff(pool, clinic.id)
    admin_email = await make_staff(pool, clinic.id, "admin")
    ids = {
        r["email"]: r["id"]
        for r in await pool.fetch(
            "select id, email from coordinator where clinic_id = $1", clinic.id
        )
    }
    roles_sql = (
        "select string_agg(email || ':' || role || ':' || (disabled_at is null)::text, ','"
        " order by email) from coordinator where clinic_id = $1"
    )
    before = await pool.fetchval(roles_sql, clinic.id)
    nurse = _session_caller("nurse", *(await _session(server, nurse_email)))
    nurse_token = Caller(
        "nurse, API token", {"Authorization": f"Bearer {await _api_token(pool, nurse_email)}"}
    )
    # Every staff form and JSON write, with role-raising fields added to what it takes.
    raise_role = {"role": "admin", "action": "admin"}
    for target in (ids[nurse_email], ids[colleague_email]):
        form = {"csrf_token": nurse.csrf, "action": "admin"}
        refused = await http.post(f"/coordinator/staff/{target}", data=form, headers=nurse.headers)
        assert refused.status_code == 403
    added = await http.post(
        "/coordinator/staff",
        data={"csrf_token": nurse.csrf, "email": "boss@clinic.test", "display_name": "Boss",
              "role": "admin", "password": "a long enough password"},
        headers=nurse.headers,
    )  # fmt: skip
    assert added.status_code == 403
    world_ids = {
        "{patient_id:uuid}": str(uuid.uuid4()),
        "{alert_id:uuid}": str(uuid.uuid4()),
        "{session_id:uuid}": str(uuid.uuid4()),
        "{coordinator_id:uuid}": str(ids[nurse_email]),
    }
    for (method, path), entry in MATRIX.items():
        if entry.kind not in ("staff", "page") or method == "GET":
            continue
        url = path
        for name, value in world_ids.items():
            url = url.replace(name, value)
        if entry.kind == "page":
            data = {"csrf_token": nurse.csrf or ""} | raise_role
            r = await http.post(url, data=data, headers=nurse.headers)
            assert r.status_code in (302, 403, 404, 409, 422), (path, r.status_code)
        else:
            for caller in (nurse, nurse_token):
                r = await http.request(method, url, json=raise_role, headers=caller.headers)
                assert r.status_code in (400, 403, 404, 422), (path, r.status_code)
    assert await pool.fetchval(roles_sql, clinic.id) == before

    admin = _session_caller("admin", *(await _session(server, admin_email)))
    for action in ("coordinator", "disable"):
        mine = await http.post(
            f"/coordinator/staff/{ids[admin_email]}",
            data={"csrf_token": admin.csrf, "action": action},
            headers=admin.headers,
        )
        assert mine.status_code == 409 and "yourself" in mine.text
    assert await pool.fetchval(roles_sql, clinic.id) == before
    # The form does work for an admin on a colleague: the refusals above are about who asks.
    promoted = await http.post(
        f"/coordinator/staff/{ids[colleague_email]}",
        data={"csrf_token": admin.csrf, "action": "admin"},
        headers=admin.headers,
    )
    assert promoted.status_code == 302
    role = await pool.fetchval(
        "select role::text from coordinator where email = $1", colleague_email
    )
    assert role == "admin"
