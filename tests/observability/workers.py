"""Which worker process of a live server holds a client's connection (read from /proc), so a
test can send requests to each worker on purpose, and scrape what /metrics says."""

from __future__ import annotations

import http.client
import os
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

PROC = Path("/proc")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def workers_of(server_pid: int) -> set[int]:
    """The uvicorn worker processes under `checkin serve` (its spawned children)."""
    found = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == server_pid and fields[0] != "Z" and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in (PROC / str(pid) / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def holder(workers: set[int], server_port: int, client_port: int) -> int | None:
    """The worker whose socket is the server's end of the connection from ``client_port``."""
    wanted = None
    for table in ("tcp", "tcp6"):
        for line in (PROC / "net" / table).read_text().splitlines()[1:]:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], int(parts[9])
            if (
                int(local.rsplit(":", 1)[1], 16) == server_port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                wanted = inode
    if wanted is None:
        return None
    return next((pid for pid in workers if wanted in _socket_inodes(pid)), None)


class Pinned:
    """A keep-alive connection to one worker (uvicorn closes it after 5 idle seconds: use it
    at once; ``requests`` fails rather than reconnecting, perhaps to the other worker)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.connection.auto_open = 0
        self.connection.connect()
        self.client_port: int = self.connection.sock.getsockname()[1]

    def get(self, path: str, headers: dict[str, str] | None = None) -> int:
        self.connection.request("GET", path, headers=headers or {})
        response = self.connection.getresponse()
        response.read()
        self.used = time.monotonic()
        return response.status

    def close(self) -> None:
        self.connection.close()


def connection_per_worker(server_pid: int, port: int, within: float = 30.0) -> dict[int, Pinned]:
    """One open connection to each worker process: new connections until every worker
    accepted one (a worker just started may take a while), the others closed."""
    workers = workers_of(server_pid)
    pinned: dict[int, Pinned] = {}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        connection = Pinned(port)
        assert connection.get("/readyz") == 200
        pid = holder(workers, port, connection.client_port)
        if pid is not None and pid not in pinned:
            pinned[pid] = connection
        else:
            connection.close()
            time.sleep(0.05)
        for kept in pinned.values():  # well within uvicorn's 5 idle seconds
            if time.monotonic() - kept.used > 2:
                assert kept.get("/readyz") == 200
        if len(pinned) == len(workers):
            return pinned
    for connection in pinned.values():
        connection.close()
    raise AssertionError(f"could not reach every worker of {workers} within {within} s")


def scrape(port: int) -> Samples:
    """Every sample /metrics serves on the metrics port, by name and labels."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10.0).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
