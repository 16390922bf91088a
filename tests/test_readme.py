"""The README's shell examples, run as written against a live server with the demo clinic.

Every ```sh, ```bash and ```console block runs, in order, in one bash session, unless
``<!-- not run by tests: REASON -->`` stands just before its fence (a server that runs until
stopped, Docker, another host). Only the base URL is replaced, by the test server's.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys

import msgspec
import pytest

from tests.conftest import MakeDatabase
from tests.support.live import ROOT, clean_env, start_server

README = ROOT / "README.md"
BASE_URL = "http://127.0.0.1:8000"
FENCE = re.compile(r"^```(sh|bash|console)\s*$")
SKIP = re.compile(r"^<!-- not run by tests: (?P<reason>\S.*?) -->$")
LOCAL_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost)(?::\d+)?")
# Each curl fails on an HTTP error (-f, --fail), so a refused request stops the session.
CURL = re.compile(r"\bcurl\s+(?P<first>\S+)")


class Block(msgspec.Struct, frozen=True):
    line: int  # of the opening fence, counted from 1
    kind: str
    text: str
    skip_reason: str | None


def shell_blocks(markdown: str) -> list[Block]:
    lines = markdown.splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = lines.index("```", index + 1)
        before = next((line for line in reversed(lines[:index]) if line.strip()), "")
        skip = SKIP.match(before.strip())
        blocks.append(
            Block(
                line=index + 1,
                kind=fence.group(1),
                text="\n".join(lines[index + 1 : end]),
                skip_reason=skip.group("reason") if skip else None,
            )
        )
        index = end + 1
    return blocks


def commands(block: Block) -> str:
    """What a reader types: a console block's ``$ `` lines, any other block whole."""
    if block.kind != "console":
        return block.text
    return "\n".join(line[2:] for line in block.text.splitlines() if line.startswith("$ "))


def test_every_marker_that_skips_a_block_stands_before_a_shell_block() -> None:
    markdown = README.read_text()
    markers = sum(1 for line in markdown.splitlines() if SKIP.match(line.strip()))
    skipped = [b for b in shell_blocks(markdown) if b.skip_reason is not None]
    assert markers == len(skipped), "a marker stands on the line before a shell block's fence"
    assert any(b.skip_reason is None for b in shell_blocks(markdown)), "no example would run"


def test_every_curl_in_the_readme_fails_on_an_http_error() -> None:
    calls = [
        (block.line, match.group("first"))
        for block in shell_blocks(README.read_text())
        for match in CURL.finditer(commands(block))
    ]
    assert calls, "the README shows no curl (or this test no longer finds them)"
    quiet = [
        (line, first)
        for line, first in calls
        if first != "--fail" and not re.fullmatch(r"-[a-zA-Z]*f[a-zA-Z]*", first)
    ]
    assert not quiet, f"start these curls with -fsS (block at line, first option): {quiet}"


@pytest.fixture
async def database(make_database: MakeDatabase) -> str:
    url: str = await make_database()
    return url


@pytest.mark.slow
def test_the_readme_examples_run_as_written(database: str) -> None:
    env = clean_env(DATABASE_URL=database)
    # What `make run` does first: the demo clinic, whose coordinator the README signs in as.
    demo = subprocess.run(
        [sys.executable, "-m", "server", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    runnable = [b for b in shell_blocks(README.read_text()) if b.skip_reason is None]
    server = start_server(database)
    try:
        script = "\n".join(
            f"echo '== README.md line {b.line}' >&2\n{commands(b)}" for b in runnable
        ).replace(BASE_URL, server.url)
        assert set(LOCAL_URL.findall(script)) == {server.url}
        returncode, stdout, stderr = run_bash(script, env)
    finally:
        server.stop()
    assert returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"


def run_bash(script: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the script in a session of its own, and end whatever it leaves running."""
    bash = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = bash.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(bash.pid, signal.SIGKILL)
        stdout, stderr = bash.communicate()
        pytest.fail(f"the README's commands did not finish in 120 s:\n{stdout}\n{stderr}")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(bash.pid, signal.SIGKILL)
    return bash.returncode, stdout, stderr
