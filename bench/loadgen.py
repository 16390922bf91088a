"""A closed-loop HTTP load generator: C connections each send the next request as soon as the
last one answered, for a fixed time. Prints nothing itself; returns figures."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


@dataclass
class Result:
    duration: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    created_total: int = 0  # 201 answers over the whole run, warm-up included
    total: int = 0  # requests answered over the whole run, warm-up included

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 300) + sum(
            self.errors.values()
        )

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self, name: str) -> str:
        rate = self.ok / self.duration
        return (
            f"{name:<28} {rate:8.0f} req/s  p50 {self.percentile(50) * 1000:6.1f} ms  "
            f"p95 {self.percentile(95) * 1000:6.1f} ms  p99 {self.percentile(99) * 1000:6.1f} ms  "
            f"2xx {self.ok}  errors {self.failed}"
            + (f" {dict(self.statuses)} {dict(self.errors)}" if self.failed else "")
        )

    def merge(self, other: Result) -> Result:
        merged = Result(self.duration + other.duration, self.latencies + other.latencies)
        merged.statuses = self.statuses + other.statuses
        merged.errors = self.errors + other.errors
        merged.created_total = self.created_total + other.created_total
        merged.total = self.total + other.total
        return merged

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies) if self.latencies else float("nan")


async def run(
    base_url: str,
    make_request: Callable[[], Request],
    concurrency: int,
    duration: float,
    warmup: float = 2.0,
) -> Result:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + duration
        result = Result(duration)

        async def worker() -> None:
            while True:
                now = time.perf_counter()
                if now >= stop_at:
                    return
                path, body, headers = make_request()
                sent = time.perf_counter()
                try:
                    async with session.post(path, data=body, headers=headers) as response:
                        await response.read()
                        status = response.status
                    result.total += 1
                    if status == 201:
                        result.created_total += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    if sent >= measure_from:
                        result.errors[type(exc).__name__] += 1
                    continue
                if sent >= measure_from:
                    result.latencies.append(time.perf_counter() - sent)
                    result.statuses[status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result
