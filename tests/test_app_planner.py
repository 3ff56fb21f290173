"""AppTest of the Planner page: Predict shows the engine's own plan, Run plan runs it in the background and
the page shows predicted beside realized; a viewer of a shared lab cannot start either."""
from __future__ import annotations

import copy
import dataclasses

import pytest

from compress_core import fmt, sharing
from compress_core.context import RunContext
from compress_core.methods.plan import PlanSpec, predict
from compress_core.runs import jobs
from compress_core.training.baseline import get_baseline
from ui import common

import chart_helpers
from apptest_helpers import open_page, shown, worker_home

BASELINE_EPOCHS = 3
TARGET = 25_000
RUN_TIMEOUT_S = 300
PRESET = {"planner_baseline_epochs": BASELINE_EPOCHS, "planner_target_size": TARGET, "planner_finetune_epochs": 1}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "planner_home") as (home, _):
        yield home


def settle(at, home):
    for run in jobs.open_store(home).list_runs(status=list(common.ACTIVE)):
        assert jobs.wait(run["id"], home, timeout=RUN_TIMEOUT_S)["status"] == "finished"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame(at, column: str):
    """The table shown that has `column` (AppTest does not expose a dataframe's key)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def test_predict_then_run_shows_predicted_beside_realized(home):
    at = settle(open_page("planner", **PRESET), home)  # the first visit trains the baseline in the background
    at.button(key="planner_predict").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown_plan = at.session_state["planner_prediction"]
    spec = PlanSpec(baseline_epochs=BASELINE_EPOCHS, target_size=TARGET, finetune_epochs=1, hidden=None)
    base = get_baseline(spec.baseline_spec(), RunContext.create(home=home))
    expected = predict(spec, dataclasses.replace(base, model=copy.deepcopy(base.model)),
                       RunContext.create(home=home), history=[])
    assert shown_plan["rows"] == expected.rows()  # the page shows the engine's plan for these settings
    assert shown_plan["size"] <= TARGET
    assert shown(at, "Predicted accuracy") == fmt.pct(expected.accuracy, 2)
    assert shown(at, "Predicted size") == fmt.size(expected.size)
    assert len(chart_helpers.charts(at)) == 1
    table = frame(at, "predicted drop (pp)")
    assert list(table["layer"]) == [r["layer"] for r in expected.rows()]

    at.button(key="planner_run").click().run()
    assert not at.error, [e.value for e in at.error]
    record = jobs.wait(at.session_state["planner_run_id"], home, timeout=RUN_TIMEOUT_S)
    assert record["status"] == "finished", record.get("error")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    m = record["metrics"]
    assert m["size_bytes"] <= TARGET and m["meets_budget"] is True
    assert shown(at, "Accuracy (top-1, test)") == fmt.pct(m["accuracy"], 2)
    assert shown(at, "Predicted accuracy") == fmt.pct(m["predicted_accuracy"], 2)
    assert shown(at, "Deployed size") == fmt.size(m["size_bytes"])
    assert shown(at, "Budget") == "met"
    pvr = frame(at, "realized - predicted")
    assert list(pvr["figure"])[:2] == ["test accuracy", "deployed size"]
    assert list(pvr["realized"])[:2] == [fmt.pct(m["accuracy"], 2), fmt.size(m["size_bytes"])]
    assert list(pvr["predicted"])[:2] == [fmt.pct(m["predicted_accuracy"], 2), fmt.size(m["predicted_size"])]


def test_an_unreachable_budget_is_one_line_on_the_page(home):
    at = settle(open_page("planner", **{**PRESET, "planner_target_size": 500}), home)
    at.button(key="planner_predict").click().run()
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and "cannot be met" in errors[0] and "smallest reachable" in errors[0]


def test_a_viewer_cannot_plan(tmp_path_factory):
    with worker_home(tmp_path_factory, "planner_shared") as (_, mp):
        mp.setenv(sharing.ENV_SHARED, "1")
        at = open_page("planner", **PRESET)
        assert at.button(key="planner_run").disabled
        assert not [b for b in at.button if b.key == "planner_predict" and not b.disabled]
