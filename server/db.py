"""Database access: the pool, the migrations runner, named queries and row -> Struct."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from server.settings import Settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
QUERIES_DIR = SQL_DIR / "queries"

# Arbitrary constant shared by every process that migrates this database.
MIGRATION_LOCK_KEY = 7_263_450_118_342_001

T = TypeVar("T")
V = TypeVar("V")

if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    # asyncpg's classes are generic only in its stubs. At run time Litestar reads these
    # annotations to inject dependencies and must not try to validate a connection.
    Connection = Any
    Pool = Any


class DatabaseError(Exception):
    """The database cannot be used as configured (message is for an operator)."""


# --- named queries ---------------------------------------------------------------------------

Kind = Literal["one", "many", "scalar", "exec"]
_NAME_RE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*:(one|many|scalar|exec)\s*$", re.M)


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    kind: Kind
    sql: str


def parse_queries(text: str, source: str) -> dict[str, Query]:
    """Split a file of ``-- name: foo :one`` blocks into queries."""
    found: dict[str, Query] = {}
    matches = list(_NAME_RE.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip().rstrip(";").strip()
        name, kind = match.group(1), match.group(2)
        if not body:
            raise DatabaseError(f"{source}: query {name} has no SQL")
        if name in found:
            raise DatabaseError(f"{source}: query {name} is defined twice")
        found[name] = Query(name, kind, body)  # type: ignore[arg-type]
    return found


def load_queries(directory: Path = QUERIES_DIR) -> dict[str, Query]:
    queries: dict[str, Query] = {}
    for path in sorted(directory.glob("*.sql")):
        domain = path.stem
        for name, query in parse_queries(path.read_text(encoding="utf-8"), path.name).items():
            queries[f"{domain}.{name}"] = query
    return queries


QUERIES = load_queries()


# --- typed queries ----------------------------------------------------------------------------
#
# Each named query is declared once, in its domain's store, with what it returns: ``One`` and
# ``Many`` a row Struct, ``Scalar`` one value's type, ``Exec`` nothing. Declaring checks the
# query's ``:kind`` in its file, so a query read the wrong way stops the server at import;
# tests/test_queries.py PREPAREs every declared query against the migrated schema and checks
# that its columns are exactly its Struct's fields, and that every query is declared.

DECLARED: list[Declared] = []


class Declared:
    kind: Kind

    def __init__(self, name: str) -> None:
        query = QUERIES.get(name)
        if query is None:
            raise DatabaseError(f"no query named {name} in {QUERIES_DIR}")
        if query.kind != self.kind:
            raise DatabaseError(
                f"query {name} is declared :{query.kind} in its file but read as :{self.kind}"
            )
        self.name = name
        self.sql = query.sql
        DECLARED.append(self)

    async def each(self, conn: Connection, args: Iterable[Sequence[object]]) -> None:
        """Run the statement once for each argument list, pipelined, results discarded."""
        await conn.executemany(self.sql, args)


class One(Declared, Generic[T]):
    """A query returning at most one row, read into ``row``."""

    kind = "one"

    def __init__(self, name: str, row: type[T]) -> None:
        super().__init__(name)
        self.row = row

    async def __call__(self, conn: Connection, *args: object) -> T | None:
        record = await conn.fetchrow(self.sql, *args)
        return None if record is None else msgspec.convert(dict(record), self.row)


class Many(Declared, Generic[T]):
    """A query returning rows, each read into ``row``."""

    kind = "many"

    def __init__(self, name: str, row: type[T]) -> None:
        super().__init__(name)
        self.row = row

    async def __call__(self, conn: Connection, *args: object) -> list[T]:
        return [msgspec.convert(dict(r), self.row) for r in await conn.fetch(self.sql, *args)]


class Scalar(Declared, Generic[V]):
    """A query returning one value (its first column of its first row), of type ``value``."""

    kind = "scalar"

    def __init__(self, name: str, value: type[V]) -> None:
        super().__init__(name)
        self.value = value

    async def __call__(self, conn: Connection, *args: object) -> V | None:
        found = await conn.fetchval(self.sql, *args)
        return None if found is None else msgspec.convert(found, self.value)

    async def required(self, conn: Connection, *args: object) -> V:
        """The value, which the query always returns (an insert's new id, a count)."""
        found = await self(conn, *args)
        if found is None:
            raise DatabaseError(f"query {self.name} returned no value")
        return found


class Exec(Declared):
    """A statement run for its effect; returns PostgreSQL's status line (``UPDATE 3``)."""

    kind = "exec"

    async def __call__(self, conn: Connection, *args: object) -> str:
        status: str = await conn.execute(self.sql, *args)
        return status


# --- pool -------------------------------------------------------------------------------------

_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + _json_encoder.encode(value)  # jsonb binary format: version 1, then text


def _decode_jsonb(data: bytes) -> Any:
    return _json_decoder.decode(data[1:])


async def _init_connection(conn: Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )
    await conn.set_type_codec(
        "json",
        schema="pg_catalog",
        encoder=_json_encoder.encode,
        decoder=_json_decoder.decode,
        format="binary",
    )


async def _reset_nothing(conn: Connection) -> None:
    """Connection reset on release back to the pool: nothing to do.

    asyncpg's default reset sends one more query per request (UNLISTEN, RESET ALL, ...).
    This code keeps no session state on pooled connections (no LISTEN, SET, advisory locks
    or cursors), and asyncpg still rolls back a transaction left open before calling this.
    """


async def create_pool(settings: Settings, dsn: str) -> Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        command_timeout=settings.db_command_timeout,
        init=_init_connection,
        reset=_reset_nothing,
        # JIT pays off for long analytical queries, not for ours: it added ~400 ms to the
        # board's plan at 2,000 patients (bench/dashboard.py) to save a few.
        server_settings={"application_name": "checkin", "timezone": "UTC", "jit": "off"},
    )


async def connect(dsn: str, command_timeout: float | None = 60.0) -> Connection:
    conn: Connection = await asyncpg.connect(
        dsn, command_timeout=command_timeout, server_settings={"timezone": "UTC", "jit": "off"}
    )
    await _init_connection(conn)
    return conn


@asynccontextmanager
async def connection(dsn: str, command_timeout: float | None = 60.0) -> AsyncIterator[Connection]:
    conn = await connect(dsn, command_timeout)
    try:
        yield conn
    finally:
        await conn.close()


# --- migrations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations: list[Migration] = []
    for path in sorted(directory.iterdir()):
        match = _MIGRATION_RE.match(path.name)
        if not match:
            raise DatabaseError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if migrations and migrations[-1].version == version:
            raise DatabaseError(f"{path.name}: migration {version} exists twice")
        migrations.append(Migration(version, match.group(2), path.read_text(encoding="utf-8")))
    return migrations


_CREATE_MIGRATIONS_TABLE = """
create table if not exists schema_migration (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
)
"""


async def _applied(conn: Connection) -> dict[int, str]:
    exists = await conn.fetchval("select to_regclass('schema_migration') is not null")
    if not exists:
        return {}
    rows = await conn.fetch("select version, checksum from schema_migration")
    return {row["version"]: row["checksum"] for row in rows}


def _check_history(applied: Mapping[int, str], migrations: list[Migration]) -> list[Migration]:
    known = {m.version: m for m in migrations}
    for version, checksum in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise DatabaseError(
                f"the database has migration {version:04d}, which this code does not know: "
                "it is newer than this code; deploy the newer code"
            )
        if migration.checksum != checksum:
            raise DatabaseError(
                f"migration {version:04d}_{migration.name}.sql was changed after it was applied; "
                "migrations are forward only: add a new one instead"
            )
    return [m for m in migrations if m.version not in applied]


async def pending_migrations(conn: Connection) -> list[Migration]:
    return _check_history(await _applied(conn), load_migrations())


async def migrate(conn: Connection) -> list[Migration]:
    """Apply pending migrations in order, each in its own transaction, under an advisory lock.

    Any number of processes may call this at once: they queue on the lock, and each one
    re-reads what is applied once it holds it.
    """
    await conn.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(_CREATE_MIGRATIONS_TABLE)
        pending = _check_history(await _applied(conn), load_migrations())
        for migration in pending:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "insert into schema_migration (version, name, checksum) values ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
        return pending
    finally:
        await conn.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


# --- embedded PostgreSQL ----------------------------------------------------------------------


def embedded_database_url(data_dir: str) -> str:
    """Start (or join) the embedded PostgreSQL in ``data_dir`` and return its URL.

    The server keeps running while this process lives and stops when the last
    process that asked for it exits.
    """
    # pgserver narrates every step at INFO and platformdirs warns about XDG_RUNTIME_DIR.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        from pgserver.postgres_server import get_server
    except ImportError as exc:
        raise DatabaseError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "install the 'embedded' extra (pip install -e '.[embedded]') or set DATABASE_URL"
        ) from exc
    path = Path(data_dir).resolve()
    if path.exists() and any(path.iterdir()) and not (path / "PG_VERSION").exists():
        raise DatabaseError(
            f"PG_DATA_DIR {path} holds other files: point it at an empty or new folder"
        )
    path.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(path, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare subprocess and OS errors
        raise DatabaseError(
            f"the embedded PostgreSQL in {path} did not start ({type(exc).__name__}); "
            f"its log is {path / 'log'}"
        ) from exc
    url: str = server.get_uri()
    return url


def resolve_database_url(settings: Settings) -> tuple[str, bool]:
    """The database URL to use, and whether it is the embedded server."""
    if settings.database_url:
        return settings.database_url, False
    return embedded_database_url(settings.pg_data_dir), True


async def ping(pool: Pool, limit: float) -> bool:
    """Whether the database answers within ``limit`` seconds."""
    try:
        async with asyncio.timeout(limit):
            return bool(await pool.fetchval("select 1"))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False


async def listen_forever(
    dsn: str,
    channel: str,
    on_notify: Callable[[str], None],
    *,
    on_listening: Callable[[], None],
    on_lost: Callable[[], None],
    what: str,
    probe_every: float = 20.0,
    retry_every: float = 1.0,
) -> None:
    """Keep a LISTEN connection on ``channel`` for as long as the server runs, reconnecting on
    loss. ``on_listening`` runs once each (re)connection is listening (notifications sent while
    it was down are lost: the caller catches up there); ``on_lost`` when it goes down."""
    while True:
        conn: asyncpg.Connection[asyncpg.Record] | None = None
        try:
            conn = await asyncpg.connect(dsn, timeout=10)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, event=lost: event.set())
            await conn.add_listener(channel, lambda _c, _pid, _ch, payload: on_notify(str(payload)))
            on_listening()
            while not lost.is_set():
                # A silently dropped network raises nothing: probe it now and then.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=probe_every)
                if not lost.is_set():
                    await conn.fetchval("select 1", timeout=5)
            log.warning("%s: listening connection lost; reconnecting", what)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("%s: cannot listen (%s); retrying", what, type(exc).__name__)
        finally:
            on_lost()
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
        await asyncio.sleep(retry_every)
