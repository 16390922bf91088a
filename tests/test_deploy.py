"""The deployment files hang together (no Docker engine runs here, so their shape is checked)."""

from __future__ import annotations

import re

import yaml

from server.settings import Settings
from tests.support.live import ROOT


def test_compose_services_start_in_order() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "migrate", "web", "prometheus"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["db"]["volumes"])
    assert services["migrate"]["command"] == ["checkin", "migrate"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # Replicas must not fight over one host port.
    assert re.search(r"\d+-\d+}?:8000", services["web"]["ports"][0])
    for service in ("migrate", "web"):
        for name in services[service]["environment"]:
            assert name in Settings.env_names(), name


def test_dockerfile_runs_the_server_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER checkin" in dockerfile
    assert 'CMD ["checkin", "serve"]' in dockerfile
    assert "/healthz" in dockerfile
    for folder in ("server", "sql", "pwa"):
        assert f"COPY {folder} ./{folder}" in dockerfile
