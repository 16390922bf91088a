"""`make run` on a fresh machine: embedded PostgreSQL, demo clinic, a healthy server."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import httpx
import pytest

from tests.support.live import ROOT, clean_env, free_port


@pytest.mark.slow
def test_make_run_serves_the_demo_on_the_embedded_database() -> None:
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    work_dir = tempfile.mkdtemp(prefix="checkin-make-run-")
    data_dir = os.path.join(work_dir, "pg")
    port = free_port()
    env = clean_env(PG_DATA_DIR=data_dir, PORT=str(port), WORKERS="1")
    log_path = os.path.join(work_dir, "make-run.log")
    log = open(log_path, "w")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        healthy = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                healthy = (
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
                )
            except httpx.HTTPError:
                healthy = False
            if healthy:
                break
            time.sleep(0.2)
        time.sleep(0.3)
        with open(log_path) as printed:
            text = printed.read()
        assert healthy, text
        assert "embedded PostgreSQL" in text
        assert f"http://127.0.0.1:{port}/app/" in text
        token = re.search(r"Authorization: Bearer (\S+)", text)
        login = re.search(r"coordinator login:\s+(\S+@\S+) / (\S+)", text)
        link = re.search(r"enroll a phone:\s+(\S+)", text)
        assert token and login and link, text
        patients = httpx.get(
            f"http://127.0.0.1:{port}/api/coordinator/patients",
            params={"limit": 100},
            headers={"Authorization": f"Bearer {token.group(1)}"},
        )
        assert patients.status_code == 200
        assert len(patients.json()["items"]) == 40
        code = link.group(1).split("#", 1)[1]
        enrolled = httpx.post(f"http://127.0.0.1:{port}/api/enroll", json={"code": code})
        assert enrolled.status_code == 201
        history = httpx.get(
            f"http://127.0.0.1:{port}/api/coordinator/patients/"
            f"{patients.json()['items'][5]['patient_id']}/checkins",
            headers={"Authorization": f"Bearer {token.group(1)}"},
        )
        assert len(history.json()["items"]) > 10
        # The printed login signs in to the dashboard, whose board lists the demo's patients.
        assert f"http://127.0.0.1:{port}/coordinator/" in text
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as browser:
            form = browser.get("/coordinator/sign-in")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert csrf, form.text
            signed = browser.post(
                "/coordinator/sign-in",
                data={"csrf_token": csrf.group(1), "email": login.group(1),
                      "password": login.group(2)},
            )  # fmt: skip
            assert signed.status_code == 302, signed.text
            board = browser.get("/coordinator/board")
            assert board.status_code == 200 and "attention" in board.text
            assert re.search(r"<a href=\"/coordinator/patients/[0-9a-f-]{36}\">", board.text)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(work_dir, ignore_errors=True)
