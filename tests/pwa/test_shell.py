"""The service worker's shell list (SHELL in pwa/worker.js, what it precaches so the app opens
offline) is exactly the app: every file of pwa/ but those deliberately left out below, each
one a file the app loads, and nothing that does not exist. A module added without caching it,
or a cached file removed or no longer used, fails here. And the two workers: the app's
module worker, and the classic handover that old installs still check (pwa/sw.js)."""

from __future__ import annotations

import json
import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path

PWA = Path(__file__).resolve().parents[2] / "pwa"
WORKER = PWA / "worker.js"
HANDOVER = PWA / "sw.js"
REMINDERS = PWA / "worker-reminders.js"
WORKERS = {"/app/worker.js", "/app/worker-reminders.js"}

# Files of pwa/ the service worker does not precache, and why.
NOT_CACHED = {
    "worker.js": "the worker itself: the browser keeps it with its registration, and updates it",
    "worker-reminders.js": "loaded by the workers only, and kept with them like the worker",
    "sw.js": "the handover for phones installed before worker.js; no page of this version loads it",
    "screenshots/": "the manifest's screenshots, for the browser's install dialog only, online",
    "icons/generate.py": "draws the icons; run by hand, never served to the app",
}


def shell() -> list[str]:
    match = re.search(r"^const SHELL = \[\n(.*?)^\];$", WORKER.read_text(), re.S | re.M)
    assert match, "worker.js has no SHELL list"
    return re.findall(r'^  "([^"]+)",$', match.group(1), re.M)


def url_of(path: Path) -> str:
    relative = path.relative_to(PWA).as_posix()
    return "/app/" if relative == "index.html" else f"/app/{relative}"


def left_out(path: Path) -> bool:
    relative = path.relative_to(PWA).as_posix()
    return any(
        relative == name or (name.endswith("/") and relative.startswith(name))
        for name in NOT_CACHED
    )


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value and value.startswith("/app/"):
                self.urls.add(value)


IMPORT = re.compile(r'^(?:import|export)\b[^;]*?["\'](\.{1,2}/[^"\']+)["\'];', re.S | re.M)


def module_graph(entry: str) -> set[str]:
    """The module at URL ``entry`` and every module it imports, by URL."""
    seen: set[str] = set()
    waiting = [entry]
    while waiting:
        url = waiting.pop()
        if url in seen:
            continue
        seen.add(url)
        source = (PWA / url.removeprefix("/app/")).read_text()
        for specifier in IMPORT.findall(source):
            waiting.append(posixpath.normpath(posixpath.join(posixpath.dirname(url), specifier)))
    return seen


def loaded_by_the_app() -> set[str]:
    """What the page, its manifest and the worker load: index.html's links and scripts, the
    manifest's icons, the app's and the worker's modules, the worker's notification icon."""
    page = Links()
    page.feed((PWA / "index.html").read_text())
    manifest = json.loads((PWA / "manifest.webmanifest").read_text())
    worker_modules = module_graph("/app/worker.js") - WORKERS
    notification_icons = set(re.findall(r'icon: "(/app/[^"]+)"', REMINDERS.read_text()))
    return (
        {"/app/"}
        | page.urls
        | {icon["src"] for icon in manifest["icons"]}
        | module_graph("/app/app.js")
        | worker_modules
        | notification_icons
    )


def test_shell_lists_every_file_of_the_app_once_and_nothing_else() -> None:
    listed = shell()
    assert len(listed) == len(set(listed)), "a file is listed twice"
    files = {url_of(path) for path in PWA.rglob("*") if path.is_file() and not left_out(path)}
    assert set(listed) - files == set(), "listed, but not in pwa/"
    assert files - set(listed) == set(), "in pwa/, but not cached: add to SHELL or NOT_CACHED"


def test_shell_is_what_the_app_loads() -> None:
    loaded = loaded_by_the_app()
    assert loaded - set(shell()) == set(), "loaded by the app, but not cached"
    assert set(shell()) - loaded == set(), "cached, but nothing loads it"


def test_page_and_worker_send_the_outbox_with_one_module() -> None:
    shared = module_graph("/app/worker.js") & module_graph("/app/app.js")
    assert {"/app/js/outbox.js", "/app/js/store.js"} <= shared
    # No second copy in the workers: they neither open IndexedDB nor post check-ins themselves.
    for worker in (WORKER, REMINDERS, HANDOVER):
        assert "indexedDB" not in worker.read_text()
        assert "/api/checkins" not in worker.read_text()


STATEMENT = re.compile(r"^\s*(?:import|export)\b", re.M)


def test_the_handover_is_a_classic_script_with_the_workers_reminders() -> None:
    """Old installs check sw.js as a classic script, which cannot import: one import and
    those phones stay on their version for good. Their reminders work on it too."""
    assert not STATEMENT.search(HANDOVER.read_text())
    assert re.findall(r"importScripts\(([^)]*)\)", HANDOVER.read_text()) == [
        '"/app/worker-reminders.js"'
    ]
    # Loaded by both workers, as a classic script and as a module.
    assert not STATEMENT.search(REMINDERS.read_text())
    assert "/app/worker-reminders.js" in module_graph("/app/worker.js")


def test_the_app_registers_worker_js_and_never_sw_js() -> None:
    registered = [
        (path.relative_to(PWA).as_posix(), url)
        for path in PWA.rglob("*.js")
        for url in re.findall(r"serviceWorker\.register\(\s*\"([^\"]+)\"", path.read_text())
    ]
    assert registered == [("js/update.js", "/app/worker.js")]


def test_what_is_left_out_exists() -> None:
    for name in NOT_CACHED:
        assert (PWA / name).exists(), f"NOT_CACHED names {name}, which is not in pwa/"
