"""AppTest: the Prune, Distill and Quantize pages on text data with the built-in tinybert: the
transformer previews (heads a structured run removes, embeddings/head in scope, the student a
distillation builds, per-layer int8 sizes) agree with the engine, and a text distillation runs."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from compress_core import fmt
from compress_core.context import RunContext
from compress_core.measure.metrics import count_params
from compress_core.methods.prune import prune_to
from compress_core.models.text import keep_layers, prune_structure
from compress_core.models.text_students import narrow_student
from compress_core.present.preview_text import int8_layer_sizes, scoped
from compress_core.runs import jobs
from compress_core.specs import PruneSpec
from compress_core.training.baseline import get_baseline
from compress_core.training.loop import evaluate, seeded
from ui import common

import chart_helpers
from apptest_helpers import open_page, shown, worker_home

RUN_TIMEOUT_S = 300
EPOCHS = 2


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "text_methods_home") as (home, _):
        yield home


def settle(at, home: Path):
    for run in jobs.open_store(home).list_runs(status=list(common.ACTIVE)):  # baselines train in a worker
        assert jobs.wait(run["id"], home, timeout=RUN_TIMEOUT_S)["status"] == "finished"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def baseline(home: Path):
    spec = PruneSpec(model="tinybert", dataset="text-demo", baseline_epochs=EPOCHS).baseline_spec()
    return get_baseline(spec, RunContext.create(home=home))


def test_prune_page_shows_the_heads_a_structured_run_removes(home):
    at = settle(open_page("prune", prune_dataset="text-demo", prune_baseline_epochs=EPOCHS), home)
    at.radio(key="prune_method").set_value("structured").run()
    at.slider(key="prune_amount").set_value(50).run()
    assert not at.exception, [e.value for e in at.exception]
    base = baseline(home)
    model = copy.deepcopy(base.model)
    rows = prune_structure(model, 0.5, "l1")
    accuracy, _ = evaluate(model, base.data.x_test, base.data.y_test)
    assert shown(at, "Heads removed") == str(sum(len(r["heads_removed"]) for r in rows)) == "4"
    assert shown(at, "FFN channels kept") == "64"
    assert shown(at, "Accuracy, one-shot") == fmt.pct(accuracy)
    figure = chart_helpers.charts(at)[0].spec
    assert "removed" in figure and "importance" in figure


def test_prune_page_puts_embeddings_and_head_in_scope_when_ticked(home):
    at = settle(open_page("prune", prune_dataset="text-demo", prune_baseline_epochs=EPOCHS), home)
    at.slider(key="prune_amount").set_value(60).run()
    at.checkbox(key="prune_include_embeddings").check().run()
    at.checkbox(key="prune_include_head").check().run()
    assert not at.exception, [e.value for e in at.exception]
    base = baseline(home)
    model = copy.deepcopy(scoped(base.model, True, True))
    torch.manual_seed(0)
    prune_to(model, "l1", "global", 0.6)
    accuracy, _ = evaluate(model, base.data.x_test, base.data.y_test)
    assert shown(at, "Accuracy, one-shot") == fmt.pct(accuracy)
    at.button(key="prune_run").click().run()
    run_id = at.session_state["prune_run_id"]
    record = jobs.wait(run_id, home, timeout=RUN_TIMEOUT_S)
    assert record["status"] == "finished", record.get("error")
    assert record["spec"]["include_embeddings"] is True and record["spec"]["include_head"] is True
    assert any(row["name"] == "hf.classifier" for row in record["layers"])


def test_distill_page_builds_a_transformer_student(home):
    at = settle(open_page("distill", distill_dataset="text-demo", distill_teacher_epochs=EPOCHS, distill_epochs=1),
                home)
    assert not at.selectbox(key="distill_teacher").options == []
    assert not [s for s in at.selectbox if s.key == "distill_student"]  # the student is the teacher, smaller
    at.slider(key="distill_student_layers").set_value(1).run()
    base = baseline(home)
    assert shown(at, "Student parameters") == fmt.count(count_params(keep_layers(base.model, 1))[0])
    at.checkbox(key="distill_narrow").check().run()
    at.number_input(key="distill_student_hidden").set_value(32).run()
    at.number_input(key="distill_student_heads").set_value(2).run()
    at.number_input(key="distill_student_ffn").set_value(64).run()
    at.slider(key="distill_hidden_weight").set_value(1.0).run()
    assert not at.exception, [e.value for e in at.exception]
    with seeded(0):
        student = narrow_student(base.model, layers=1, hidden_size=32, intermediate_size=64, heads=2)
    assert shown(at, "Student parameters") == fmt.count(count_params(student)[0])
    assert shown(at, "Hidden / heads") == "32 / 2"
    at.button(key="distill_run").click().run()
    record = jobs.wait(at.session_state["distill_run_id"], home, timeout=RUN_TIMEOUT_S)
    assert record["status"] == "finished", record.get("error")
    spec, m = record["spec"], record["metrics"]
    assert spec["student_layers"] == 1 and spec["student_hidden_size"] == 32 and spec["hidden_weight"] == 1.0
    assert m["params_total"] == count_params(student)[0] and "hidden_mse" in m and "scratch_accuracy" in m
    at.run()
    assert shown(at, "Distilled student") == fmt.pct(m["accuracy"])


def test_a_bad_student_width_is_one_line_on_the_page(home):
    at = settle(open_page("distill", distill_dataset="text-demo", distill_teacher_epochs=EPOCHS), home)
    at.checkbox(key="distill_narrow").check().run()
    at.number_input(key="distill_student_hidden").set_value(30).run()
    at.number_input(key="distill_student_heads").set_value(4).run()
    assert any("not a multiple of its 4 attention heads" in e.value for e in at.error)


def test_quantize_page_shows_int8_size_per_layer(home):
    at = settle(open_page("quantize", quantize_dataset="text-demo", quantize_baseline_epochs=EPOCHS), home)
    assert not at.exception, [e.value for e in at.exception]
    base = baseline(home)
    rows = int8_layer_sizes(base.model, at.radio(key="quantize_granularity").value)
    assert len(rows) == 14  # 12 attention/FFN projections, pooler, classifier
    fp32 = sum(r["fp32_bytes"] for r in rows)
    assert any(f"Linear layers: {fmt.size(fp32)} in fp32" in c.value for c in at.caption)
    specs = [c.spec for c in chart_helpers.charts(at)]
    assert any("int8 weights" in s for s in specs) and any("bit grid" in s for s in specs)
