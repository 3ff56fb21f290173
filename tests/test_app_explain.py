"""AppTest of the "Explain this run" section: on the Runs page and on a method page (Prune), the
button computes the explanation and the figures, tables and drawn examples show the engine's numbers."""
from __future__ import annotations

import pytest

from compress_core.explore.explain import explain_run
from compress_core.runs import jobs

import chart_helpers
from apptest_helpers import open_page, worker_home

SPEC = {"kind": "prune", "model": "lenet300", "dataset": "digits", "amount": 0.9, "baseline_epochs": 2,
        "finetune_epochs": 0}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "explain_app_home") as (home, _):
        yield home


@pytest.fixture(scope="module")
def run(home):
    return jobs.record_foreground(SPEC, home=home)


def _check_section(at, prefix: str, expected: dict) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    charts = {c.id for c in chart_helpers.charts(at)}
    assert len(charts) >= 3  # per class, confusion difference, attribution (+ the page's own)
    flips = [f.value for f in at.dataframe if "run predicts" in f.value.columns]  # forgotten, then learnt
    assert [len(f) for f in flips] == [len(expected["flips"]["forgotten"]), len(expected["flips"]["learnt"])]
    assert list(flips[0]["test example"]) == [r["id"] for r in expected["flips"]["forgotten"]]
    layers = next(f.value for f in at.dataframe if "acc. only this compressed" in f.value.columns)
    assert list(layers["layer"]) == [r["layer"] for r in expected["attribution"]["rows"]]
    drawn = len(at.get("image"))  # small images of the flipped digits
    assert drawn == min(12, len(expected["flips"]["forgotten"])) + min(12, len(expected["flips"]["learnt"]))
    counts = expected["flips"]["counts"]
    assert any(f"**Forgotten**: {counts['forgotten']} test examples" in m.value for m in at.markdown)


def test_runs_page_explains_the_chosen_run(home, run):
    expected = explain_run(run["id"], home)
    assert expected["flips"]["counts"]["forgotten"] > 0  # 90% without fine-tuning forgets examples
    at = open_page("runs", runs_selected=run["id"])
    assert len(chart_helpers.charts(at)) <= 1  # only the trade-off chart before
    at.button(key="runs_explain").click().run(timeout=120)
    _check_section(at, "runs", expected)


def test_prune_page_explains_its_run(home, run):
    expected = explain_run(run["id"], home)
    at = open_page("prune", prune_run_id=run["id"])
    at.button(key="prune_explain").click().run(timeout=120)
    _check_section(at, "prune", expected)
