"""Command line: ``checkin serve | migrate | dispatch | demo | backup | restore | clinic |
coordinator | patient``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import logging.config
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import msgspec

from server import backup, db, demo
from server.checkins.questionnaires import QuestionnaireError, install_registry
from server.clinics import service as clinics
from server.clock import anchored, server_clock
from server.errors import DomainError, constraint_error
from server.observability import exporter
from server.observability.logconfig import log_config
from server.patients import service as patients
from server.patients.schemas import NewPatient
from server.reminders import vapid
from server.reminders.runtime import push_runtime
from server.settings import Settings, SettingsError

log = logging.getLogger("server")


class CommandError(Exception):
    """A command cannot go on; the message says what to do."""


def _out(args: argparse.Namespace, value: msgspec.Struct | dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(msgspec.json.encode(value).decode())
    else:
        print(text)


def _settings(args: argparse.Namespace) -> Settings:
    env = dict(os.environ)
    for flag in ("host", "port", "workers"):
        value = getattr(args, flag, None)
        if value is not None:
            env[flag.upper()] = str(value)
    settings = Settings.from_env(env)
    if settings.vapid_private_key:
        vapid.parse_private_key(settings.vapid_private_key)  # a bad key stops us here
    return settings


def _database_url(settings: Settings, quiet: bool = False) -> str:
    url, embedded = db.resolve_database_url(settings)
    if embedded and not quiet:
        _notice(
            settings,
            f"Using the embedded PostgreSQL in {settings.pg_data_dir} "
            "(set DATABASE_URL to use your own server).",
        )
    return url


def _notice(settings: Settings, text: str, file: Any = sys.stderr) -> None:
    """A word to the operator: printed, or with LOG_FORMAT=json a log record (every line of
    the output is then JSON)."""
    if settings.log_format == "json":
        log.info("%s", text)
    else:
        print(text, file=file, flush=True)


async def _migrate(url: str) -> list[db.Migration]:
    # No time limit: waiting for another process's lock or building an index can take long.
    async with db.connection(url, command_timeout=None) as conn:
        return await db.migrate(conn)


# --- serve / migrate ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings(args)
    if settings.test_clock is not None:
        # Anchored now, so that this process and every worker read the same time.
        os.environ["TEST_CLOCK"] = anchored(settings.test_clock)
        settings = msgspec.structs.replace(settings, test_clock=os.environ["TEST_CLOCK"])
    logging.config.dictConfig(log_config(settings))
    install_registry(settings.extra_questionnaire_dir)  # a broken file stops us here
    url = _database_url(settings)

    async def check() -> list[db.Migration]:
        async with db.connection(url) as conn:
            return await db.pending_migrations(conn)

    pending = asyncio.run(check())
    if pending and not args.migrate:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
        raise CommandError(
            f"the database has {len(pending)} pending migration(s) ({names}): "
            "run `checkin migrate` first, or start with `checkin serve --migrate`"
        )
    if pending:
        for migration in asyncio.run(_migrate(url)):
            _notice(settings, f"applied {migration.version:04d}_{migration.name}")
    # Worker processes read their settings from the environment: hand them the resolved URL.
    os.environ["DATABASE_URL"] = url
    base = settings.origin
    metrics = (
        f"\n  metrics:          http://{settings.metrics_host}:{settings.metrics_port}/metrics"
        if settings.metrics_port
        else ""
    )
    _notice(
        settings,
        f"Infusion Check-in on http://{settings.host}:{settings.port} "
        f"({settings.workers} worker process{'es' if settings.workers > 1 else ''})\n"
        f"  patient app:      {base}/app/\n"
        f"  dashboard:        {base}/coordinator/ (sign in with the coordinator login)\n"
        f"  coordinator API:  {base}/api/coordinator/patients\n"
        f"  API reference:    {base}/schema\n"
        f"  health:           {base}/healthz, {base}/readyz{metrics}",
        file=sys.stdout,
    )
    # Once stopped, uvicorn raises the signal that stopped it again: SIGTERM then ends this
    # process the normal way, so exit hooks run (the embedded PostgreSQL stops with it).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with exporter.serving(
        settings, url, server_clock(settings.test_clock), processes=settings.workers
    ):
        uvicorn.run(
            "server.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            http="httptools",
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
            # Requests are logged by server/observability/requests.py (ACCESS_LOG), without
            # the query string uvicorn's access log would write.
            access_log=False,
            log_config=log_config(settings),
            log_level=settings.log_level,
            timeout_graceful_shutdown=10,
        )


def _exit_on_signal(signum: int, _frame: object) -> NoReturn:
    sys.exit(128 + signum)


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings(args)
    url = _database_url(settings)
    applied = asyncio.run(_migrate(url))
    if applied:
        for migration in applied:
            print(f"applied {migration.version:04d}_{migration.name}")
    else:
        print("the database is up to date")


def cmd_dispatch(args: argparse.Namespace) -> None:
    """The reminder dispatcher alone, for deployments that keep it out of the web processes."""
    settings = _settings(args)
    logging.config.dictConfig(log_config(settings))
    url = _database_url(settings)

    async def run() -> None:
        async with db.connection(url) as conn:
            if await db.pending_migrations(conn):
                raise CommandError("the database is not migrated: run `checkin migrate` first")
        pool = await db.create_pool(settings, url)
        try:
            async with push_runtime(
                pool, settings, url, server_clock(settings.test_clock), dispatch=True
            ) as push:
                assert push.dispatcher is not None
                _notice(settings, f"dispatching reminders as {push.dispatcher.worker}", sys.stdout)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, stop.set)
                await stop.wait()  # the batch in flight is settled on the way out
        finally:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:
                pool.terminate()

    with exporter.serving(settings, url, server_clock(settings.test_clock), processes=1):
        asyncio.run(run())


def _now(settings: Settings) -> datetime:
    return server_clock(settings.test_clock)()


# --- admin commands ----------------------------------------------------------------------------


def _run_admin(
    args: argparse.Namespace, work: Callable[[db.Connection, Settings], Awaitable[None]]
) -> None:
    settings = _settings(args)
    url = _database_url(settings, quiet=args.json)

    async def run() -> None:
        async with db.connection(url) as conn:
            if await db.pending_migrations(conn):
                raise CommandError("the database is not migrated: run `checkin migrate` first")
            await work(conn, settings)

    asyncio.run(run())


def cmd_clinic_add(args: argparse.Namespace) -> None:
    async def work(conn: db.Connection, settings: Settings) -> None:
        clinic = await clinics.create_clinic(conn, args.name, args.timezone, now=_now(settings))
        _out(args, clinic, f"clinic {clinic.id} created: {clinic.name} ({clinic.timezone})")

    _run_admin(args, work)


def _read_password(args: argparse.Namespace) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password (at least 12 characters): ")
        second = getpass.getpass("Same password again: ")
        if first != second:
            raise CommandError("the two passwords differ; nothing was created")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_coordinator_add(args: argparse.Namespace) -> None:
    password = _read_password(args)

    async def work(conn: db.Connection, settings: Settings) -> None:
        created = await clinics.create_coordinator(
            conn,
            clinic_id=args.clinic,
            email=args.email,
            display_name=args.name or "",
            role=args.role,
            password=password,
            now=_now(settings),
        )
        _out(args, created, f"{created.role} {created.email} created (id {created.id})")

    _run_admin(args, work)


def cmd_coordinator_token(args: argparse.Namespace) -> None:
    async def work(conn: db.Connection, settings: Settings) -> None:
        issued = await clinics.issue_api_token(
            conn, args.email, args.label or "", now=_now(settings)
        )
        _out(
            args,
            issued,
            f"API token for {issued.email} (shown once; store it safely):\n{issued.token}\n"
            f"use it as: Authorization: Bearer {issued.token}",
        )

    _run_admin(args, work)


def cmd_patient_add(args: argparse.Namespace) -> None:
    new = msgspec.convert(
        {
            "display_name": args.name,
            "timezone": args.timezone,
            "condition": args.condition,
            "language": args.language,
            "reminder_time": args.reminder_time,
        },
        NewPatient,
    )

    async def work(conn: db.Connection, settings: Settings) -> None:
        await clinics.get_clinic(conn, args.clinic)
        created = await patients.create_patient(
            conn,
            settings,
            args.clinic,
            new,
            actor_kind="operator",
            actor_id=None,
            now=_now(settings),
        )
        _out(
            args,
            created,
            f"patient {created.patient_id} created\n"
            f"enrollment code: {created.enrollment_code} (expires {created.expires_at:%Y-%m-%d})\n"
            f"enrollment link: {created.enrollment_link}",
        )

    _run_admin(args, work)


def cmd_demo(args: argparse.Namespace) -> None:
    settings = _settings(args)
    url = _database_url(settings)
    asyncio.run(_migrate(url))

    async def run() -> demo.DemoLogins:
        async with db.connection(url) as conn:
            return await demo.seed(conn, settings, now=_now(settings))

    logins = asyncio.run(run())
    _out(args, logins, demo.describe(logins))


# --- backup / restore --------------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace) -> None:
    settings = _settings(args)
    url = _database_url(settings, quiet=args.json)
    done = asyncio.run(backup.backup(url, Path(args.out).absolute(), force=args.force))
    _out(
        args,
        done,
        f"backup written: {done.file}, {backup.describe_size(done.bytes)}, "
        f"pg_dump {done.pg_dump}\nrows:\n{backup.describe_rows(done.rows)}\n"
        f"not backed up (transient): {', '.join(done.not_backed_up)}",
    )


def cmd_restore(args: argparse.Namespace) -> None:
    settings = _settings(args)
    url = _database_url(settings, quiet=args.json)
    done = asyncio.run(backup.restore(url, Path(args.source).absolute()))
    pending = (
        f"\nthe backup predates {len(done.pending_migrations)} migration(s) of this code "
        f"({', '.join(done.pending_migrations)}): run `checkin migrate` before serving"
        if done.pending_migrations
        else " (this code's migrations: all applied)"
    )
    _out(
        args,
        done,
        f"restored {done.file} with pg_restore {done.pg_restore}: "
        f"schema at migration {done.migration:04d}{pending}\n"
        f"rows:\n{backup.describe_rows(done.rows)}",
    )


# --- parsing -----------------------------------------------------------------------------------


def _uuid(value: str) -> Any:
    from uuid import UUID

    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an id (a UUID)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="checkin", description="Infusion Check-in server and administration."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP server (reads DATABASE_URL)")
    serve.add_argument("--host", help="address to listen on (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default PORT or 8000)")
    serve.add_argument("--workers", type=int, help="server processes (default WORKERS or 2)")
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(func=cmd_migrate)

    dispatch = sub.add_parser(
        "dispatch", help="run only the reminder dispatcher (serve also runs one per process)"
    )
    dispatch.set_defaults(func=cmd_dispatch)

    seed = sub.add_parser("demo", help="seed a demo clinic into an empty database")
    seed.add_argument("--json", action="store_true", help="print one JSON object")
    seed.set_defaults(func=cmd_demo)

    dump = sub.add_parser(
        "backup", help="write a pg_dump (custom format) of the database to a file"
    )
    dump.add_argument("--out", required=True, metavar="FILE", help="the backup file to write")
    dump.add_argument("--force", action="store_true", help="replace FILE if it exists")
    dump.add_argument("--json", action="store_true", help="print one JSON object")
    dump.set_defaults(func=cmd_backup)

    load = sub.add_parser("restore", help="restore a backup into an empty database")
    load.add_argument(
        "--from", dest="source", required=True, metavar="FILE", help="a file from `checkin backup`"
    )
    load.add_argument("--json", action="store_true", help="print one JSON object")
    load.set_defaults(func=cmd_restore)

    clinic = sub.add_parser("clinic", help="manage clinics").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    clinic_add = clinic.add_parser("add", help="create a clinic")
    clinic_add.add_argument("name")
    clinic_add.add_argument("--timezone", required=True, help="IANA zone, like Europe/London")
    clinic_add.add_argument("--json", action="store_true", help="print one JSON object")
    clinic_add.set_defaults(func=cmd_clinic_add)

    coordinator = sub.add_parser("coordinator", help="manage coordinators").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    coord_add = coordinator.add_parser(
        "add", help="create a coordinator (password from stdin, or a prompt)"
    )
    coord_add.add_argument("--clinic", required=True, type=_uuid, help="clinic id")
    coord_add.add_argument("--email", required=True)
    coord_add.add_argument("--name", help="name shown to colleagues")
    coord_add.add_argument("--role", choices=["admin", "coordinator"], default="coordinator")
    coord_add.add_argument("--json", action="store_true", help="print one JSON object")
    coord_add.set_defaults(func=cmd_coordinator_add)
    coord_token = coordinator.add_parser("token", help="print a new API token for a coordinator")
    coord_token.add_argument("--email", required=True)
    coord_token.add_argument("--label", help="what the token is for")
    coord_token.add_argument("--json", action="store_true", help="print one JSON object")
    coord_token.set_defaults(func=cmd_coordinator_token)

    patient = sub.add_parser("patient", help="manage patients").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    patient_add = patient.add_parser("add", help="add a patient and print an enrollment code")
    patient_add.add_argument("--clinic", required=True, type=_uuid, help="clinic id")
    patient_add.add_argument("--name", required=True, help="display name (first name is enough)")
    patient_add.add_argument("--timezone", required=True, help="IANA zone, like America/Chicago")
    patient_add.add_argument(
        "--condition", choices=["crps", "fibromyalgia", "lyme", "other"], default="other"
    )
    patient_add.add_argument("--language", choices=["en", "es"], default="en")
    patient_add.add_argument("--reminder-time", default="18:00", help='local "HH:MM"')
    patient_add.add_argument("--json", action="store_true", help="print one JSON object")
    patient_add.set_defaults(func=cmd_patient_add)
    return parser


def _fail(message: str, code: int = 1) -> NoReturn:
    print(f"checkin: error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SettingsError as exc:
        _fail(f"configuration: {exc}", 2)
    except (
        CommandError,
        db.DatabaseError,
        QuestionnaireError,
        backup.BackupError,
        exporter.ExporterError,
    ) as exc:
        _fail(str(exc))
    except DomainError as exc:
        _fail(exc.message)
    except msgspec.ValidationError as exc:
        _fail(str(exc).replace("`$.", "`"))
    except asyncpg.IntegrityConstraintViolationError as exc:
        error = constraint_error(exc)
        _fail(error.message if error else "the database refused the change")
    except (OSError, asyncpg.PostgresError) as exc:
        _fail(f"cannot use the database: {type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
