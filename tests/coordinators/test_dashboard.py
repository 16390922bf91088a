"""The coordinator dashboard over HTTP: sign-in, sessions, lockout, CSRF, roles, security
headers, the board's order and contents, live updates, and the audit trail of reads."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support.factories import (
    add_window,
    checkin_body,
    client_ip,
    enroll,
    enrolled_patient,
    make_clinic,
    make_patient,
    now,
)
from tests.support.live import ServerProcess
from tests.support.staff import PASSWORD, hidden, make_staff, sign_in, signed_in

pytestmark = pytest.mark.dated


@pytest.fixture
async def browser_like(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps its cookies, from its own address, like one browser."""
    async with httpx.AsyncClient(
        base_url=server.url, timeout=20.0, headers={"X-Forwarded-For": client_ip()}
    ) as client:
        yield client


# --- sign-in, sessions, lockout -----------------------------------------------------------------


async def test_sign_in_board_and_sign_out(pool: db.Pool, browser_like: httpx.AsyncClient) -> None:
    clinic = await make_clinic(pool)
    email = await make_staff(pool, clinic.id)
    assert (
        (await browser_like.get("/coordinator/board"))
        .headers["location"]
        .startswith("/coordinator/sign-in?next=/coordinator/board")
    )
    response = await sign_in(browser_like, email.upper())  # emails are not case-sensitive
    assert response.status_code == 302 and response.headers["location"] == "/coordinator/board"
    cookie = response.headers["set-cookie"]
    assert "checkin_staff=" in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    token = browser_like.cookies["checkin_staff"]
    assert len(token) >= 43  # 256 bits, base64url
    stored = await pool.fetchrow(
        "select s.id_hash, s.client_addr from staff_session s join coordinator c"
        " on c.id = s.coordinator_id where c.email = $1",
        email,
    )
    assert stored["id_hash"] != token.encode() and len(stored["id_hash"]) == 32
    board = await browser_like.get("/coordinator/board")
    assert board.status_code == 200 and "Today’s board" in board.text
    csrf = hidden(board.text, "csrf_token")
    out = await browser_like.post("/coordinator/sign-out", data={"csrf_token": csrf})
    assert out.status_code == 302
    browser_like.cookies.set("checkin_staff", token)  # the old cookie no longer works
    assert (await browser_like.get("/coordinator/board")).status_code == 302


async def test_wrong_password_then_lockout(pool: db.Pool, browser_like: httpx.AsyncClient) -> None:
    clinic = await make_clinic(pool)
    email = await make_staff(pool, clinic.id)
    unknown = await sign_in(browser_like, "nobody@clinic.test")
    wrong = await sign_in(browser_like, email, "wrong password")
    assert unknown.status_code == wrong.status_code == 400
    # The same words whether the account exists or not.
    message = "The email or password is wrong."
    assert message in unknown.text and message in wrong.text
    for _ in range(4):
        await sign_in(browser_like, email, "wrong password")
    locked = await sign_in(browser_like, email)  # the right password, but locked
    assert locked.status_code == 400 and "checkin_staff" not in browser_like.cookies
    await pool.execute(
        "update coordinator set locked_until = $2::timestamptz - interval '1 second' where email = $1",
        email,
        now(),
    )
    assert (await sign_in(browser_like, email)).status_code == 302
    row = await pool.fetchrow(
        "select failed_logins, locked_until from coordinator where email = $1", email
    )
    assert (row["failed_logins"], row["locked_until"]) == (0, None)
    failures = await pool.fetchval(
        "select count(*) from audit_event e join coordinator c on c.id = e.actor_id"
        " where c.email = $1 and e.action = 'staff.sign_in_failed'",
        email,
    )
    assert failures == 6


async def test_sign_in_attempts_are_throttled_per_address(
    pool: db.Pool, server: ServerProcess
) -> None:
    clinic = await make_clinic(pool)
    email = await make_staff(pool, clinic.id)
    address = client_ip()
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-Forwarded-For": address}
    ) as client:
        answers = [
            (await sign_in(client, f"guess{i}@clinic.test", "x")).status_code for i in range(21)
        ]
        assert answers[:20] == [400] * 20 and answers[20] == 429
        refused = await sign_in(client, email)  # even the right password, from here
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-Forwarded-For": client_ip()}
    ) as elsewhere:
        assert (await sign_in(elsewhere, email)).status_code == 302


@pytest.mark.parametrize(
    ("column", "age"),
    [("last_seen_at", timedelta(minutes=31)), ("created_at", timedelta(hours=13))],
)
async def test_sessions_expire_idle_and_absolute(
    pool: db.Pool, browser_like: httpx.AsyncClient, column: str, age: timedelta
) -> None:
    clinic = await make_clinic(pool)
    email = await make_staff(pool, clinic.id)
    await signed_in(browser_like, email)
    await pool.execute(
        f"update staff_session s set {column} = $3::timestamptz - $2::interval,"
        " last_seen_at = least(s.last_seen_at, $3::timestamptz - $2::interval + interval '1 minute')"
        " from coordinator c where c.id = s.coordinator_id and c.email = $1"
        if column == "created_at"
        else f"update staff_session s set {column} = $3::timestamptz - $2::interval"
        " from coordinator c where c.id = s.coordinator_id and c.email = $1",
        email,
        age,
        now(),
    )
    response = await browser_like.get("/coordinator/board")
    assert response.status_code == 302 and "/coordinator/sign-in" in response.headers["location"]


async def test_a_session_in_use_stays(pool: db.Pool, browser_like: httpx.AsyncClient) -> None:
    clinic = await make_clinic(pool)
    email = await make_staff(pool, clinic.id)
    await signed_in(browser_like, email)
    await pool.execute(
        "update staff_session s set last_seen_at = $2::timestamptz - interval '29 minutes'"
        " from coordinator c where c.id = s.coordinator_id and c.email = $1",
        email,
        now(),
    )
    assert (await browser_like.get("/coordinator/board")).status_code == 200
    seen = await pool.fetchval(
        "select $2::timestamptz - s.last_seen_at from staff_session s join coordinator c"
        " on c.id = s.coordinator_id where c.email = $1",
        email,
        now(),
    )
    assert seen < timedelta(minutes=1)  # the idle clock restarted


# --- CSRF, roles, clinics ------------------------------------------------------------------------


async def test_forms_and_cookie_changes_need_the_csrf_token(
    pool: db.Pool, settings: Settings, browser_like: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    email = await make_staff(pool, clinic.id)
    patient = await make_patient(pool, settings, clinic.id)
    csrf = await signed_in(browser_like, email)
    path = f"/coordinator/patients/{patient.patient_id}/nudge"
    for data in ({}, {"csrf_token": "x" * 43}):
        refused = await browser_like.post(path, data=data)
        assert refused.status_code == 403 and "form has expired" in refused.text
    # The JSON API with the session cookie: the token goes in a header.
    api = f"/api/coordinator/patients/{patient.patient_id}/nudge"
    assert (await browser_like.post(api)).status_code == 403
    with_token = await browser_like.post(api, headers={"X-CSRF-Token": csrf})
    assert with_token.status_code == 409  # past CSRF: this patient has no phone yet
    assert (
        await browser_like.get(f"/api/coordinator/patients/{patient.patient_id}")
    ).status_code == 200
    # Signing in needs the form's own token too (a cross-site page cannot read it).
    async with httpx.AsyncClient(base_url=browser_like.base_url) as stranger:
        forged = await stranger.post(
            "/coordinator/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": ""}
        )
        assert forged.status_code == 403


async def test_roles_and_other_clinics(
    pool: db.Pool, settings: Settings, browser_like: httpx.AsyncClient, server: ServerProcess
) -> None:
    clinic, other = await make_clinic(pool), await make_clinic(pool)
    theirs = await make_patient(pool, settings, other.id)
    email = await make_staff(pool, clinic.id)
    csrf = await signed_in(browser_like, email)
    assert (await browser_like.get("/coordinator/audit")).status_code == 403
    protocol = await browser_like.patch(
        "/api/coordinator/clinic/protocol",
        json={"nudge_after_minutes": 90},
        headers={"X-CSRF-Token": csrf},
    )
    assert protocol.status_code == 403
    nudge = await browser_like.post(
        f"/coordinator/patients/{theirs.patient_id}/nudge", data={"csrf_token": csrf}
    )
    assert nudge.status_code == 404 and "text/html" in nudge.headers["content-type"]
    assert (await browser_like.get(f"/coordinator/patients/{theirs.patient_id}")).status_code == 404
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-Forwarded-For": client_ip()}
    ) as admin:
        admin_csrf = await signed_in(admin, await make_staff(pool, clinic.id, "admin"))
        assert (await admin.get("/coordinator/audit")).status_code == 200
        changed = await admin.patch(
            "/api/coordinator/clinic/protocol",
            json={"nudge_after_minutes": 90},
            headers={"X-CSRF-Token": admin_csrf},
        )
        assert changed.status_code == 200, changed.text


async def test_security_headers_on_every_response(http: httpx.AsyncClient) -> None:
    for path in ("/app/", "/api/checkins/due", "/coordinator/sign-in", "/healthz", "/nowhere"):
        response = await http.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers  # plain http here


# --- the board -----------------------------------------------------------------------------------


async def _scenario(pool: db.Pool, settings: Settings) -> tuple[Any, dict[str, uuid.UUID]]:
    """Five patients: an alert, three misses in a row (which raises its own missed_twice
    alert), one miss, one check-in open 5 hours (past the 4-hour nudge delay), one who is
    fine."""
    clinic = await make_clinic(pool)
    ids: dict[str, uuid.UUID] = {}
    for name in ("Alert", "ThreeMisses", "OneMiss", "Overdue", "Fine"):
        created = await make_patient(pool, settings, clinic.id, display_name=name)
        ids[name] = created.patient_id
        await pool.execute(
            "update patient set status = 'active', planned_until = $2::timestamptz + interval '30 days',"
            " created_at = $2::timestamptz - interval '20 days' where id = $1",
            created.patient_id,
            now(),
        )
    await add_window(pool, ids["Alert"], 1, "completed")
    await pool.execute(
        "insert into alert (patient_id, kind, raised_at) values ($1, 'pain_high', $2)",
        ids["Alert"],
        now(),
    )
    await add_window(pool, ids["ThreeMisses"], 5, "completed")
    for days in (3, 2, 1):
        await add_window(pool, ids["ThreeMisses"], days, "missed")
    await add_window(pool, ids["OneMiss"], 3, "missed")  # an old miss, answered since
    await add_window(pool, ids["OneMiss"], 2, "completed")
    await add_window(pool, ids["OneMiss"], 1, "missed")
    await add_window(pool, ids["Overdue"], 1, "completed")
    await add_window(pool, ids["Overdue"], 0, "open", hours_open=5)
    await add_window(pool, ids["Fine"], 1, "completed")
    await add_window(pool, ids["Fine"], 0, "open", hours_open=0.5)  # opened just now
    await pool.execute(
        "insert into infusion_session (patient_id, scheduled_at, status) values"
        " ($1, $2, 'completed'), ($1, $3, 'scheduled')",
        ids["ThreeMisses"],
        now() - timedelta(days=4),
        now() + timedelta(days=10),
    )
    return clinic, ids


def _board_names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/coordinator/patients/[^"]+">([^<]+)</a>', html)


async def test_board_order_and_contents(
    pool: db.Pool, settings: Settings, browser_like: httpx.AsyncClient
) -> None:
    clinic, ids = await _scenario(pool, settings)
    email = await make_staff(pool, clinic.id)
    await signed_in(browser_like, email)
    html = (await browser_like.get("/coordinator/board")).text
    # Alerts first (the more misses first among them), then misses, then silence.
    assert _board_names(html) == ["ThreeMisses", "Alert", "OneMiss", "Overdue"]
    row = html[html.index(f'id="row-{ids["ThreeMisses"]}"') :]
    row = row[: row.index("</tr>")]
    assert "3 missed in a row" in row
    assert "last 4 days ago" in row and "next in 10 days" in row
    # Since the last infusion: the windows of 3, 2 and 1 days ago, none answered.
    assert "0%" in row and "(0/3)" in row
    assert "no push subscription" in row
    assert "missed twice" in row
    assert "pain high" in html[html.index(f'id="row-{ids["Alert"]}"') :]
    overdue = html[html.index(f'id="row-{ids["Overdue"]}"') :]
    assert "open since" in overdue[: overdue.index("</tr>")]
    events = await pool.fetch(
        "select detail, host(client_addr) as addr from audit_event where action = 'board.view'"
        " and clinic_id = $1",
        clinic.id,
    )
    assert len(events) == 2  # one per board read (the sign-in redirect lands on the board)
    assert sorted(events[-1]["detail"]["patient_ids"]) == sorted(
        str(ids[n]) for n in ("Alert", "ThreeMisses", "OneMiss", "Overdue")
    )
    assert events[-1]["addr"] == browser_like.headers["x-forwarded-for"]


async def test_names_are_escaped(
    pool: db.Pool, settings: Settings, browser_like: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    patient = await make_patient(pool, settings, clinic.id, display_name="<script>x()</script>")
    await pool.execute("update patient set status = 'active' where id = $1; ", patient.patient_id)
    await pool.execute(
        "insert into alert (patient_id, kind, raised_at) values ($1, 'pain_high', $2)",
        patient.patient_id,
        now(),
    )
    await signed_in(browser_like, await make_staff(pool, clinic.id))
    html = (await browser_like.get("/coordinator/board")).text
    assert "<script>x()" not in html and "&lt;script&gt;x()" in html


async def test_acknowledge_from_the_board(
    pool: db.Pool, settings: Settings, browser_like: httpx.AsyncClient
) -> None:
    clinic, ids = await _scenario(pool, settings)
    csrf = await signed_in(browser_like, await make_staff(pool, clinic.id))
    alert_id = await pool.fetchval("select id from alert where patient_id = $1", ids["Alert"])
    empty = await browser_like.post(
        f"/coordinator/alerts/{alert_id}/acknowledge",
        data={"csrf_token": csrf, "note": " ", "back": "/coordinator/board"},
    )
    assert empty.status_code == 422 and "must say what was done" in empty.text
    done = await browser_like.post(
        f"/coordinator/alerts/{alert_id}/acknowledge",
        data={"csrf_token": csrf, "note": "Called; dose adjusted", "back": "/coordinator/board"},
    )
    assert done.status_code == 302
    page = await browser_like.get(done.headers["location"])
    assert "Alert acknowledged" in page.text
    assert _board_names(page.text)[:2] == ["ThreeMisses", "OneMiss"]
    note = await pool.fetchval("select note from alert where id = $1", alert_id)
    assert note == "Called; dose adjusted"


async def test_board_hears_checkins_from_any_process(
    pool: db.Pool, settings: Settings, server: ServerProcess, http: httpx.AsyncClient
) -> None:
    """The event stream says "changed" when a patient of the clinic sends a check-in (the
    server runs several processes; PostgreSQL carries the news between them)."""
    clinic = await make_clinic(pool)
    created = await make_patient(pool, settings, clinic.id)
    device = await enroll(http, created.enrollment_code)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=20.0, headers={"X-Forwarded-For": client_ip()}
    ) as client:
        await signed_in(client, await make_staff(pool, clinic.id))
        async with client.stream("GET", "/coordinator/board/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()

            async def next_event() -> str:
                while True:
                    line = await anext(lines)
                    if line.startswith("event:"):
                        return line.split(":", 1)[1].strip()

            assert await asyncio.wait_for(next_event(), 10) == "ready"
            sent = await http.post(
                "/api/checkins",
                json=checkin_body(),
                headers={"Authorization": f"Bearer {device}"},
            )
            assert sent.status_code == 201
            assert await asyncio.wait_for(next_event(), 10) == "changed"
            # A window swept to missed (the dispatcher does it) changes the board too.
            await pool.execute(
                "insert into checkin_due (patient_id, questionnaire, local_date, opens_at,"
                " closes_at) values ($1, 'daily', $2::date - 30, $3::timestamptz - interval '30 days',"
                " $3::timestamptz - interval '29 days')",
                created.patient_id,
                now().date(),
                now(),
            )
            await pool.execute(
                "update checkin_due set status = 'missed' where patient_id = $1"
                " and status = 'open' and closes_at < $2",
                created.patient_id,
                now(),
            )
            assert await asyncio.wait_for(next_event(), 10) == "changed"


# --- patients, the patient page, the audit view --------------------------------------------------


async def test_patients_list_filters_sorts_and_pages(
    pool: db.Pool, settings: Settings, browser_like: httpx.AsyncClient
) -> None:
    clinic, ids = await _scenario(pool, settings)
    await make_patient(pool, settings, clinic.id, display_name="Zed 100%_", condition="lyme")
    await signed_in(browser_like, await make_staff(pool, clinic.id))

    async def names(**params: Any) -> list[str]:
        response = await browser_like.get("/coordinator/patients", params=params)
        assert response.status_code == 200, response.text
        return _board_names(response.text)

    assert await names() == ["Alert", "Fine", "OneMiss", "Overdue", "ThreeMisses", "Zed 100%_"]
    assert await names(q="miss") == ["OneMiss", "ThreeMisses"]
    listed = await pool.fetchval(
        "select detail->'patient_ids' from audit_event where action = 'patient.list'"
        " and clinic_id = $1 order by id desc limit 1",
        clinic.id,
    )
    assert sorted(listed) == sorted(str(ids[n]) for n in ("OneMiss", "ThreeMisses"))
    assert await names(q="%") == ["Zed 100%_"]  # typed text, not a pattern
    assert await names(condition="lyme") == ["Zed 100%_"]
    assert await names(status="invited") == ["Zed 100%_"]
    assert await names(has_alert="1") == ["Alert", "ThreeMisses"]
    # 30-day adherence below 60%: ThreeMisses answered 1 of 4, OneMiss 1 of 3.
    assert await names(adherence_below="60") == ["OneMiss", "ThreeMisses"]
    assert (await names(sort="adherence"))[:2] == ["ThreeMisses", "OneMiss"]
    bad = await browser_like.get("/coordinator/patients", params={"condition": "flu"})
    assert bad.status_code == 422 and "condition" in bad.text


async def test_patient_page_schedule_and_enrollment_sheet(
    pool: db.Pool, settings: Settings, browser_like: httpx.AsyncClient
) -> None:
    clinic, ids = await _scenario(pool, settings)
    csrf = await signed_in(browser_like, await make_staff(pool, clinic.id))
    path = f"/coordinator/patients/{ids['ThreeMisses']}"
    page = await browser_like.get(path)
    assert page.status_code == 200
    assert "ThreeMisses" in page.text and '<svg class="chart"' in page.text
    assert "Infusion schedule" in page.text
    when = (now() + timedelta(days=60)).date()
    added = await browser_like.post(
        f"{path}/infusions", data={"csrf_token": csrf, "scheduled_at": f"{when}T09:30"}
    )
    assert added.status_code == 302
    at = await pool.fetchval(
        "select scheduled_at from infusion_session where patient_id = $1"
        " and scheduled_at > $2::timestamptz + interval '30 days'",
        ids["ThreeMisses"],
        now(),
    )
    local = at.astimezone(ZoneInfo("America/New_York"))
    assert (local.date(), local.hour, local.minute) == (when, 9, 30)  # the clinic's wall clock
    session = await pool.fetchval(
        "select id from infusion_session where patient_id = $1 and status = 'scheduled'",
        ids["ThreeMisses"],
    )
    later = f"{when + timedelta(days=2)}T11:00"
    for data, expected in (
        ({"action": "reschedule", "scheduled_at": later}, "scheduled"),
        ({"action": "completed"}, "completed"),
    ):
        changed = await browser_like.post(
            f"{path}/infusions/{session}", data={"csrf_token": csrf} | data
        )
        assert changed.status_code == 302, changed.text
        row = await pool.fetchrow(
            "select scheduled_at, status::text from infusion_session where id = $1", session
        )
        assert row["status"] == expected
    assert row["scheduled_at"].astimezone(ZoneInfo("America/New_York")).hour == 11
    bad = await browser_like.post(
        f"{path}/infusions/{session}", data={"csrf_token": csrf, "action": "explode"}
    )
    assert bad.status_code == 422 and "action" in bad.text
    sheet = await browser_like.post(f"{path}/enrollment-code", data={"csrf_token": csrf})
    assert sheet.status_code == 200 and "<svg" in sheet.text
    code = re.search(r'class="code">([0-9A-Z-]{14})<', sheet.text)
    assert code is not None
    actions = await pool.fetch(
        "select action from audit_event where patient_id = $1 and actor_kind = 'coordinator'",
        ids["ThreeMisses"],
    )
    assert {"patient.read", "checkin.trend", "checkin.list", "infusion.schedule"} <= {
        r["action"] for r in actions
    }


async def test_audit_view_answers_who_viewed_a_patient(
    pool: db.Pool, settings: Settings, server: ServerProcess, browser_like: httpx.AsyncClient
) -> None:
    clinic, ids = await _scenario(pool, settings)
    viewer = await make_staff(pool, clinic.id)
    await signed_in(browser_like, viewer)
    await browser_like.get(f"/coordinator/patients/{ids['Fine']}")
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-Forwarded-For": client_ip()}
    ) as admin:
        await signed_in(admin, await make_staff(pool, clinic.id, "admin"))
        trail = await admin.get("/coordinator/audit", params={"patient": str(ids["Fine"])})
        assert trail.status_code == 200
        assert viewer in trail.text and browser_like.headers["x-forwarded-for"] in trail.text
        assert "OneMiss" not in trail.text
    seen = await pool.fetchval(
        "select count(*) from audit_event where action = 'audit.view' and clinic_id = $1",
        clinic.id,
    )
    assert seen == 1


async def test_side_effects_after_each_infusion(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    patient, auth = await enrolled_patient(pool, settings, http, clinic.id, display_name="Ines")
    session_id = await pool.fetchval(
        "insert into infusion_session (patient_id, scheduled_at, status)"
        " values ($1, $2::timestamptz - interval '1 day', 'completed') returning id",
        patient.patient_id,
        now(),
    )
    await pool.execute(
        "delete from checkin_due where patient_id = $1 and questionnaire = 'post_infusion'",
        patient.patient_id,
    )
    for hours_ago, effects in ((20, {"dizziness": "moderate", "headache": "mild"}),
                               (2, {"headache": "severe"})):  # fmt: skip
        opens = now() - timedelta(hours=hours_ago + 1)
        await pool.execute(
            "insert into checkin_due (patient_id, questionnaire, local_date, opens_at, closes_at,"
            " session_id) values ($1, 'post_infusion', $2, $3, $3::timestamptz + interval '6 hours', $4)",
            patient.patient_id, opens.date() - timedelta(days=hours_ago), opens, session_id,
        )  # fmt: skip
        answers: dict[str, Any] = {
            "pain_now": 4, "pain_avg_24h": 4, "fatigue": 5, "sleep_quality": 5,
            "side_effects": sorted(effects),
        }  # fmt: skip
        answers |= {f"severity_{code}": level for code, level in effects.items()}
        body = checkin_body() | {
            "questionnaire": "post_infusion",
            "answers": answers,
            "answered_at": (now() - timedelta(hours=hours_ago)).isoformat(),
        }
        response = await http.post("/api/checkins", json=body, headers=auth)
        assert response.status_code == 201, response.text
    await signed_in(browser_like, await make_staff(pool, clinic.id))
    page = await browser_like.get(f"/coordinator/patients/{patient.patient_id}")
    section = page.text[page.text.index("Side effects after infusions") :]
    row = section[section.index("<tbody>") : section.index("</tbody>")]
    # Two check-ins after the session; the worst severity of each effect.
    assert "<td>2</td>" in row
    assert "dizziness (moderate)" in row and "headache (<strong>severe</strong>)" in row


async def test_patient_settings_and_discharge_from_the_patient_page(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    patient, auth = await enrolled_patient(pool, settings, http, clinic.id, display_name="Ken")
    csrf = await signed_in(browser_like, await make_staff(pool, clinic.id))
    path = f"/coordinator/patients/{patient.patient_id}"
    saved = await browser_like.post(
        f"{path}/settings",
        data={
            "csrf_token": csrf, "reminder_time": "08:15", "quiet_start": "22:00",
            "quiet_end": "07:00", "language": "es", "timezone": "Europe/Madrid",
            "pause_days": "3",
        },
    )  # fmt: skip
    assert saved.status_code == 302, saved.text
    me = (await http.get("/api/me", headers=auth)).json()
    assert (me["reminder_time"], me["language"], me["timezone"]) == ("08:15", "es", "Europe/Madrid")
    assert me["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert me["reminders_paused_until"] is not None
    bad = await browser_like.post(
        f"{path}/settings", data={"csrf_token": csrf, "timezone": "Mars/Olympus"}
    )
    assert bad.status_code == 422 and "timezone" in bad.text
    cleared = await browser_like.post(
        f"{path}/settings", data={"csrf_token": csrf, "pause_days": "0"}
    )
    assert cleared.status_code == 302
    me = (await http.get("/api/me", headers=auth)).json()
    assert me["quiet_hours"] is None and me["reminders_paused_until"] is None
    unconfirmed = await browser_like.post(f"{path}/discharge", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 422
    gone = await browser_like.post(f"{path}/discharge", data={"csrf_token": csrf, "confirm": "yes"})
    assert gone.status_code == 302
    assert (await http.get("/api/me", headers=auth)).status_code == 401  # the phone stops
    open_windows = await pool.fetchval(
        "select count(*) from checkin_due where patient_id = $1 and status = 'open'",
        patient.patient_id,
    )
    assert open_windows == 0
    again = await browser_like.post(
        f"{path}/discharge", data={"csrf_token": csrf, "confirm": "yes"}
    )
    assert again.status_code == 409


async def test_admins_manage_staff_and_the_protocol(
    pool: db.Pool, server: ServerProcess, browser_like: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    admin_email = await make_staff(pool, clinic.id, "admin")
    csrf = await signed_in(browser_like, admin_email)
    added = await browser_like.post(
        "/coordinator/staff",
        data={
            "csrf_token": csrf, "email": "New.Nurse@clinic.test", "display_name": "New Nurse",
            "role": "coordinator", "password": PASSWORD,
        },
    )  # fmt: skip
    assert added.status_code == 302, added.text
    short = await browser_like.post(
        "/coordinator/staff",
        data={"csrf_token": csrf, "email": "b@clinic.test", "role": "coordinator", "password": "x"},
    )
    assert short.status_code == 422 and "password" in short.text
    nurse = await pool.fetchrow(
        "select id, role::text from coordinator where email = 'new.nurse@clinic.test'"
    )
    assert nurse["role"] == "coordinator"
    creation = await pool.fetchrow(
        "select actor_kind::text, actor_id from audit_event where action = 'coordinator.create'"
        " and detail->>'coordinator_id' = $1",
        str(nurse["id"]),
    )
    assert creation["actor_kind"] == "coordinator"

    # The nurse signs in; disabling her ends her session at once.
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-Forwarded-For": client_ip()}
    ) as nurse_browser:
        nurse_csrf = await signed_in(nurse_browser, "new.nurse@clinic.test")
        assert (await nurse_browser.get("/coordinator/staff")).status_code == 403
        # She reads the protocol (when windows open, when the second reminder goes), without
        # a form to change it; a change sent anyway is refused.
        protocol = await nurse_browser.get("/coordinator/protocol")
        assert protocol.status_code == 200 and "Second reminder after" in protocol.text
        assert '<form method="post" action="/coordinator/protocol"' not in protocol.text
        refused = await nurse_browser.post(
            "/coordinator/protocol", data={"csrf_token": nurse_csrf, "nudge_after_minutes": "60"}
        )
        assert refused.status_code == 403 and "only the clinic" in refused.text
        off = await browser_like.post(
            f"/coordinator/staff/{nurse['id']}", data={"csrf_token": csrf, "action": "disable"}
        )
        assert off.status_code == 302
        assert (await nurse_browser.get("/coordinator/board")).status_code == 302
        assert (await sign_in(nurse_browser, "new.nurse@clinic.test")).status_code == 400
    me = await pool.fetchval("select id from coordinator where email = $1", admin_email)
    myself = await browser_like.post(
        f"/coordinator/staff/{me}", data={"csrf_token": csrf, "action": "coordinator"}
    )
    assert myself.status_code == 409

    saved = await browser_like.post(
        "/coordinator/protocol",
        data={"csrf_token": csrf, "nudge_after_minutes": "90", "weekly_weekday": "3"},
    )
    assert saved.status_code == 302
    row = await pool.fetchrow(
        "select nudge_after_minutes, weekly_weekday from clinic where id = $1", clinic.id
    )
    assert (row["nudge_after_minutes"], row["weekly_weekday"]) == (90, 3)
    wrong = await browser_like.post(
        "/coordinator/protocol", data={"csrf_token": csrf, "nudge_after_minutes": "5"}
    )
    assert wrong.status_code == 422 and "nudge_after_minutes" in wrong.text


async def test_a_long_board_shows_the_most_urgent_and_says_how_many_more(
    pool: db.Pool, browser_like: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    await pool.execute(
        "with p as (insert into patient (clinic_id, display_name, timezone, status)"
        " select $1, 'P' || lpad(g::text, 3, '0'), 'America/New_York', 'active'"
        " from generate_series(1, 203) g returning id)"
        " insert into alert (patient_id, kind, raised_at) select id, 'pain_high', $2 from p",
        clinic.id,
        now(),
    )
    await signed_in(browser_like, await make_staff(pool, clinic.id))
    html = (await browser_like.get("/coordinator/board")).text
    assert len(_board_names(html)) == 200
    assert "203 patients need attention; the 200 most urgent are shown" in " ".join(html.split())
    # The patients list pages through them, 50 at a time.
    last = await browser_like.get("/coordinator/patients", params={"page": "5", "q": "P"})
    assert _board_names(last.text) == ["P201", "P202", "P203"]
    assert (
        "page 5 of 5" in last.text and 'rel="prev"' in last.text and 'rel="next"' not in last.text
    )


# --- found in review -----------------------------------------------------------------------------


async def test_guesses_sent_together_do_not_slip_past_the_lock(
    pool: db.Pool, server: ServerProcess
) -> None:
    """Each attempt is counted before its password is checked: of twelve wrong guesses sent
    at once, five are checked and the rest meet the lock; then the right password is refused."""
    clinic = await make_clinic(pool)
    email = await make_staff(pool, clinic.id)

    async def guess() -> int:
        async with httpx.AsyncClient(
            base_url=server.url, timeout=30, headers={"X-Forwarded-For": client_ip()}
        ) as client:
            return (await sign_in(client, email, "wrong password")).status_code

    assert await asyncio.gather(*(guess() for _ in range(12))) == [400] * 12
    checked = await pool.fetch(
        "select e.detail->>'locked' as locked from audit_event e join coordinator c"
        " on c.id = e.actor_id where c.email = $1 and e.action = 'staff.sign_in_failed'",
        email,
    )
    assert sorted(r["locked"] for r in checked) == ["false"] * 5 + ["true"] * 7
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-Forwarded-For": client_ip()}
    ) as owner:
        assert (await sign_in(owner, email)).status_code == 400


async def test_event_stream_ends_with_the_session(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    created = await make_patient(pool, settings, clinic.id)
    device = await enroll(http, created.enrollment_code)
    csrf = await signed_in(browser_like, await make_staff(pool, clinic.id))
    async with browser_like.stream("GET", "/coordinator/board/events") as stream:
        lines = stream.aiter_lines()
        while not (await asyncio.wait_for(anext(lines), 10)).startswith("event: ready"):
            pass
        await browser_like.post("/coordinator/sign-out", data={"csrf_token": csrf})
        sent = await http.post(
            "/api/checkins", json=checkin_body(), headers={"Authorization": f"Bearer {device}"}
        )
        assert sent.status_code == 201
        rest = []

        async def drain() -> None:
            async for line in lines:
                rest.append(line)

        await asyncio.wait_for(drain(), 10)  # the server ends the stream
        assert not any(line.startswith("event: changed") for line in rest)


async def test_pages_are_not_cached_and_titles_hold_no_token(
    pool: db.Pool, settings: Settings, browser_like: httpx.AsyncClient
) -> None:
    clinic, ids = await _scenario(pool, settings)
    await signed_in(browser_like, await make_staff(pool, clinic.id, "admin"))
    page = await browser_like.get(f"/coordinator/patients/{ids['Alert']}")
    assert page.headers["cache-control"] == "no-store"
    title = page.text[page.text.index("<title>") : page.text.index("</title>")]
    assert "csrf" not in title and "<" not in title[len("<title>") :]
    static = await browser_like.get("/coordinator/static/dashboard.css")
    assert "no-store" not in static.headers.get("cache-control", "")
    # The audit view records which patients it showed.
    await browser_like.get("/coordinator/audit")
    shown = await pool.fetchval(
        "select detail->'patient_ids' from audit_event where action = 'audit.view'"
        " and clinic_id = $1",
        clinic.id,
    )
    assert str(ids["Alert"]) in shown


async def test_out_of_range_input_is_a_clear_4xx(
    pool: db.Pool, settings: Settings, browser_like: httpx.AsyncClient
) -> None:
    clinic, ids = await _scenario(pool, settings)
    csrf = await signed_in(browser_like, await make_staff(pool, clinic.id, "admin"))
    for path, params in (
        ("/coordinator/patients", {"page": "9223372036854775807"}),
        ("/coordinator/audit", {"before": "99999999999999999999"}),
    ):
        response = await browser_like.get(path, params=params)
        assert 400 <= response.status_code < 500, (path, response.status_code)
    alert_id = await pool.fetchval("select id from alert where patient_id = $1", ids["Alert"])
    long_note = await browser_like.post(
        f"/coordinator/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf, "note": "x" * 2001}
    )
    assert long_note.status_code == 422 and "note" in long_note.text
    # Unknown parameters are ignored, and ?done= shows only the dashboard's own words.
    listed = await browser_like.get("/coordinator/patients", params={"done": "<b>Pay here</b>"})
    assert listed.status_code == 200 and "Pay here" not in listed.text


async def test_changes_are_notified_only_while_a_board_is_open(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, app_db: str
) -> None:
    """NOTIFY makes a commit take a database-wide lock: check-ins notify only for clinics whose
    board someone has open (board_watch), so a busy clinic with no board open pays nothing."""
    clinic = await make_clinic(pool)
    created = await make_patient(pool, settings, clinic.id)
    device = {"Authorization": f"Bearer {await enroll(http, created.enrollment_code)}"}
    heard: list[str] = []
    async with db.connection(app_db) as listener:
        await listener.add_listener("board_changed", lambda *args: heard.append(args[3]))

        async def post_and_sync() -> None:
            sent = await http.post("/api/checkins", json=checkin_body(), headers=device)
            assert sent.status_code == 201
            await listener.fetchval("select 1")  # notifications sent before now arrive first

        await post_and_sync()
        assert str(clinic.id) not in heard
        await pool.execute(
            "insert into board_watch (clinic_id, until) values ($1, now() + interval '1 minute')",
            clinic.id,
        )
        await post_and_sync()
        assert heard.count(str(clinic.id)) == 1
        # A reminder opened on the phone changes the board's delivery column.
        reminder_id = await pool.fetchval(
            "insert into reminder (patient_id, kind, send_at, expires_at, status, sent_at)"
            " values ($1, 'manual', $2, $2::timestamptz + interval '1 hour', 'sent', $2) returning id",
            created.patient_id,
            now(),
        )
        await pool.execute("update reminder set opened_at = $2 where id = $1", reminder_id, now())
        await listener.fetchval("select 1")
        assert heard.count(str(clinic.id)) == 2
        await pool.execute(
            "update board_watch set until = now() - interval '1 second' where clinic_id = $1",
            clinic.id,
        )
        await post_and_sync()
        assert heard.count(str(clinic.id)) == 2  # the watch lapsed


async def test_patient_chart_does_not_draw_across_missed_days(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    patient, auth = await enrolled_patient(pool, settings, http, clinic.id)
    for days_ago, pain in ((10, 8), (9, 7), (6, 5)):  # day 6 alone after two missed days
        body = checkin_body(pain) | {"answered_at": (now() - timedelta(days=days_ago)).isoformat()}
        assert (await http.post("/api/checkins", json=body, headers=auth)).status_code == 201
    await signed_in(browser_like, await make_staff(pool, clinic.id))
    html = (await browser_like.get(f"/coordinator/patients/{patient.patient_id}")).text
    svg = html[
        html.index('<svg class="chart"') : html.index("</svg>", html.index('<svg class="chart"'))
    ]
    pain_lines = re.findall(r'<polyline [^>]*stroke="#a4161a"[^>]*points="([^"]*)"', svg)
    pain_dots = re.findall(r'<circle [^>]*fill="#a4161a"', svg)
    assert [len(points.split()) for points in pain_lines] == [2] and len(pain_dots) == 1
