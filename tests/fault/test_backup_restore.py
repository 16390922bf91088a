"""Backup and restore: `checkin backup` of a lived-in database, `checkin restore` into an empty
database on another PostgreSQL cluster, every table compared row by row (counts and checksums),
and the restored database serving phones and coordinators as before.

The source is a database on the tests' PostgreSQL, seeded with the demo clinic and then used
through a real server: a phone enrolls, allows notifications and answers, a coordinator reads a
patient, nudges them (the reminder goes out to the fake push service) and signs in to the
dashboard. The restore goes into a private cluster of the test's own (tests/cluster.py).

Transient by design, and so not compared: board_watch, an unlogged table in which each server
process notes the clinics whose board it is showing for the next minute. `checkin backup` leaves
its rows out; the table itself is restored (empty) and boards fill it again when opened.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from server import db, demo
from tests.support import pg
from tests.support.cluster import Cluster
from tests.support.factories import checkin_body, client_ip
from tests.support.fakepush import FakePushService
from tests.support.live import ROOT, clean_env, free_port, push_settings, start_server

pytestmark = pytest.mark.slow

TRANSIENT = {"board_watch"}


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


async def checkin(database_url: str, *args: str) -> Done:
    """`python -m server ARGS` with DATABASE_URL, as an operator would run it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *args,
        cwd=ROOT, env=clean_env(DATABASE_URL=database_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Done(process.returncode, stdout.decode(), stderr.decode())


def files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def assert_no_phi(done: Done) -> None:
    """Row counts may be printed, the demo patients' names may not."""
    text = done.stdout + done.stderr
    for name in demo.FIRST_NAMES:
        assert not re.search(rf"\b{name}\b", text), f"a patient's name in the output: {text}"


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while not (value := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {value!r} after {within} s")
        await asyncio.sleep(0.05)
    return value


# --- what a database holds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Fingerprint:
    tables: dict[str, tuple[int, str]]  # every table of the public schema: rows, checksum
    sequences: dict[str, tuple[int, bool]]
    # columns, constraints, indexes, triggers, functions and types, by name (how PostgreSQL
    # prints a definition changes between major versions)
    schema: list[str]

    def without(self, names: set[str]) -> dict[str, tuple[int, str]]:
        return {name: value for name, value in self.tables.items() if name not in names}


SCHEMA = """
select format('column %s.%s %s %s %s', c.table_name, c.column_name, c.data_type,
              c.is_nullable, coalesce(c.column_default, c.identity_generation, ''))
  from information_schema.columns c where c.table_schema = 'public'
union all
select format('constraint %s %s %s', conrelid::regclass, conname, contype)
  from pg_constraint where connamespace = 'public'::regnamespace
union all
select format('index %s %s', tablename, indexname) from pg_indexes where schemaname = 'public'
union all
select format('trigger %s %s %s %s', tgrelid::regclass, tgname, tgtype, tgenabled)
  from pg_trigger where not tgisinternal
union all
select format('function %s %s', proname, md5(prosrc))
  from pg_proc where pronamespace = 'public'::regnamespace
union all
select format('type %s %s', t.typname, string_agg(e.enumlabel, ',' order by e.enumsortorder))
  from pg_type t join pg_enum e on e.enumtypid = t.oid group by t.typname
union all
select format('table %s %s', relname, relpersistence)
  from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p')
"""


async def fingerprint(url: str) -> Fingerprint:
    """Row counts and an order-independent checksum of every row's text, table by table."""
    async with db.connection(url) as conn:  # UTC: timestamps print the same on both sides
        names = [
            r["relname"]
            for r in await conn.fetch(
                "select relname from pg_class where relnamespace = 'public'::regnamespace"
                " and relkind in ('r', 'p') order by relname"
            )
        ]
        tables: dict[str, tuple[int, str]] = {}
        for name in names:
            row = await conn.fetchrow(
                f"select count(*) as n, md5(coalesce(string_agg(md5(t::text), ''"
                f" order by md5(t::text)), '')) as sum from public.{name} t"
            )
            tables[name] = (row["n"], row["sum"])
        sequences: dict[str, tuple[int, bool]] = {}
        for r in await conn.fetch(
            "select relname from pg_class where relnamespace = 'public'::regnamespace"
            " and relkind = 'S' order by relname"
        ):
            seq = await conn.fetchrow(f"select last_value, is_called from public.{r['relname']}")
            sequences[r["relname"]] = (seq["last_value"], seq["is_called"])
        schema = sorted(r[0] for r in await conn.fetch(SCHEMA))
    return Fingerprint(tables, sequences, schema)


# --- the source: a demo clinic that has been used ------------------------------------------------


@dataclass(frozen=True)
class Source:
    url: str
    fingerprint: Fingerprint
    patient_id: str
    device_token: str
    api_token: str
    dashboard_cookies: dict[str, str]


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} in the page"
    return match.group(1)


@pytest.fixture(scope="module")
async def source(make_database: Callable[[], Awaitable[str]]) -> Source:
    url = await make_database()
    seeded = await checkin(url, "demo", "--json")
    assert seeded.returncode == 0, seeded.stderr
    logins = json.loads(seeded.stdout)

    with FakePushService() as push:
        server = start_server(url, **push_settings(push))
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=20.0) as http:
                # A phone enrolls with the demo's invitation, allows notifications, answers.
                enrolled = await http.post(
                    "/api/enroll",
                    json={"code": logins["enrollment_code"]},
                    headers={"X-Forwarded-For": client_ip()},
                )
                assert enrolled.status_code == 201, enrolled.text
                patient_id = enrolled.json()["patient_id"]
                device_token = enrolled.json()["device_token"]
                phone = {"Authorization": f"Bearer {device_token}"}
                subscription = push.new_subscriber().subscription_info()
                saved = await http.put("/api/push/subscription", json=subscription, headers=phone)
                assert saved.status_code == 204, saved.text
                answered = await http.post("/api/checkins", json=checkin_body(9, 8), headers=phone)
                assert answered.status_code == 201, answered.text

                # Their coordinator reads the record (audited) and nudges them.
                staff = {"Authorization": f"Bearer {logins['api_token']}"}
                read = await http.get(f"/api/coordinator/patients/{patient_id}", headers=staff)
                assert read.status_code == 200, read.text
                nudged = await http.post(
                    f"/api/coordinator/patients/{patient_id}/nudge", headers=staff
                )
                assert nudged.status_code == 202, nudged.text

            # ... and signs in to the dashboard (a staff session).
            async with httpx.AsyncClient(
                base_url=server.url, timeout=20.0, headers={"X-Forwarded-For": client_ip()}
            ) as browser:
                form = await browser.get("/coordinator/sign-in")
                signed = await browser.post(
                    "/coordinator/sign-in",
                    data={
                        "csrf_token": hidden(form.text, "csrf_token"),
                        "email": logins["coordinator_email"],
                        "password": logins["coordinator_password"],
                        "next": "/coordinator/board",
                    },
                )
                assert signed.status_code == 302, signed.text
                cookies = dict(browser.cookies)

            push.wait_for(1)
            async with db.connection(url) as conn:
                await eventually(lambda: conn.fetchval("select count(*) from push_attempt"))
        finally:
            server.stop()

    async with db.connection(url) as conn:
        # A board open somewhere: a row the backup is meant to leave out.
        await conn.execute(
            "insert into board_watch (clinic_id, until) values ($1, now() + interval '1 hour')",
            uuid.UUID(logins["clinic_id"]),
        )
    found = await fingerprint(url)
    empty = [name for name, (rows, _) in found.tables.items() if rows == 0]
    assert not empty, f"the seeding left these tables empty: {empty}"
    return Source(url, found, patient_id, device_token, logins["api_token"], cookies)


@pytest.fixture(scope="module")
async def backup_file(
    source: Source, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("backup")
    out = folder / "checkin.dump"
    done = await checkin(source.url, "backup", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert_no_phi(done)
    assert files(folder) == ["checkin.dump"]  # no partial file left beside it
    return out, json.loads(done.stdout)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    own = Cluster("checkin-restore")
    try:
        own.start()
        yield own
    finally:
        own.remove()


# --- the round trip ------------------------------------------------------------------------------


async def test_restore_reproduces_every_row_and_works(
    source: Source, backup_file: tuple[Path, dict[str, Any]], cluster: Cluster
) -> None:
    out, report = backup_file
    assert report["bytes"] == out.stat().st_size > 0
    # The counts printed are those of the rows in the file (all but the transient table's).
    assert report["rows"] == {
        n: rows for n, (rows, _) in source.fingerprint.without(TRANSIENT).items()
    }
    assert report["not_backed_up"] == sorted(TRANSIENT)

    target = await pg.create_database(cluster.url, "checkin_restored")
    done = await checkin(target, "restore", "--from", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert_no_phi(done)
    restored_report = json.loads(done.stdout)
    assert restored_report["pending_migrations"] == []
    assert restored_report["migration"] == db.load_migrations()[-1].version
    assert restored_report["rows"] == report["rows"]

    restored = await fingerprint(target)
    assert restored.without(TRANSIENT) == source.fingerprint.without(TRANSIENT)
    assert restored.tables.keys() == source.fingerprint.tables.keys()
    assert {name: restored.tables[name][0] for name in TRANSIENT} == dict.fromkeys(TRANSIENT, 0)
    assert restored.sequences == source.fingerprint.sequences
    assert restored.schema == source.fingerprint.schema

    # The restored database serves: the phone's token, the coordinator's API token and
    # dashboard session still work, and new rows (a check-in, an audit event) go in.
    server = start_server(target, DISPATCHER="false")
    try:
        async with httpx.AsyncClient(
            base_url=server.url, timeout=20.0, cookies=source.dashboard_cookies
        ) as http:
            phone = {"Authorization": f"Bearer {source.device_token}"}
            assert (await http.get("/api/me", headers=phone)).status_code == 200
            answered = await http.post("/api/checkins", json=checkin_body(4, 3), headers=phone)
            assert answered.status_code == 201, answered.text
            history = await http.get("/api/checkins", headers=phone)
            assert len(history.json()["items"]) == 2
            staff = {"Authorization": f"Bearer {source.api_token}"}
            read = await http.get(f"/api/coordinator/patients/{source.patient_id}", headers=staff)
            assert read.status_code == 200, read.text
            board = await http.get("/coordinator/board")  # the session cookie from before
            assert board.status_code == 200
    finally:
        server.stop()

    async with db.connection(target) as conn:
        audited = await conn.fetchval("select count(*) from audit_event")
        assert audited > source.fingerprint.tables["audit_event"][0]
        # Still append-only: the triggers came back with the rows.
        for statement in (
            "update audit_event set action = 'changed'",
            "delete from audit_event",
            "truncate audit_event",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        assert await conn.fetchval("select count(*) from audit_event") == audited


async def test_restore_is_all_or_nothing(
    backup_file: tuple[Path, dict[str, Any]], cluster: Cluster, tmp_path: Path
) -> None:
    """A backup cut short restores nothing: the database stays empty and can be used again."""
    out, _ = backup_file
    cut = tmp_path / "cut.dump"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size * 2 // 3])
    target = await pg.create_database(cluster.url, "checkin_cut")
    done = await checkin(target, "restore", "--from", str(cut))
    assert done.returncode == 1
    assert "pg_restore" in done.stderr and "failed" in done.stderr
    assert "Traceback" not in done.stderr
    assert_no_phi(done)
    assert (await fingerprint(target)).tables == {}

    again = await checkin(target, "restore", "--from", str(out))
    assert again.returncode == 0, again.stderr


async def test_restore_refuses_a_database_that_has_tables(
    source: Source, backup_file: tuple[Path, dict[str, Any]]
) -> None:
    out, _ = backup_file
    done = await checkin(source.url, "restore", "--from", str(out))
    assert done.returncode == 1
    assert "not empty" in done.stderr and "createdb" in done.stderr
    assert (await fingerprint(source.url)).tables == source.fingerprint.tables


# --- a backup that fails leaves nothing ----------------------------------------------------------


async def test_backup_failures_are_explained_and_leave_no_file(
    source: Source, tmp_path: Path
) -> None:
    unwritable = await checkin(source.url, "backup", "--out", "/proc/checkin.dump")
    assert unwritable.returncode == 1
    assert "cannot write in /proc" in unwritable.stderr
    assert "checkin.dump" not in files(Path("/proc"))

    out = tmp_path / "checkin.dump"
    for url, words in [
        (f"postgresql://postgres@127.0.0.1:{free_port()}/checkin", "cannot use the database"),
        (pg.with_database(source.url, "checkin_no_such_database"), "does not exist"),
        (pg.with_database(source.url, "postgres"), "no Infusion Check-in tables"),
    ]:
        wrong = await checkin(url, "backup", "--out", str(out))
        assert wrong.returncode == 1
        assert words in wrong.stderr
        assert "Traceback" not in wrong.stderr
    assert files(tmp_path) == []

    out.write_bytes(b"an earlier backup")
    kept = await checkin(source.url, "backup", "--out", str(out))
    assert kept.returncode == 1
    assert "--force" in kept.stderr
    assert out.read_bytes() == b"an earlier backup"
    replaced = await checkin(source.url, "backup", "--out", str(out), "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert out.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    assert files(tmp_path) == ["checkin.dump"]


async def test_a_dump_cut_off_midway_leaves_no_file(source: Source, tmp_path: Path) -> None:
    """pg_dump's connection is killed while it waits to read a table: the half-written
    file goes, nothing appears under the name asked for."""
    out = tmp_path / "checkin.dump"
    async with db.connection(source.url) as locker, db.connection(source.url) as watcher:
        async with locker.transaction():
            await locker.execute("lock table checkin in access exclusive mode")
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "server", "backup", "--out", str(out),
                cwd=ROOT, env=clean_env(DATABASE_URL=source.url),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            pid = await eventually(
                lambda: watcher.fetchval(
                    "select pid from pg_stat_activity where application_name = 'pg_dump'"
                    " and datname = current_database() and wait_event_type = 'Lock'"
                )
            )
            partial = files(tmp_path)
            assert len(partial) == 1 and partial[0].endswith(".part")  # being written
            assert await watcher.fetchval("select pg_terminate_backend($1)", pid)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert "pg_dump" in stderr.decode() and "failed" in stderr.decode()
    assert files(tmp_path) == []
