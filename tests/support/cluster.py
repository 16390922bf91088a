"""A PostgreSQL cluster of a test's own, which it may restart, crash and restore into.

Uses the binaries that come with the embedded server (pgserver: initdb, pg_ctl, pg_dump,
pg_restore), so it needs nothing from the machine. Listens on a free port on 127.0.0.1 and on
a socket in its own folder. PostgreSQL refuses to run as root: as root, the cluster runs as
the unprivileged user pgserver creates for the embedded server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

from tests.support.live import free_port

StopMode = Literal["smart", "fast", "immediate"]


def bin_dir() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _run_as() -> str | None:
    """The user to run PostgreSQL as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    from pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists("pgserver")
    ensure_prefix_permissions(bin_dir())
    ensure_folder_permissions(bin_dir(), 0o555)
    ensure_folder_permissions(bin_dir().parent / "lib", 0o444)
    return "pgserver"


class Cluster:
    """initdb, then start; restart/stop in any of pg_ctl's modes; remove() deletes it all."""

    def __init__(self, name: str = "checkin-cluster") -> None:
        self.user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.data = self.root / "data"
        self.port = free_port()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            self.root.chmod(0o755)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-sync")  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nmax_connections = 100\n"
                "fsync = on\nlogging_collector = off\n"
            )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(bin_dir() / program), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return command

    def _run(self, program: str, *args: str, timeout: float = 120.0) -> str:
        done = subprocess.run(
            self._command(program, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                  "-t", "60", "start")  # fmt: skip

    def stop(self, mode: StopMode = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: StopMode = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "restart")  # fmt: skip

    def running(self) -> bool:
        done = subprocess.run(
            self._command("pg_ctl", "-D", str(self.data), "status"),
            capture_output=True,
            check=False,
            cwd=self.root,
        )
        return done.returncode == 0

    def log(self) -> str:
        path = self.root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def remove(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
