"""AppTest of every dashboard page: widgets set by key, buttons pressed, background runs
waited for, and the figures shown compared with the engine's own numbers for the same spec.

All tests share one home folder, so the small digits baseline (3 epochs) is trained once,
by the background worker that the first page visit queues.
"""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from compress_core import api

from compress_core import fmt

from compress_core.runs import jobs
from compress_core.training.baseline import get_baseline
from compress_core.context import RunContext
from compress_core.errors import CompressError
from compress_core.measure.metrics import global_sparsity
from compress_core.methods.prune import prune_to
from compress_core.specs import PruneSpec
from compress_core.training.loop import evaluate
from ui import common

import chart_helpers
from apptest_helpers import APP, open_page, shown, worker_home

BASELINE_EPOCHS = 3
RUN_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "app_home") as (home, _):
        yield home


def settle(at: AppTest, home: Path) -> AppTest:
    """Wait for every queued or running run (baseline trainings too), then rerun the page."""
    for run in jobs.open_store(home).list_runs(status=list(common.ACTIVE)):
        record = jobs.wait(run["id"], home, timeout=RUN_TIMEOUT_S)
        assert record["status"] == "finished", record.get("error")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def finish(at: AppTest, home: Path, button: str, prefix: str) -> dict:
    """Press a run button, wait for the background run, rerun the page; returns the run record."""
    at.button(key=button).click().run()
    assert not at.error, [e.value for e in at.error]
    record = jobs.wait(at.session_state[f"{prefix}_run_id"], home, timeout=RUN_TIMEOUT_S)
    assert record["status"] == "finished", record.get("error")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return record


def with_a_finished_run(home: Path) -> None:
    """Tests of the run lists need one finished run, also when they run alone (e.g. with -k)."""
    if not jobs.open_store(home).list_runs(status="finished", kind="prune"):
        run_id = jobs.submit(PruneSpec(amount=0.5, finetune_epochs=1, baseline_epochs=BASELINE_EPOCHS).to_dict(), home)
        assert jobs.wait(run_id, home, timeout=RUN_TIMEOUT_S)["status"] == "finished"


def baseline_of(home: Path):
    return get_baseline(PruneSpec(baseline_epochs=BASELINE_EPOCHS).baseline_spec(), RunContext.create(home=home))


def test_prune_preview_matches_one_shot_pruning(home):
    at = open_page("prune", prune_baseline_epochs=BASELINE_EPOCHS)
    assert any("Training the baseline" in i.value for i in at.info)  # queued once, with a progress bar
    at = settle(at, home)
    at.slider(key="prune_amount").set_value(80).run()
    base = baseline_of(home)
    model = copy.deepcopy(base.model)
    torch.manual_seed(0)
    prune_to(model, "l1", "global", 0.8)
    accuracy, _ = evaluate(model, base.data.x_test, base.data.y_test)
    assert shown(at, "Accuracy, one-shot") == fmt.pct(accuracy)
    assert shown(at, "Sparsity") == fmt.pct(global_sparsity(model)) == "80.0 %"
    assert any("masked: dense kernels, no speed-up expected" in c.value.lower() for c in at.caption)


def test_prune_run_shows_the_engine_result(home):
    at = settle(open_page("prune", prune_baseline_epochs=BASELINE_EPOCHS, prune_epochs=1, prune_amount=70), home)
    record = finish(at, home, "prune_run", "prune")
    spec = PruneSpec(amount=0.7, finetune_epochs=1, baseline_epochs=BASELINE_EPOCHS)
    assert record["spec"] == spec.to_dict()
    m = record["metrics"]
    assert shown(at, "Accuracy (top-1, test)") == fmt.pct(m["accuracy"])
    assert shown(at, "Baseline accuracy") == fmt.pct(m["baseline_accuracy"])
    assert shown(at, "Compression ratio") == fmt.ratio(m["param_compression_ratio"])
    assert shown(at, "Size: sparse encoding") == fmt.size(m["size_sparse_bytes"])
    assert shown(at, "Latency, batch 1") == fmt.ms(m["latency_ms_b1"])
    assert len(chart_helpers.charts(at)) >= 5  # preview histogram + 4 result charts
    threads = torch.get_num_threads()
    torch.set_num_threads(record["environment"]["threads"])  # replay under the worker's thread count
    try:
        direct = api.run(spec, home=home).metrics
    finally:
        torch.set_num_threads(threads)
    assert direct["params_nonzero"] == m["params_nonzero"]
    # same numbers up to float summation order across processes: at most one test sample apart
    assert direct["accuracy"] == pytest.approx(m["accuracy"], abs=1 / 450 + 1e-9)
    assert direct["accuracy_before_finetune"] == pytest.approx(m["accuracy_before_finetune"], abs=1 / 450 + 1e-9)


def test_structured_preview_and_bad_input_show_engine_errors(home):
    at = settle(open_page("prune", prune_baseline_epochs=BASELINE_EPOCHS, prune_method="structured"), home)
    assert shown(at, "Parameters kept").endswith("%")
    at.slider(key="prune_amount").set_value(99).run()  # the 100-unit layer keeps int(100 * 0.01) = 1 unit
    assert not at.exception and not at.error
    at.selectbox(key="prune_model").set_value("mlp").run()
    at.text_input(key="prune_model_hidden").set_value("30,abc").run()
    assert not at.exception
    assert any("hidden widths must be comma-separated positive integers" in e.value for e in at.error)


def test_upload_is_checked_previewed_and_stored_by_content(home):
    at = settle(open_page("prune", prune_baseline_epochs=BASELINE_EPOCHS), home)
    at.selectbox(key="prune_dataset").set_value(common.UPLOAD).run()
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 3}" for i in range(60))
    good = f"a,b,label\n{rows}\n".encode()
    at.file_uploader(key="prune_upload").upload("../../my data.csv", good, "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    stored = list((home / "uploads").glob("*.csv"))
    assert [p.name for p in stored] == [f"{hashlib.sha256(good).hexdigest()}.csv"]
    assert at.dataframe[0].value.shape == (5, 3)  # the first rows, before use
    assert at.selectbox(key="prune_label_column").value == "label"
    assert not jobs.open_store(home).list_runs(kind="train", status=list(common.ACTIVE))  # nothing trains yet
    at.checkbox(key="prune_upload_confirm").check().run()
    assert any(run["spec"]["dataset"] == str(stored[0]) for run in jobs.open_store(home).list_runs(kind="train"))
    at.file_uploader(key="prune_upload").upload("bad.csv", b"a,label\nx,1\ny,2\n" * 10, "text/csv").run()
    assert not at.checkbox(key="prune_upload_confirm").value  # another file: look at it first
    at.checkbox(key="prune_upload_confirm").check().run()
    assert not at.exception
    assert any("is not numeric" in e.value for e in at.error)


def test_check_upload_refuses_wrong_type_size_and_content():
    for name, data, message in [("x.txt", b"1", "allowed: .csv, .npz"), ("x.npz", b"not a zip", "not an .npz"),
                                ("x.csv", b"\xff\xfe\x00bad", "not UTF-8"), ("x.csv", b"", "is empty"),
                                ("x.csv", b"0" * (common.MAX_UPLOAD_MB * 1024 * 1024 + 1), "the limit is")]:
        with pytest.raises(CompressError, match=message):
            common.check_upload(name, data)


def test_distill_run_shows_teacher_students_and_control(home):
    at = settle(open_page("distill", distill_teacher_epochs=BASELINE_EPOCHS, distill_epochs=2,
                          distill_width=16), home)
    assert len(chart_helpers.charts(at)) == 1  # the teacher's softened outputs
    at.slider(key="distill_temperature").set_value(2.0).run()
    record = finish(at, home, "distill_run", "distill")
    assert record["spec"]["temperature"] == 2.0 and record["spec"]["hidden"] == [16]
    m = record["metrics"]
    assert shown(at, "Distilled student") == fmt.pct(m["accuracy"])
    assert shown(at, "Student from scratch") == fmt.pct(m["scratch_accuracy"])
    assert shown(at, "Teacher") == fmt.pct(m["teacher_accuracy"])
    assert shown(at, "Agreement with teacher") == fmt.pct(m["agreement"])
    assert len(chart_helpers.charts(at)) == 5


def test_quantize_preview_and_int8_run(home):
    from compress_core.methods.quantize import fake_quantize_model

    at = settle(open_page("quantize", quantize_baseline_epochs=BASELINE_EPOCHS), home)
    at.slider(key="quantize_bits").set_value(3).run()
    base = baseline_of(home)
    accuracy, _ = evaluate(fake_quantize_model(copy.deepcopy(base.model), 3, "channel"), base.data.x_test,
                           base.data.y_test)
    assert shown(at, "Accuracy at 3 bits") == fmt.pct(accuracy)
    at.radio(key="quantize_scheme").set_value("int8").run()
    record = finish(at, home, "quantize_run", "quantize")
    m = record["metrics"]
    assert record["spec"]["scheme"] == "int8" and record["spec"]["bits"] == 8
    assert shown(at, "Accuracy (top-1, test)") == fmt.pct(m["accuracy"])
    assert shown(at, "Size quantized") == fmt.size(m["size_int8_bytes"])
    assert shown(at, "Speed-up, batch 64") == fmt.ratio(m["speedup_b64"])


def test_runs_page_filters_cancels_and_deletes(home):
    with_a_finished_run(home)
    at = open_page("runs")
    assert at.dataframe and len(chart_helpers.charts(at)) == 1  # the accuracy-vs-size scatter
    at.multiselect(key="runs_kind").set_value(["prune"]).run()
    assert set(at.dataframe[0].value["run"]) == {r["id"] for r in jobs.open_store(home).list_runs(kind="prune")}
    slow = jobs.submit(PruneSpec(amount=0.5, finetune_epochs=200, baseline_epochs=BASELINE_EPOCHS).to_dict(), home)
    at.run()
    at.selectbox(key="runs_selected").set_value(slow).run()
    at.button(key="runs_cancel").click().run()
    assert jobs.wait(slow, home, timeout=60)["status"] == "cancelled"
    at.run()
    at.selectbox(key="runs_selected").set_value(slow).run()
    at.button(key="runs_delete").click().run()
    assert not at.exception
    assert slow not in {r["id"] for r in jobs.open_store(home).list_runs()}


def test_home_lists_latest_runs_and_links_every_page(home):
    with_a_finished_run(home)
    at = open_page("home")
    assert "Compression Lab" in at.title[0].value
    pages_in_navigation = Path(APP).read_text().count("st.Page(") - 1  # every page but Home itself
    assert len(at.get("page_link")) == pages_in_navigation
    table = next(m.value for m in at.markdown if m.value.startswith("| run |"))  # a static table, not the grid
    newest = jobs.open_store(home).list_runs()[:8]
    assert not at.dataframe and all(run["id"] in table for run in newest)


def test_server_config_is_safe_by_default():
    import tomllib

    config = tomllib.loads((Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost" and config["server"]["enableXsrfProtection"] is True
    assert config["server"]["maxUploadSize"] == common.MAX_UPLOAD_MB and config["server"]["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"  # no traceback ever reaches the user
    assert config["runner"]["postScriptGC"] is False  # keeps slider-to-preview fast (see the comment there)


def test_app_refuses_a_foreign_store_file_without_touching_it(tmp_path, monkeypatch):
    """A corrupt file at the store path: a clear error on screen, the file left as it was."""
    monkeypatch.setenv("COMPRESS_LAB_HOME", str(tmp_path))
    store_file = tmp_path / "runs.sqlite"
    store_file.write_bytes(b"not a database, but somebody's notes" * 10)
    before = store_file.read_bytes()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("runs.sqlite" in e.value for e in at.error)
    assert store_file.read_bytes() == before


def test_app_resumes_runs_queued_before_a_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_HOME", str(tmp_path))
    run_id = jobs.submit({"kind": "train", "model": "mlp", "hidden": [8], "dataset": "digits", "epochs": 1},
                         home=tmp_path, start_workers=False)
    AppTest.from_file(APP, default_timeout=60).run()
    try:
        assert jobs.wait(run_id, home=tmp_path, timeout=120)["status"] == "finished"
    finally:
        jobs.stop_workers(tmp_path)
