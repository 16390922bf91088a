"""Run the date-sensitive tests (marker ``dated``) at every instant of tests/support/clock.py,
``--jobs`` runs at a time (each a pytest session of its own: its own server, databases and
browser). Prints each run's summary as it ends and the whole output of a run that failed;
exits non-zero when any did.

    python -m tests.support.instants [--jobs 2] [pytest arguments...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.clock import INSTANTS

ROOT = Path(__file__).resolve().parents[2]


def run(name: str, extra: list[str], logs: Path) -> tuple[str, int, float, Path]:
    log = logs / f"{name}.log"
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-m", "dated", "--instant", name,
             "-p", "no:cacheprovider", *extra],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return name, code, time.monotonic() - started, log


def summary(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.instants")
    parser.add_argument("--jobs", type=int, default=2, help="instants run at a time")
    args, extra = parser.parse_known_args()
    failed = []
    with tempfile.TemporaryDirectory(prefix="checkin-instants-") as folder:
        logs = Path(folder)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            runs = [pool.submit(run, name, extra, logs) for name in INSTANTS]
            for done in runs:
                name, code, seconds, log = done.result()
                print(f"== dated tests at {name} ({seconds:.0f} s): {summary(log)}", flush=True)
                if code != 0:
                    failed.append(name)
                    print(log.read_text(errors="replace"), flush=True)
    if failed:
        print(f"failed at: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
