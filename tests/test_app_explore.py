"""AppTest of the explore pages (Sweeps, Sensitivity, Compare) and the Runs page's links to them:
widgets set by key, buttons pressed, background runs waited for, and what the pages show
compared with the engine's own numbers for the same runs.

One home for the module: the digits/lenet300 baseline (2 epochs) is trained once, in-process.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compress_core import fmt

from compress_core.runs import jobs

from compress_core.explore import sweep
from compress_core.training.baseline import get_baseline
from compress_core.context import RunContext
from compress_core.methods.quantize import QuantizeSpec
from compress_core.explore.sensitivity import achieved_sparsity, layer_sensitivity, layer_sizes, propose_layer_amounts
from compress_core.specs import PruneSpec, TrainSpec

import chart_helpers
from apptest_helpers import open_page, shown, worker_home

BASELINE_EPOCHS = 2
RUN_TIMEOUT_S = 120
SMALL = PruneSpec(finetune_epochs=1, baseline_epochs=BASELINE_EPOCHS)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "explore_home") as (home, _):
        yield home


@pytest.fixture(scope="module")
def base(home):
    """The baseline every page here starts from, trained in-process so the pages find it cached.

    One thread, as the pages use (`common.use_few_threads`): on a busy 2-core machine two
    threads made these 2 epochs take 6 s instead of 1 s.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return get_baseline(TrainSpec(epochs=BASELINE_EPOCHS), RunContext.create(home=home))
    finally:
        torch.set_num_threads(threads)


def downloaded(at, downloads: dict, key: str) -> bytes:
    button = [b for b in at.get("download_button") if b.key == key]
    assert button, f"no download button {key!r}"
    data = downloads[Path(button[0].proto.url).stem]
    return data.encode() if isinstance(data, str) else data


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def table(at, *columns: str) -> pd.DataFrame:
    """The first table that has all `columns` (AppTest does not expose the keys of read-only tables)."""
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert found, f"no table with {columns}; tables: {[list(d.value.columns) for d in at.dataframe]}"
    return found[0]


def test_partly_finished_sweep_draws_the_points_it_has(home, base):
    record = sweep.submit_sweep("prune", SMALL.to_dict(), [0.6, 0.8], 1, home=home, start_workers=False)
    first, second = (p["run_id"] for p in record["points"])
    jobs.cancel(second, home)  # queued: cancelled at once
    store = jobs.open_store(home)
    claimed = store.claim_next(os.getpid())  # run the first point here
    assert claimed["id"] == first and jobs.run_claimed(store, claimed, home) == "finished"
    at = open_page("sweep")
    no_errors(at)
    assert at.selectbox(key="sweep_open").value == record["id"]
    summary = table(at, "seeds", "mean")
    accuracy = jobs.get(first, home)["metrics"]["accuracy"]
    assert list(summary["level"]) == [60.0] and summary["mean"].iloc[0] == pytest.approx(100 * accuracy)
    assert any("1 of 2 points finished" in p.proto.text for p in at.get("progress"))
    assert at.button(key="sweep_cancel").disabled  # nothing left to cancel


def test_sweep_page_plans_submits_and_draws_the_engine_summary(home, base):
    at = open_page("sweep", sweep_baseline_epochs=BASELINE_EPOCHS, sweep_epochs=1, sweep_seeds=2,
                   sweep_levels_amount="0.5,0.9")
    no_errors(at)
    assert any("Plan: 4 runs" in m.value for m in at.markdown)
    at.checkbox(key="sweep_controls").check().run()
    assert any("Plan: 12 runs" in m.value and "random-global, l1-layer" in m.value for m in at.markdown)
    at.checkbox(key="sweep_controls").uncheck().run()
    at.text_input(key="sweep_levels_amount").set_value("0.5,1.2").run()
    assert any("level 1.2: amount must be in [0, 1)" in e.value for e in at.error)
    at.text_input(key="sweep_levels_amount").set_value("0.5,0.9").run()
    at.button(key="sweep_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    sweep_id = at.session_state["sweep_open"]
    record = sweep.load_sweep(sweep_id, home)
    assert len(record["points"]) == 4 and record["seeds"] == [0, 1]
    for point in record["points"]:
        assert jobs.wait(point["run_id"], home, timeout=RUN_TIMEOUT_S)["status"] == "finished"
    at.run()
    no_errors(at)
    expected = sweep.sweep_summary(sweep.sweep_points(sweep_id, home), "accuracy")
    summary = table(at, "seeds", "mean")
    assert list(summary["level"]) == [50.0, 90.0] and list(summary["seeds"]) == [2, 2]
    assert summary["mean"].tolist() == pytest.approx((100 * expected["mean"]).tolist())
    assert summary["max"].tolist() == pytest.approx((100 * expected["max"]).tolist())
    assert len(table(at, "run", "seed")) == 4
    assert len(chart_helpers.charts(at)) == 1  # the curve
    at.selectbox(key="sweep_metric").set_value("sparsity").run()
    assert table(at, "seeds", "mean")["mean"].tolist() == pytest.approx([50.0, 90.0], abs=0.01)

    at.number_input(key="sweep_epochs").set_value(200).run()  # a slow sweep, cancelled from the page
    at.text_input(key="sweep_levels_amount").set_value("0.5,0.6").run()
    at.slider(key="sweep_seeds").set_value(1).run()
    at.button(key="sweep_submit").click().run()
    slow = sweep.load_sweep(at.session_state["sweep_open"], home)
    assert slow["id"] != sweep_id and not at.button(key="sweep_cancel").disabled
    at.button(key="sweep_cancel").click().run()
    assert [jobs.wait(p["run_id"], home, timeout=60)["status"] for p in slow["points"]] == ["cancelled"] * 2


def test_distill_and_quantize_sweeps_from_the_page(home, base):
    at = open_page("sweep", sweep_method="quantize", sweep_baseline_epochs=BASELINE_EPOCHS)
    no_errors(at)
    assert any("Plan: 15 runs" in m.value for m in at.markdown)  # bits 2,3,4,6,8 x 3 seeds
    at.radio(key="sweep_method").set_value("distill").run()
    at.slider(key="sweep_seeds").set_value(1).run()
    at.text_input(key="sweep_levels_temperature").set_value("2,8").run()
    at.number_input(key="sweep_distill_epochs").set_value(1).run()
    no_errors(at)
    assert at.selectbox(key="sweep_param").value == "temperature"
    at.button(key="sweep_submit").click().run()
    record = sweep.load_sweep(at.session_state["sweep_open"], home)
    assert [jobs.get(p["run_id"], home)["spec"]["temperature"] for p in record["points"]] == [2, 8]
    runs = [jobs.wait(p["run_id"], home, timeout=RUN_TIMEOUT_S) for p in record["points"]]
    assert all(r["status"] == "finished" for r in runs), [r.get("error") for r in runs]
    at.run()
    no_errors(at)
    summary = table(at, "seeds", "mean")  # the distilled students and, beside them, the scratch control
    assert summary["variant"].tolist() == ["distill", "distill", "scratch", "scratch"]
    assert summary["mean"].tolist() == pytest.approx([100 * r["metrics"][k] for k in ("accuracy", "scratch_accuracy")
                                                      for r in runs])


def test_sensitivity_page_scans_proposes_and_runs_the_table(home, base):
    at = open_page("sensitivity", sens_baseline_epochs=BASELINE_EPOCHS)
    no_errors(at)
    at.button(key="sens_run").click().run()
    no_errors(at)
    scan = at.session_state["sens_scan"]
    expected = layer_sensitivity(base.model, base.data, [0.3, 0.5, 0.7, 0.9, 0.95])
    pd.testing.assert_frame_equal(scan["table"], expected)
    assert shown(at, "Scan time") == f"{scan['seconds']:.2f} s" and scan["seconds"] < 10
    assert len(chart_helpers.charts(at)) == 2  # heatmap and lines
    sizes = layer_sizes(expected)
    proposal = table(at, "layer", "amount")
    assert dict(zip(proposal["layer"], proposal["amount"])) == pytest.approx(
        propose_layer_amounts(expected, sizes, 0.8))
    assert achieved_sparsity(dict(zip(proposal["layer"], proposal["amount"])), sizes) == pytest.approx(0.8)
    assert shown(at, "Achieved sparsity") == "80.00 %"
    at.session_state["sens_editor"] = {"edited_rows": {0: {"amount": 0.5}}, "added_rows": [], "deleted_rows": []}
    at.run()
    amounts = {**dict(zip(proposal["layer"], proposal["amount"])), proposal["layer"][0]: 0.5}
    assert shown(at, "Achieved sparsity") == fmt.pct(achieved_sparsity(amounts, sizes), 2)
    at.button(key="sens_run_prune").click().run()
    record = jobs.wait(at.session_state["sens_run_id"], home, timeout=RUN_TIMEOUT_S)
    assert record["status"] == "finished", record.get("error")
    assert record["spec"]["layer_amounts"] == pytest.approx(amounts)
    for layer in record["layers"]:  # what the run did per layer is what the table said, to one weight
        assert layer["sparsity"] == pytest.approx(amounts[layer["name"]], abs=1 / layer["params"])
    at.run()
    no_errors(at)
    assert shown(at, "Accuracy (top-1, test)") == fmt.pct(record["metrics"]["accuracy"])
    reached = table(at, "sparsity reached")
    assert reached["sparsity reached"].tolist() == [layer["sparsity"] for layer in record["layers"]]


@pytest.fixture(scope="module")
def compared(home, base):
    """A pruned and an int8 run, recorded the way the CLI records them."""
    runs = [jobs.record_foreground(spec.to_dict(), home=home)
            for spec in (SMALL.replace(amount=0.8), QuantizeSpec(scheme="int8", baseline_epochs=BASELINE_EPOCHS))]
    assert all(run["status"] == "finished" for run in runs)
    return runs


def test_compare_page_shows_the_chosen_runs_and_exports_onnx(home, compared, downloads):
    import onnxruntime

    pruned, int8 = compared
    at = open_page("compare", compare_runs=[pruned["id"], int8["id"]])
    no_errors(at)
    metrics = table(at, "run", "accuracy (%)")
    assert metrics["run"].tolist() == [pruned["id"], int8["id"]]
    assert metrics["accuracy (%)"].tolist() == pytest.approx([100 * r["metrics"]["accuracy"] for r in compared])
    assert metrics["latency b1 (ms)"].tolist() == pytest.approx([r["metrics"]["latency_ms_b1"] for r in compared])
    assert metrics["non-zero parameters"].iloc[0] == pruned["metrics"]["params_nonzero"]
    assert metrics["smallest size (kB)"].iloc[1] == pytest.approx(int8["metrics"]["size_int8_bytes"] / 1000)
    csv = pd.read_csv(io.BytesIO(downloaded(at, downloads, "compare_csv")))
    assert csv["run"].tolist() == metrics["run"].tolist()
    assert csv["accuracy (%)"].tolist() == pytest.approx(metrics["accuracy (%)"].tolist())
    specs = at.dataframe[1].value  # after the metrics table
    assert specs.loc["kind"].tolist() == ["prune", "quantize"] and specs.columns.tolist() == metrics["run"].tolist()
    at.toggle(key="compare_diff_only").set_value(True).run()
    assert "model" not in at.dataframe[1].value.index  # same model: not a difference
    assert len(chart_helpers.charts(at)) == 3  # curves, per-layer sparsity, Pareto

    at.selectbox(key="compare_export_run").set_value(int8["id"]).run()
    assert at.selectbox(key="compare_export_format").options == ["onnx (.onnx)"]  # the run's int8 ONNX Runtime file
    at.button(key="compare_export").click().run()
    no_errors(at)
    assert downloaded(at, downloads, "compare_export_download") == open(int8["artifacts"]["int8_onnx"], "rb").read()
    at.selectbox(key="compare_export_run").set_value(pruned["id"]).run()
    at.selectbox(key="compare_export_format").set_value("onnx").run()
    at.button(key="compare_export").click().run()
    no_errors(at)
    assert any("tolerance 0.0001" in s.value for s in at.success)
    session = onnxruntime.InferenceSession(downloaded(at, downloads, "compare_export_download"),
                                           providers=["CPUExecutionProvider"])
    data = get_baseline(TrainSpec(epochs=BASELINE_EPOCHS), RunContext.create(home=home)).data
    logits = session.run(None, {session.get_inputs()[0].name: data.x_test.numpy()})[0]
    accuracy = float(np.mean(logits.argmax(1) == data.y_test.numpy()))
    assert accuracy == pytest.approx(pruned["metrics"]["accuracy"], abs=1 / len(data.y_test) + 1e-9)


def test_runs_page_opens_compare_and_report_with_the_chosen_runs(home, compared):
    ids = [run["id"] for run in compared]
    at = open_page("runs")
    at.multiselect(key="runs_chosen").set_value(ids).run()
    at.button(key="runs_compare").click().run()
    no_errors(at)
    assert at.title[0].value == "Compare" and at.multiselect(key="compare_runs").value == ids
    at.switch_page("pages/runs.py").run()
    at.multiselect(key="runs_chosen").set_value(ids[:1]).run()
    at.button(key="runs_report").click().run()
    no_errors(at)
    assert at.title[0].value == "Report" and at.multiselect(key="report_runs").value == ids[:1]


def test_home_links_the_explore_pages(home):
    at = open_page("home")
    labels = [link.proto.label for link in at.get("page_link")]
    assert {"**Sweeps**", "**Sensitivity**", "**Compare**"} <= set(labels)
