"""Backups: pg_dump's custom format, written whole or not at all; pg_restore into an empty
database, then a check that the restored schema is the one this code's migrations make.

The tools come from PATH or, failing that, from the embedded server (pgserver), whichever
matches the server's major version (pg_dump refuses a server newer than itself; an archive
is read only by a pg_restore at least as new as the pg_dump that wrote it).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec

from server import db

# Unlogged: each server process's note of the clinics whose board it is showing, renewed every
# minute. Its rows are not backed up (a restored board subscribes again when it is opened).
TRANSIENT_TABLES = ("board_watch",)


class BackupError(Exception):
    """A backup or restore cannot go on; the message says what to do (and holds no PHI)."""


class BackupDone(msgspec.Struct, frozen=True):
    file: str
    bytes: int
    pg_dump: str
    rows: dict[str, int]
    not_backed_up: list[str]


class RestoreDone(msgspec.Struct, frozen=True):
    file: str
    pg_restore: str
    migration: int
    pending_migrations: list[str]
    rows: dict[str, int]


@dataclass(frozen=True, slots=True)
class Tool:
    path: Path
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def _embedded_bin_dir() -> Path | None:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # platformdirs, on import
    try:
        from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH)


def _version_of(path: Path) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - a PostgreSQL client tool found above
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\) (\d+(?:\.\d+)?)", done.stdout)
    return match.group(1) if match and done.returncode == 0 else None


def find_tool(name: str, server_major: int) -> Tool:
    """``pg_dump`` or ``pg_restore`` for a server of ``server_major``: the first of PATH's and
    the embedded server's of that major version, else the closest newer one."""
    places: list[Path] = []
    on_path = shutil.which(name)
    if on_path:
        places.append(Path(on_path))
    embedded = _embedded_bin_dir()
    if embedded is not None and (embedded / name).is_file():
        places.append(embedded / name)
    tools = [Tool(path, version) for path in places if (version := _version_of(path))]
    same = [tool for tool in tools if tool.major == server_major]
    newer = sorted((tool for tool in tools if tool.major > server_major), key=lambda t: t.major)
    if same or newer:
        return (same or newer)[0]
    found = ", ".join(f"{tool.path} ({tool.version})" for tool in tools) or "none"
    raise BackupError(
        f"no {name} for PostgreSQL {server_major} (found: {found}): install PostgreSQL "
        f"{server_major}'s client tools (Debian: postgresql-client-{server_major}) "
        "and put them on PATH"
    )


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL for a libpq tool's --dbname without its password, and the environment that
    carries the password instead (so it does not show in the process list)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    env = dict(os.environ)
    if at and ":" in userinfo:
        user, _, password = userinfo.partition(":")
        if password:
            env["PGPASSWORD"] = unquote(password)
        parts = parts._replace(netloc=f"{user}@{hostport}" if user else hostport)
    return urlunsplit(parts), env


_COPY_FAILED = re.compile(r'(COPY failed for table "[^"]*").*')


def _tool_errors(stderr: str) -> str:
    """What a tool said went wrong, without the row values a failed COPY may quote."""
    lines = [line.strip() for line in stderr.splitlines() if "error:" in line]
    lines = [_COPY_FAILED.sub(r"\1", line) for line in lines]
    return "; ".join(lines[:3]) or "no message"


async def _run(tool: Tool, args: list[str], env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        str(tool.path),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise BackupError(
            f"{tool.path.name} {tool.version} failed (exit {process.returncode}): "
            f"{_tool_errors(stderr.decode(errors='replace'))}"
        )


async def table_counts(conn: db.Connection) -> dict[str, int]:
    """Rows of every permanent table in the public schema (the unlogged ones are transient)."""
    names = await conn.fetch(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relpersistence = 'p'"
        " order by c.relname"
    )
    counts: dict[str, int] = {}
    for row in names:
        name = row["relname"]
        quoted = '"' + name.replace('"', '""') + '"'
        counts[name] = await conn.fetchval(f"select count(*) from public.{quoted}")
    return counts


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise BackupError(f"{out} exists: name a new file, or add --force to replace it")
    if out.is_dir():
        raise BackupError(f"{out} is a folder: name a file in it")
    if not out.parent.is_dir():
        raise BackupError(f"the folder {out.parent} does not exist: create it first")


def _partial_file(out: Path) -> Path:
    """An empty file next to ``out`` (readable by its owner only) for pg_dump to fill."""
    try:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    except OSError as exc:
        raise BackupError(
            f"cannot write in {out.parent} ({exc.strerror}): choose a folder you can write to"
        ) from None
    os.close(fd)
    return Path(name)


def _publish(partial: Path, out: Path, force: bool) -> int:
    """Move the finished dump into place (a rename: readers see all of it or nothing)."""
    _fsync(partial)
    if out.exists() and not force:
        raise BackupError(f"{out} appeared during the backup; nothing was replaced")
    partial.replace(out)
    _fsync(out.parent)
    return out.stat().st_size


def _discard(partial: Path) -> None:
    partial.unlink(missing_ok=True)


async def backup(url: str, out: Path, *, force: bool) -> BackupDone:
    """pg_dump -Fc of the database into ``out``, counted in the same snapshot."""
    _check_out(out, force)
    async with db.connection(url, command_timeout=None) as conn:
        if not await conn.fetchval("select to_regclass('public.schema_migration') is not null"):
            raise BackupError(
                "this database has no Infusion Check-in tables (no schema_migration): "
                "check DATABASE_URL"
            )
        tool = find_tool("pg_dump", conn.get_server_version().major)
        target, env = libpq_target(url)
        # pg_dump reads the snapshot this transaction exported, so the counts below are of
        # exactly the rows in the file, however busy the server is.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("select pg_export_snapshot()")
            partial = _partial_file(out)
            try:
                await _run(
                    tool,
                    ["--format=custom", f"--snapshot={snapshot}", "--no-unlogged-table-data",
                     f"--file={partial}", f"--dbname={target}"],
                    env,
                )  # fmt: skip
                rows = await table_counts(conn)
                size = _publish(partial, out, force)
            except BaseException:
                _discard(partial)
                raise
    return BackupDone(str(out), size, tool.version, rows, list(TRANSIENT_TABLES))


def _check_source(source: Path) -> None:
    if not source.is_file():
        raise BackupError(f"{source} is not a file: name a backup made by `checkin backup`")


async def restore(url: str, source: Path) -> RestoreDone:
    """pg_restore ``source`` into an empty database in one transaction (all or nothing), then
    check its migrations against this code's."""
    _check_source(source)
    async with db.connection(url, command_timeout=None) as conn:
        existing = await conn.fetchval(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')"
        )
        if existing:
            raise BackupError(
                f"the database is not empty (it has {existing} tables or sequences): restore "
                "only into a new, empty database (createdb NAME, then point DATABASE_URL at it)"
            )
        tool = find_tool("pg_restore", conn.get_server_version().major)
        target, env = libpq_target(url)
        await _run(
            tool,
            ["--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges",
             f"--dbname={target}", str(source)],
            env,
        )  # fmt: skip
        if not await conn.fetchval("select to_regclass('public.schema_migration') is not null"):
            raise BackupError(
                f"{source} restored, but it holds no schema_migration table: "
                "it is not a backup of Infusion Check-in"
            )
        try:
            pending = await db.pending_migrations(conn)
        except db.DatabaseError as exc:
            raise BackupError(f"{source} restored, but {exc}") from None
        migration = await conn.fetchval("select coalesce(max(version), 0) from schema_migration")
        await conn.execute("analyze")  # pg_restore leaves the planner without statistics
        rows = await table_counts(conn)
    return RestoreDone(
        str(source),
        tool.version,
        migration,
        [f"{m.version:04d}_{m.name}" for m in pending],
        rows,
    )


def describe_rows(rows: dict[str, int]) -> str:
    return "\n".join(f"  {name:<20} {count:>10,}" for name, count in rows.items())


def describe_size(size: int) -> str:
    return f"{size:,} bytes ({size / 1_000_000:.1f} MB)"
