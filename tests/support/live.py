"""Real server processes for tests: `python -m server serve` on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.support import clock
from tests.support.fakepush import FakePushService

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any setting a developer may have exported."""
    from server.settings import Settings

    env = {k: v for k, v in os.environ.items() if k not in Settings.env_names()}
    env.update(clock.server_env())
    env.update(extra)
    return env


class ServerProcess:
    def __init__(self, args: list[str], env: Mapping[str, str], port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(  # noqa: SIM115 - closed in stop()
            Path(os.environ.get("TMPDIR", "/tmp")) / f"checkin-test-server-{port}.log", "w+b"
        )
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=dict(env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.log.close()


def push_settings(push_service: FakePushService, **overrides: str) -> dict[str, str]:
    """Settings that point a server at the test push service, with quick retries."""
    return {
        "PUSH_ALLOWED_ORIGINS": push_service.origin,
        "PUSH_RETRY_BASE_SECONDS": "0.2",
        "PUSH_TIMEOUT_SECONDS": "2",
        "PUSH_LEASE_SECONDS": "10",
        **overrides,
    }


def start_server(
    database_url: str, workers: int = 1, port: int | None = None, **settings: str
) -> ServerProcess:
    port = port or free_port()
    env = clean_env(
        DATABASE_URL=database_url,
        PORT=str(port),
        WORKERS=str(workers),
        LOG_LEVEL="warning",
        **settings,
    )
    server = ServerProcess([sys.executable, "-m", "server", "serve"], env, port)
    try:
        server.wait_healthy()
    except Exception:
        server.stop()
        raise
    return server
