"""The optional Prometheus of docker-compose.yml: its scrape config and alert rules pass
promtool (Debian's prometheus package; no Docker daemon runs here), the rules fire on what
they are for (promtool's unit tests), and they name only metrics the server serves."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.core import Metric

from server.observability.exporter import DatabaseCollector
from tests.conftest import MakeDatabase
from tests.support.clock import now
from tests.support.live import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is missing: apt-get install prometheus (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.mark.parametrize(
    "command",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
    ],
    ids=" ".join,
)
def test_promtool_accepts_the_config_and_the_rules_pass_their_tests(
    command: tuple[str, ...],
) -> None:
    result = subprocess.run(
        [_promtool(), *command], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_compose_runs_prometheus_on_demand_scraping_every_web_replica() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    web = services["web"]["environment"]
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    [job] = config["scrape_configs"]
    [discovery] = job["dns_sd_configs"]
    # Every replica of the web service, on the port its server serves metrics on.
    assert discovery == {"names": ["web"], "type": "A", "port": int(web["METRICS_PORT"]),
                         "refresh_interval": "15s"}  # fmt: skip
    assert web["METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - the compose network only
    # Reachable on the compose network only: the metrics port is never published.
    assert all(str(web["METRICS_PORT"]) not in str(port) for port in services["web"]["ports"])


async def test_alert_rules_name_only_metrics_the_server_serves(
    make_database: MakeDatabase,
) -> None:
    url = await make_database()
    # What a worker records (this process's registry holds the same series), and what a
    # scrape reads from the database.
    read = await asyncio.to_thread(lambda: list(DatabaseCollector(url, now).collect()))
    served = {
        name
        for family in [*REGISTRY.collect(), *read]
        if family.name.startswith("checkin_")
        for name in _sample_names(family)
    }
    assert "checkin_http_requests_total" in served
    named = set(re.findall(r"\bcheckin_[a-z_]+", (PROMETHEUS / "alerts.yml").read_text()))
    assert named, "the rules name no metric"
    assert named <= served, named - served


def _sample_names(family: Metric) -> set[str]:
    """The names a family's samples have (or will have, once its labels are used)."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_count", "_sum"),
        "gauge": ("",),
    }[family.type]
    return {family.name + suffix for suffix in suffixes}
