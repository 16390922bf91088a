"""The `checkin` admin commands, run as real processes against a real database."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.support.factories import client_ip
from tests.support.live import ROOT, clean_env, start_server


def run(database: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=clean_env(DATABASE_URL=database),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
async def cli_db(make_database) -> str:  # type: ignore[no-untyped-def]
    url: str = await make_database()
    return url


def test_admin_commands_chain_with_json(cli_db: str) -> None:
    clinic = run(
        cli_db, "clinic", "add", "Lakeside Pain Clinic", "--timezone", "America/Chicago", "--json"
    )
    assert clinic.returncode == 0, clinic.stderr
    clinic_id = json.loads(clinic.stdout)["id"]

    admin = run(
        cli_db, "coordinator", "add", "--clinic", clinic_id, "--email", "Lead@Lakeside.Test",
        "--role", "admin", "--json", stdin="correct horse battery staple\n",
    )  # fmt: skip
    assert admin.returncode == 0, admin.stderr
    assert json.loads(admin.stdout)["email"] == "lead@lakeside.test"
    assert json.loads(admin.stdout)["role"] == "admin"

    token = run(cli_db, "coordinator", "token", "--email", "lead@lakeside.test", "--json")
    assert token.returncode == 0, token.stderr
    api_token = json.loads(token.stdout)["token"]

    patient = run(
        cli_db, "patient", "add", "--clinic", clinic_id, "--name", "Jonah",
        "--timezone", "America/Denver", "--condition", "lyme", "--json",
    )  # fmt: skip
    assert patient.returncode == 0, patient.stderr
    created = json.loads(patient.stdout)
    assert created["enrollment_link"].endswith("#" + created["enrollment_code"])

    # What the commands printed works against a running server.
    server = start_server(cli_db)
    try:
        listed = httpx.get(
            f"{server.url}/api/coordinator/patients",
            headers={"Authorization": f"Bearer {api_token}"},
        )
        assert listed.status_code == 200
        assert [p["display_name"] for p in listed.json()["items"]] == ["Jonah"]
        enrolled = httpx.post(
            f"{server.url}/api/enroll",
            json={"code": created["enrollment_code"]},
            headers={"X-Forwarded-For": client_ip()},
        )
        assert enrolled.status_code == 201
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["clinic", "add", "X", "--timezone", "Mars/Base"], "", "IANA time zone"),
        (["clinic", "add", " ", "--timezone", "UTC"], "", "must not be blank"),
        (
            ["patient", "add", "--clinic", "00000000-0000-0000-0000-000000000000",
             "--name", "A", "--timezone", "UTC"],
            "",
            "no clinic has the id",
        ),
        (["patient", "add", "--clinic", "nope", "--name", "A", "--timezone", "UTC"], "", "not an id"),
        (["coordinator", "token", "--email", "nobody@x.test"], "", "no active coordinator"),
        (
            ["coordinator", "add", "--clinic", "00000000-0000-0000-0000-000000000000",
             "--email", "a@b.test"],
            "short\n",
            "at least 12 characters",
        ),
    ],
)  # fmt: skip
def test_errors_are_actionable(cli_db: str, args: list[str], stdin: str, words: str) -> None:
    result = run(cli_db, *args, stdin=stdin)
    assert result.returncode != 0
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_duplicate_coordinator_email(cli_db: str) -> None:
    clinic = json.loads(run(cli_db, "clinic", "add", "Dup", "--timezone", "UTC", "--json").stdout)
    args = ["coordinator", "add", "--clinic", clinic["id"], "--email", "same@dup.test"]
    assert run(cli_db, *args, stdin="a long enough password\n").returncode == 0
    again = run(cli_db, *args, stdin="a long enough password\n")
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_demo_refuses_a_database_with_other_clinics(cli_db: str) -> None:
    run(cli_db, "clinic", "add", "Real Clinic", "--timezone", "UTC")
    result = run(cli_db, "demo")
    assert result.returncode == 1
    assert "only into an empty database" in result.stderr
    assert "Traceback" not in result.stderr


async def test_demo_seeds_an_empty_database_once(make_database) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    database = await make_database()
    first = await asyncio.to_thread(run, database, "demo", "--json")
    assert first.returncode == 0, first.stderr
    seeded = json.loads(first.stdout)
    assert seeded["seeded"] is True and seeded["patients"] == 40
    second = await asyncio.to_thread(run, database, "demo", "--json")
    refreshed = json.loads(second.stdout)
    assert refreshed["seeded"] is False
    assert refreshed["coordinator_password"] != seeded["coordinator_password"]
    from server import db

    async with db.connection(database) as conn:
        assert await conn.fetchval("select count(*) from patient") == 40
        per_patient = await conn.fetch(
            "select p.condition::text, count(c.*) as n from patient p"
            " left join checkin c on c.patient_id = p.id group by p.id"
        )
        missed = await conn.fetchval("select count(*) from checkin_due where status = 'missed'")
        infusions = await conn.fetchval("select count(*) from infusion_session")
        alerts = await conn.fetchrow(
            "select count(*) filter (where status = 'open') as open,"
            " count(*) filter (where status = 'acknowledged') as done from alert"
        )
    # Older alerts were worked through at earlier rounds; the board shows the newer ones.
    assert 0 < alerts["open"] < alerts["done"]
    assert {row["condition"] for row in per_patient} == {"crps", "fibromyalgia", "lyme"}
    assert sum(row["n"] > 30 for row in per_patient) >= 30  # ~60 days, some misses
    assert missed > 0 and infusions >= 39 * 5
