"""Every test run leaves no process and no database behind.

The run marks its environment (``CHECKIN_TEST_RUN``), which every process it starts inherits:
servers, command lines, PostgreSQL clusters, browsers. At the end of the session (after every
fixture's teardown) a marked process still running is reported, other than the suite's own
embedded PostgreSQL and its workers (shared by runs, stopped by pgserver when the last user
exits), and so is any test database this run created; the run then fails.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import asyncpg

PROC = Path("/proc")
MARK = "CHECKIN_TEST_RUN"


def mark() -> None:
    os.environ[MARK] = str(os.getpid())


class Process:
    def __init__(self, pid: int, parent: int, command: str) -> None:
        self.pid, self.parent, self.command = pid, parent, command


def _marked() -> list[Process]:
    """The live processes that carry this run's mark."""
    tag = f"{MARK}={os.getpid()}".encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if tag not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if stat[0] != "Z":
            found.append(Process(int(entry.name), int(stat[1]), command.strip()))
    return found


def processes_left(shared: str, wait: float = 5.0) -> list[str]:
    """This run's processes still running (after waiting a little for those on their way
    out), leaving out the PostgreSQL whose command line names ``shared`` and its children."""
    deadline = time.monotonic() + wait
    while True:
        marked = _marked()
        keep = {p.pid for p in marked if shared in p.command}
        left = [
            f"{p.pid}: {p.command[:160]}"
            for p in marked
            if p.pid not in keep and p.parent not in keep
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


async def _databases(url: str, marker: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "select datname from pg_database where position($1 in datname) > 0", marker
        )
    finally:
        await conn.close()
    return [r["datname"] for r in rows]


def databases_left(url: str) -> list[str]:
    """Databases of this run (their names carry its pid: tests/pg.py new_name) still there."""
    return asyncio.run(_databases(url, f"_{os.getpid()}_"))
