"""End to end in Chromium: the Sweeps, Sensitivity and Compare pages with real content.

The dashboard runs on a home of its own that already holds a finished pruning sweep with
controls and a few finished runs of each method (all from a 3-epoch digits baseline), so
the pages draw at once. The Sweeps test also submits a small sweep from the page and waits
for its curve to appear without a reload. Screenshots go to test-output/screenshots/.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from compress_core.runs import jobs

from compress_core.explore import sweep
from compress_core.methods.quantize import QuantizeSpec
from compress_core.specs import PruneSpec

from test_browser import metric_value, no_exception, open_page, settle, shot  # the other browser tests' helpers

BASELINE_EPOCHS = 3
PRUNE = PruneSpec(finetune_epochs=1, baseline_epochs=BASELINE_EPOCHS)
RUNS = [PRUNE.replace(amount=0.9), PRUNE.replace(method="random", amount=0.9),
        PRUNE.replace(method="structured", amount=0.5), QuantizeSpec(scheme="fake", bits=4, baseline_epochs=BASELINE_EPOCHS),
        QuantizeSpec(scheme="int8", baseline_epochs=BASELINE_EPOCHS)]


@pytest.fixture(scope="module")
def lab(request, browser, tmp_path_factory):
    """URL of a dashboard whose home holds a finished sweep, then (newest) one run of each kind of method."""
    server = request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    home = tmp_path_factory.mktemp("explore_home")
    began = time.perf_counter()
    record = sweep.submit_sweep("prune", PRUNE.to_dict(), [0.5, 0.8, 0.9, 0.95], 2, controls=True, home=home)
    results = sweep.wait_sweep(record, home, timeout=300)
    assert all(p["status"] == "finished" for p in results)
    print(f"\nsweep of {len(results)} runs (4 levels x 2 seeds x 3 variants) in {time.perf_counter() - began:.1f} s "
          f"with {sweep.default_workers()} workers")
    for spec in RUNS:
        assert jobs.record_foreground(spec.to_dict(), home=home)["status"] == "finished"
    jobs.stop_workers(home)
    port = server.free_port()
    process = server.start_app(home, port, home / "streamlit.log")
    url = f"http://localhost:{port}"
    try:
        server.wait_healthy(url, process)
        yield url
    finally:
        server.stop_app(process, home)


def set_number(page, key: str, value) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    settle(page)


def test_sweep_page_draws_the_finished_sweep_and_a_live_one(lab, page, screenshots):
    open_page(page, f"{lab}/sweep", "Sweeps")
    page.locator(".st-key-sweep_curve .main-svg").first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    assert page.get_by_text("24 of 24 points finished").count() == 1
    shot(page, screenshots, "14_sweep_controls")

    page.get_by_text("Advanced").first.click()
    set_number(page, "sweep_baseline_epochs", BASELINE_EPOCHS)
    levels = page.locator(".st-key-sweep_levels_amount input")
    levels.fill("0.6,0.85")
    levels.press("Enter")
    settle(page)
    thumb = page.locator(".st-key-sweep_seeds input[type='range']")
    thumb.focus()
    for _ in range(2):
        thumb.press("ArrowLeft")  # 3 -> 1 seed
    settle(page)
    page.get_by_text("Plan: 2 runs").wait_for(timeout=15_000)
    page.locator(".st-key-sweep_submit button").click()
    page.get_by_text("2 of 2 points finished").wait_for(timeout=120_000)  # the fragment redraws; no reload
    page.locator(".st-key-sweep_curve .main-svg").first.wait_for(timeout=30_000)
    settle(page)
    no_exception(page)
    shot(page, screenshots, "15_sweep_new")


def test_sensitivity_page_scans_and_runs_the_proposal(lab, page, screenshots):
    open_page(page, f"{lab}/sensitivity", "Sensitivity")
    settle(page)  # the first visit's run (it queues the default baseline's training) ends before a setting changes
    page.get_by_text("Advanced").first.click()
    set_number(page, "sens_baseline_epochs", BASELINE_EPOCHS)
    # The rerun loads the baseline (a first visit: torch and the model). Under CI's load this once took longer
    # than a click's 30 s, with the previous run's button still in the page but hidden: wait for the new one.
    run = page.locator(".st-key-sens_run button")
    run.wait_for(state="visible", timeout=120_000)
    run.click()
    page.locator(".st-key-sens_heatmap .main-svg").first.wait_for(timeout=60_000)
    scan = metric_value(page, "Scan time")
    assert re.fullmatch(r"\d+\.\d\d s", scan) and float(scan.split()[0]) < 10
    print(f"\nsensitivity scan of lenet300 on digits in the page: {scan}")
    assert metric_value(page, "Achieved sparsity") == "80.00 %"
    page.locator(".st-key-sens_run_prune button").click()
    page.locator(".st-key-sens_result_chart .main-svg").first.wait_for(timeout=120_000)
    settle(page)
    no_exception(page)
    shot(page, screenshots, "16_sensitivity")


def test_compare_page_pareto_and_export(lab, page, screenshots):
    open_page(page, f"{lab}/compare", "Compare")
    page.locator(".st-key-compare_pareto .main-svg").first.wait_for(timeout=60_000)
    page.locator(".st-key-compare_pareto_all input").check(force=True)
    settle(page)
    names = page.locator(".st-key-compare_pareto .legend .traces").all_text_contents()  # in trace order
    trace = next(i for i, name in enumerate(names) if "quantization" in name)
    point = page.locator(".st-key-compare_pareto .scatterlayer .trace").nth(trace).locator(".point").first
    box = point.bounding_box()  # a quantize run on the front: clicking it offers a link to the run
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text(re.compile(r"Open run r\d{8}-\d{6}-[0-9a-f]{8} in the Quantize page")).wait_for(timeout=30_000)
    settle(page)
    page.locator(".st-key-compare_export button").click()
    page.locator(".st-key-compare_export_download button").wait_for(timeout=60_000)
    settle(page)
    # The newest run is the int8 one: its .onnx is checked by accuracy in ONNX Runtime, fp32 files by tolerance.
    assert page.get_by_text(re.compile("tolerance 0.0001|equals the accuracy the run reported")).count() == 1
    no_exception(page)
    shot(page, screenshots, "17_compare")
