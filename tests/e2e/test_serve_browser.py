"""`python -m ui.serve` (ui/serve.py, the README's start command and the other browser tests') serves the same app
as `streamlit run app.py`, which must keep working too.

The launcher turns Nagle's algorithm off from the first request and skips Streamlit's start-up scan of
installed packages for components v2 manifests. Home must draw, and so must the live chart, the lab's one
components v2 element (declared inline in ui/live_chart.py, so it needs no scan): drawn here by a one-chart
script run through the same launcher, so that no baseline has to be trained.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("e2e_helpers", HERE / "conftest.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

ONE_CHART = """
import plotly.graph_objects as go

from ui import live_chart

live_chart.draw(go.Figure(go.Scatter(y=[1, 3, 2])), "serve_check", {"displaylogo": False})
"""


@pytest.mark.parametrize("plain", [False, True], ids=["ui.serve", "streamlit run"])
def test_the_launcher_and_streamlit_run_serve_home(tmp_path, page, plain):
    with helpers.serving(tmp_path, plain=plain) as url:
        page.goto(url)
        page.get_by_role("heading", name="Compression Lab", exact=True).wait_for(timeout=60_000)
        page.get_by_text("No runs yet").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0


def test_the_launcher_serves_the_live_chart(tmp_path, page):
    script = tmp_path / "one_chart.py"
    script.write_text(ONE_CHART)
    with helpers.serving(tmp_path, script=str(script)) as url:
        page.goto(url)
        page.locator(".st-key-serve_check .js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
