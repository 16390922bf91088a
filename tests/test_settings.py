from __future__ import annotations

import re
import subprocess
import sys

import pytest

from server.settings import Settings, SettingsError
from tests.support.live import ROOT, clean_env


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.M))
    assert documented == set(Settings.env_names())


def test_defaults_and_conversion() -> None:
    settings = Settings.from_env(
        {"PORT": "9001", "DB_COMMAND_TIMEOUT": "2.5", "ACCESS_LOG": "true"}
    )
    assert settings.port == 9001 and settings.db_command_timeout == 2.5 and settings.access_log
    assert settings.origin == "http://127.0.0.1:9001" and not settings.secure_cookies
    public = Settings.from_env({"PUBLIC_URL": "https://checkin.example.org/"})
    assert public.origin == "https://checkin.example.org" and public.secure_cookies


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"WORKERS": "0"}, "WORKERS"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"ACCESS_LOG": "maybe"}, "ACCESS_LOG"),
        ({"PUBLIC_URL": "checkin.example.org"}, "PUBLIC_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DB_POOL_MIN_SIZE": "20", "DB_POOL_MAX_SIZE": "5"}, "DB_POOL_MIN_SIZE"),
        ({"PUSH_ALLOWED_ORIGINS": "http://fcm.googleapis.com"}, "PUSH_ALLOWED_ORIGINS"),
        ({"PUSH_ALLOWED_ORIGINS": "https://push.example.org/path"}, "PUSH_ALLOWED_ORIGINS"),
        ({"PUSH_ALLOWED_ORIGINS": "https://*"}, "PUSH_ALLOWED_ORIGINS"),
        ({"VAPID_SUBJECT": "ops@example.org"}, "VAPID_SUBJECT"),
        ({"PUSH_LEASE_SECONDS": "0"}, "PUSH_LEASE_SECONDS"),
        ({"PUSH_LEASE_SECONDS": "20", "PUSH_BATCH_SIZE": "300"}, "PUSH_LEASE_SECONDS"),
        ({"DISPATCHER": "sometimes"}, "DISPATCHER"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"METRICS_PORT": "0"}, "METRICS_PORT"),
        ({"METRICS_PORT": "8000"}, "METRICS_PORT"),
    ],
)
def test_wrong_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_server_refuses_to_start_with_a_bad_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        cwd=ROOT,
        env=clean_env(PORT="eighty"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PORT" in result.stderr and "Traceback" not in result.stderr


def test_push_origins_default_to_the_browsers_push_services() -> None:
    origins = Settings().push_origins
    assert "https://fcm.googleapis.com" in origins and "https://web.push.apple.com" in origins
    local = Settings.from_env({"PUSH_ALLOWED_ORIGINS": "http://127.0.0.1:9999, https://a.test"})
    assert local.push_origins == ("http://127.0.0.1:9999", "https://a.test")


@pytest.mark.parametrize("command", ["serve", "dispatch"])
def test_a_bad_vapid_key_stops_the_start_naming_it(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", command],
        cwd=ROOT,
        env=clean_env(VAPID_PRIVATE_KEY="not-a-key", DATABASE_URL="postgresql://127.0.0.1:1/x"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "VAPID_PRIVATE_KEY" in result.stderr and "Traceback" not in result.stderr
