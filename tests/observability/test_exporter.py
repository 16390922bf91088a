"""The metrics port: a port that cannot be served stops the start naming it, and a standalone
`checkin dispatch` serves its own metrics."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeDatabase
from tests.observability.workers import scrape, value, workers_of
from tests.support.live import ROOT, clean_env, free_port, start_server

pytestmark = pytest.mark.slow


async def test_a_metrics_port_in_use_stops_the_start_naming_it(
    make_database: MakeDatabase,
) -> None:
    url = await make_database()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "server", "serve"],
            cwd=ROOT,
            env=clean_env(DATABASE_URL=url, PORT=str(free_port()), METRICS_PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "METRICS_PORT" in result.stderr and "Traceback" not in result.stderr


async def test_checkin_dispatch_serves_its_own_metrics(make_database: MakeDatabase) -> None:
    url = await make_database()
    port = free_port()
    process = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "server", "dispatch"],
        cwd=ROOT,
        env=clean_env(DATABASE_URL=url, METRICS_PORT=str(port), LOG_LEVEL="warning"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                samples = await asyncio.to_thread(scrape, port)
            except httpx.HTTPError:  # not listening yet
                samples = {}
            if value(samples, "checkin_dispatcher_last_pass_timestamp_seconds") > 0:
                break
            assert asyncio.get_running_loop().time() < deadline, samples
            assert process.poll() is None
            await asyncio.sleep(0.2)
        assert value(samples, "checkin_database_up") == 1
        assert value(samples, "checkin_migrations_pending") == 0
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 15)


def _multiprocess_folder(server_pid: int) -> Path:
    [worker, *_] = sorted(workers_of(server_pid))
    environ = (Path("/proc") / str(worker) / "environ").read_bytes().split(b"\0")
    [folder] = [v.split(b"=", 1)[1] for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(folder.decode())


async def test_each_start_records_in_a_fresh_folder_removed_at_the_end(
    make_database: MakeDatabase,
) -> None:
    url = await make_database()
    folders = []
    for _ in range(2):
        server = await asyncio.to_thread(
            start_server, url, workers=2, METRICS_PORT=str(free_port())
        )
        try:
            folder = _multiprocess_folder(server.process.pid)
            assert folder.is_dir() and any(folder.glob("counter_*.db"))
            folders.append(folder)
        finally:
            await asyncio.to_thread(server.stop)
        assert not folder.exists()
    assert folders[0] != folders[1]
