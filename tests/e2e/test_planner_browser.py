"""End to end in Chromium: the Planner page predicts a plan for a small size budget, runs it, and shows
predicted vs realized, with the numbers of the run stored in the app's home.

The dashboard runs on a home of its own whose 3-epoch digits baseline is trained beforehand (through the
engine), so the page predicts at once once its baseline-epochs box says 3. The first visit queues the
default-epoch baseline before the box is changed; that run is cancelled so the plan run does not wait on it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from compress_core import fmt
from compress_core.context import RunContext
from compress_core.methods.plan import PlanSpec
from compress_core.runs import jobs
from compress_core.training.baseline import get_baseline

from test_browser import no_exception, open_page, settle, shot  # the other browser tests' helpers

BASELINE_EPOCHS = 3
TARGET = 25_000  # bytes: lenet300 on digits is ~1 MB in fp32, so the plan must prune and quantize
FINETUNE_EPOCHS = 1
RUN_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def lab(request, tmp_path_factory):
    """(URL, home) of a dashboard whose home already holds the 3-epoch lenet300/digits baseline."""
    server = request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    home = tmp_path_factory.mktemp("planner_home")
    spec = PlanSpec(baseline_epochs=BASELINE_EPOCHS, target_size=TARGET, finetune_epochs=FINETUNE_EPOCHS)
    get_baseline(spec.baseline_spec(), RunContext.create(home=home))  # cached weights, as the page will ask
    port = server.free_port()
    process = server.start_app(home, port, home / "streamlit.log")
    url = f"http://localhost:{port}"
    try:
        server.wait_healthy(url, process)
        yield url, home
    finally:
        server.stop_app(process, home)


def set_number(page, key: str, value) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    settle(page)


def metric_values(page, label: str) -> list[str]:
    """The values of every metric card labelled `label`, top to bottom (prediction first, then the run)."""
    cards = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(rf"^{re.escape(label)}$")))
    return [c.locator('[data-testid="stMetricValue"]').inner_text() for c in cards.all()]


def test_planner_predicts_runs_and_shows_predicted_vs_realized(lab, page, tmp_path, screenshots):
    url, home = lab
    open_page(page, f"{url}/planner", "Planner")
    page.get_by_text("Advanced").first.click()
    set_number(page, "planner_baseline_epochs", BASELINE_EPOCHS)
    for run in jobs.open_store(home).list_runs(kind="train", status=["queued", "running"]):
        jobs.cancel(run["id"], home)  # the default-epoch baseline the first visit queued: not needed here
    set_number(page, "planner_target_size", TARGET)
    set_number(page, "planner_finetune_epochs", FINETUNE_EPOCHS)
    page.get_by_text("Baseline: lenet300 on digits").wait_for(timeout=60_000)

    page.locator(".st-key-planner_predict button").click()
    page.locator(".st-key-planner_predicted_allocation .main-svg").first.wait_for(timeout=120_000)
    settle(page)
    no_exception(page)
    predicted_accuracy, = metric_values(page, "Predicted accuracy")
    predicted_size, = metric_values(page, "Predicted size")
    assert re.fullmatch(r"\d+\.\d\d %", predicted_accuracy), predicted_accuracy

    page.locator(".st-key-planner_run button").click()
    page.locator(".st-key-planner_pvr_figure .main-svg").first.wait_for(timeout=RUN_TIMEOUT_MS)
    settle(page)
    no_exception(page)
    shot(page, tmp_path, "planner_result")
    shot(page, screenshots, "30_planner_result")

    runs = jobs.open_store(home).list_runs(kind="plan")
    assert len(runs) == 1 and runs[0]["status"] == "finished", runs
    run = runs[0]
    m = run["metrics"]
    assert page.get_by_role("heading", name=f"Run {run['id']}").count() == 1
    # the prediction drawn before the run is the one the run made (same settings, no earlier plan runs)
    assert predicted_accuracy == fmt.pct(m["predicted_accuracy"], 2)
    assert predicted_size == fmt.size(m["predicted_size"])
    # the run's cards: realized beside predicted, as stored
    assert metric_values(page, "Accuracy (top-1, test)") == [fmt.pct(m["accuracy"], 2)]
    assert metric_values(page, "Predicted accuracy")[-1] == fmt.pct(m["predicted_accuracy"], 2)
    assert metric_values(page, "Deployed size") == [fmt.size(m["size_bytes"])]
    assert m["size_bytes"] <= TARGET and m["meets_budget"] is True
    assert metric_values(page, "Budget") == ["met"]
    assert page.get_by_text(f"gap {fmt.pp(m['prediction_gap'], 2)}").count() >= 1
    assert (tmp_path / "planner_result.png").stat().st_size > 10_000
