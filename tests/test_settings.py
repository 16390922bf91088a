from __future__ import annotations

import re
import subprocess
import sys

import pytest

from server.settings import Settings, SettingsError
from tests.live import ROOT, clean_env


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
