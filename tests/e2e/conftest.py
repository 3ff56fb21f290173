"""A real Streamlit server and a real Chromium for the end-to-end tests and the UI benchmark.

The server runs `streamlit run app.py` on a free localhost port with its own home
folder; the browser is Debian's Chromium (`/usr/bin/chromium`), driven by Playwright.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOTS = ROOT / "test-output" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Home drawn: its run table (a static table since 2 Dec 2026, the data grid before) or an empty lab's notice
HOME_DRAWN = '.st-key-home_runs table, [data-testid="stDataFrame"], [data-testid="stAlert"]'


def start_app(home: Path, port: int, log: Path, env: dict | None = None, script: str = "app.py",
              plain: bool = False) -> subprocess.Popen:
    """The app as the README starts it (`python -m ui.serve`), in its own process group (so its worker processes
    can be stopped with it).

    `env` adds or overrides environment variables of the server (e.g. shared mode and its password); `script`
    runs another script of the repository instead (a test's small app); `plain` starts it with `streamlit run`.
    """
    env = {**os.environ, "COMPRESS_LAB_HOME": str(home), "COMPRESS_LAB_LATENCY_REPEATS": "5",
           "COMPRESS_LAB_WORKER_IDLE": "30", "COMPRESS_LAB_INSTANT": "1", **(env or {})}
    launcher = ["-m", "streamlit", "run"] if plain else ["-m", "ui.serve"]
    return subprocess.Popen(
        [sys.executable, *launcher, script, "--server.headless", "true", "--server.port", str(port),
         "--server.address", "localhost", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60, poll: float = 0.1) -> None:
    """Return once the server answers its health check, asking every `poll` s; fail if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(poll)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout} s")


def stop_app(process: subprocess.Popen, home: Path) -> None:
    """Stop the server, then the worker processes it started (they run in sessions of their own)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from compress_core.runs import jobs

    jobs.stop_workers(home)


@contextmanager
def serving(home: Path, **start):
    """The URL of a dashboard started on a free port for `home` (`start`: start_app's env/script/plain), stopped after."""
    port = free_port()
    process = start_app(home, port, home / "streamlit.log", **start)
    url = f"http://localhost:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        stop_app(process, home)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """URL of a running dashboard with an empty home folder."""
    with serving(tmp_path_factory.mktemp("e2e_home")) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the test item, so `page` can tell that its test failed; a failed test's report
    also shows what its tab said and what the background workers logged (CI keeps no screenshots)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
    if report.when == "call" and report.failed:
        for title, text in failure_context(item, started=time.time() - call.duration):
            report.sections.append((title, text))


def failure_context(item, started: float) -> list[tuple[str, str]]:
    """The failing test's tab (its visible text) and the tails of the worker logs written while it ran."""
    sections = []
    page = item.funcargs.get("page")
    if page is not None:
        try:
            text = page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body)"
                                 ".innerText")
            running = page.locator('[data-testid="stStatusWidget"]').count() > 0
            sections.append((f"the tab at the failure ({page.url}, script {'running' if running else 'idle'})",
                             text[:2000]))
        except Exception as exc:  # a closed or crashed tab: say so, never hide the test's own error
            sections.append(("the tab at the failure", f"unreadable: {exc}"))
    try:
        base = item.config._tmp_path_factory.getbasetemp()
    except Exception:
        return sections
    for log in sorted(base.glob("*/workers/workers.log")):
        if log.stat().st_mtime >= started:
            lines = log.read_text(errors="replace").splitlines()
            sections.append((f"the end of {log.relative_to(base)}", "\n".join(lines[-25:])))
    return sections


@pytest.fixture
def page(browser, request, screenshots):
    """A fresh browser tab; a failing test leaves a screenshot of the tab as it was."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(screenshots / f"FAILED_{request.node.name}.png"), full_page=True)
    context.close()
