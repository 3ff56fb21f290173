"""`python -m ui.serve` (ui/serve.py) serves the same app as `streamlit run app.py`.

The launcher turns Nagle's algorithm off from the first request and skips Streamlit's start-up scan of
installed packages for components v2 manifests. Home must draw, and so must the live chart, the lab's one
components v2 element (declared inline in ui/live_chart.py, so it needs no scan): drawn here by a one-chart
script run through the same launcher, so that no baseline has to be trained.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("e2e_helpers", HERE / "conftest.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

ONE_CHART = """
import plotly.graph_objects as go

from ui import live_chart

live_chart.draw(go.Figure(go.Scatter(y=[1, 3, 2])), "serve_check", {"displaylogo": False})
"""


@contextmanager
def served(home: Path, *script: str):
    port = helpers.free_port()
    env = {**os.environ, "COMPRESS_LAB_HOME": str(home), "COMPRESS_LAB_LATENCY_REPEATS": "5",
           "COMPRESS_LAB_WORKER_IDLE": "30"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.serve", *script, "--server.headless", "true", "--server.port", str(port),
         "--server.address", "localhost", "--browser.gatherUsageStats", "false"],
        cwd=helpers.ROOT, env=env, stdout=open(home / "streamlit.log", "ab"), stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://localhost:{port}"
    try:
        helpers.wait_healthy(url, process)
        yield url
    finally:
        helpers.stop_app(process, home)


def test_the_launcher_serves_home(tmp_path, page):
    with served(tmp_path) as url:
        page.goto(url)
        page.get_by_role("heading", name="Compression Lab", exact=True).wait_for(timeout=60_000)
        page.get_by_text("No runs yet").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0


def test_the_launcher_serves_the_live_chart(tmp_path, page):
    script = tmp_path / "one_chart.py"
    script.write_text(ONE_CHART)
    with served(tmp_path, str(script)) as url:
        page.goto(url)
        page.locator(".st-key-serve_check .js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
