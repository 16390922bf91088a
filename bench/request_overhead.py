"""What counting, timing and naming a request costs: the observation layer
(server/observability/requests.py) around an app that answers at once, against the bare app,
with the metrics in prometheus-client's multiprocess files as `checkin serve` records them.
Prints microseconds of CPU per request (one core, no network, no database), without and with
the access log (JSON lines, formatted and written to /dev/null).

    python bench/request_overhead.py [--requests 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"authorization", b"Bearer " + b"t" * 43),
    (b"content-type", b"application/json"),
    (b"content-length", b"180"),
]


async def answer(scope: object, receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"{}", "more_body": False})  # type: ignore[operator]


async def sent(message: object) -> None:
    return None


async def received() -> dict[str, object]:
    return {}


async def per_request(app: object, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        scope = {"type": "http", "method": "POST", "headers": HEADERS,
                 "path_template": "/api/checkins"}  # fmt: skip
        await app(scope, received, sent)  # type: ignore[operator]
    return (time.process_time() - started) / requests * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="checkin-metrics-bench-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # before prometheus_client is imported
    try:
        from server.observability.logconfig import log_config
        from server.settings import Settings

        # The request lines as JSON, written where they cost their formatting but print nothing.
        with open(os.devnull, "w") as devnull:  # noqa: ASYNC230
            stderr, sys.stderr = sys.stderr, devnull
            logging.config.dictConfig(log_config(Settings(log_format="json", access_log=True)))
            sys.stderr = stderr
            await measure(args.requests)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def measure(requests: int) -> None:
    from server.observability.requests import ObservedRequests

    for log_requests in (False, True):
        observed = ObservedRequests(answer, log_requests=log_requests)
        bare = await per_request(answer, requests)
        wrapped = await per_request(observed, requests)
        print(
            f"access log {'on ' if log_requests else 'off'}: bare app {bare:.1f} us, "
            f"observed {wrapped:.1f} us: {wrapped - bare:.1f} us of CPU per request"
        )


if __name__ == "__main__":
    asyncio.run(main())
