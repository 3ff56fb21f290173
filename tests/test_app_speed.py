"""The Speed page (AppTest): it starts the timing in its own process, then shows verdicts and figures."""
from __future__ import annotations

import time

import pytest

import chart_helpers
from apptest_helpers import open_page, worker_home
from compress_core.measure.speed import SPEED_FILE, run_speed
from compress_core.runs import jobs

SPEC = {"kind": "prune", "model": "mlp", "hidden": [32], "dataset": "digits", "amount": 0.9, "baseline_epochs": 1,
        "finetune_epochs": 0}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "app_speed") as (folder, _):
        yield folder


def test_page_times_a_run_and_shows_verdicts_and_figures(home):
    run_id = jobs.record_foreground(SPEC, home=home)["id"]
    at = open_page("speed", speed_batches=[1, 8], speed_threads=["1"], speed_repeats=3, speed_break_even_batch=8)
    assert at.selectbox(key="speed_run").value == run_id
    assert any("has not been timed yet" in i.value for i in at.info)
    at.button(key="speed_start").click().run()
    path = jobs.open_store(home).artifacts_dir(run_id) / SPEED_FILE
    deadline = time.time() + 240
    while not path.exists() and time.time() < deadline:
        time.sleep(1)
    assert path.exists(), (path.parent / "speed.log").read_text()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(chart_helpers.charts(at)) == 2  # latency vs batch, break-even
    texts = " ".join(m.value for m in at.markdown)
    assert "run · sparse CSR" in texts and ("green[" in texts or "red[" in texts or "gray[" in texts)
    assert "sparse wins" in texts


def test_page_shows_a_stored_table_without_timing_again(home):
    run_id = jobs.record_foreground({**SPEC, "amount": 0.8}, home=home)["id"]
    result = run_speed(run_id, home, batches=[1, 64], threads=[1], repeats=3, break_even_batch=0)
    at = open_page("speed", speed_run=run_id)
    assert len(chart_helpers.charts(at)) == 1  # no break-even sweep was asked for
    verdicts = [m.value for m in at.markdown if m.value.startswith("**run ·")]
    assert len(verdicts) == len([f for f in result["forms"] if f["role"] != "baseline"])
