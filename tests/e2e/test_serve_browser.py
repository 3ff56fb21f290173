"""`python -m ui.serve` (ui/serve.py) serves the same app as `streamlit run app.py`.

The launcher turns Nagle's algorithm off from the first request and skips Streamlit's start-up scan of
installed packages for components v2 manifests. Home must draw, and so must the live chart, the lab's one
components v2 element (declared inline in ui/live_chart.py, so it needs no scan), on the Distill page.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("e2e_helpers", HERE / "conftest.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
BASELINE_TIMEOUT_MS = 240_000  # the first visit to Distill trains the digits baseline in a background worker


@pytest.fixture(scope="module")
def served_url(tmp_path_factory):
    home = tmp_path_factory.mktemp("serve_home")
    port = helpers.free_port()
    env = {**os.environ, "COMPRESS_LAB_HOME": str(home), "COMPRESS_LAB_LATENCY_REPEATS": "5",
           "COMPRESS_LAB_WORKER_IDLE": "30"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.serve", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "localhost", "--browser.gatherUsageStats", "false"],
        cwd=helpers.ROOT, env=env, stdout=open(home / "streamlit.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://localhost:{port}"
    try:
        helpers.wait_healthy(url, process)
        yield url
    finally:
        helpers.stop_app(process, home)


def test_the_launcher_serves_home_and_the_live_chart(served_url, page):
    page.goto(served_url)
    page.get_by_role("heading", name="Compression Lab", exact=True).wait_for(timeout=60_000)
    page.get_by_text("No runs yet").wait_for(timeout=60_000)
    page.goto(f"{served_url}/distill")
    page.locator(".st-key-distill_preview_soft .js-plotly-plot").first.wait_for(timeout=BASELINE_TIMEOUT_MS)
    assert page.locator('[data-testid="stException"]').count() == 0
