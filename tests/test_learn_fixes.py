"""The lesson errors of issue 21, each with the test that would have caught it: the numbers on the Learn
page's cards agree with each other and with the engine."""
from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

from compress_core import fmt
from compress_core.context import RunContext
from compress_core.measure.metrics import clean_state_dict, serialized_size, sparse_encode
from compress_core.methods.prune import prune_to
from compress_core.models.zoo import prunable_layers
from compress_core.present import plots, teach
from compress_core.present.teach_controls import summarize
from compress_core.specs import TrainSpec
from compress_core.training.baseline import get_baseline
from compress_core.training.loop import predict_logits

import chart_helpers
from apptest_helpers import open_page, open_tab, shown, worker_home

LESSON_SPEC = TrainSpec(model="lenet300", dataset="digits", epochs=3)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "learn_fixes_home") as (home, mp):
        mp.setattr(teach, "TEACHING_SPEC", LESSON_SPEC)
        yield home


@pytest.fixture(scope="module")
def base(home):
    return get_baseline(LESSON_SPEC, RunContext.create(home=home))


@pytest.fixture(scope="module")
def page(home, base) -> AppTest:
    return open_page("learn")


def _figure(at: AppTest, key: str) -> dict:
    return chart_helpers.figure(at, key)


def _delta(at: AppTest, label: str) -> str:
    return shown(at, label, "delta")


# 1. the rounding error shown is that of the grid shown, at most half of that grid's step
@pytest.mark.parametrize("granularity", ["channel", "tensor"])
def test_rounding_error_is_at_most_half_its_own_grid_step(base, granularity):
    for name, _ in prunable_layers(base.model):
        weight = teach.layer_weight(base.model, name)
        channel = teach.narrowest_channel(weight)
        for bits in teach.BITS:
            view = teach.grid_view(weight, bits, granularity, channel)
            assert view["max_abs"] <= view["step"] / 2 * (1 + 1e-5), (name, bits)


def test_rounding_card_agrees_with_its_step(page):
    at = open_tab(page, "Quantization")
    at.radio(key="learn_q_granularity").set_value("channel").run()
    for bits in (2, 3, 5):
        at.slider(key="learn_q_bits").set_value(bits).run()
        error = float(shown(at, "Largest rounding error"))
        step = float(_delta(at, "Largest rounding error").removeprefix("grid step "))
        assert error <= step / 2 * 1.05  # both shown with 2 significant digits


# 2. the distillation lesson shows the control with a teacher on the same labels, beside the three settings
def test_label_share_control_is_shown_with_its_numbers(page):
    at = open_tab(page, "Distillation")
    fig = _figure(at, "learn_kd_label_share")
    doc = teach.DOC_LABEL_SHARE
    bars = fig["data"][0]["y"]
    assert bars == pytest.approx([100 * doc["scratch"], 100 * doc["distilled, teacher on the same labels"],
                                  100 * doc["distilled, teacher on all labels"]])
    caption = " ".join(c.value for c in at.caption)
    assert fmt.pp(doc["distilled, teacher on all labels"] - doc["distilled, teacher on the same labels"]) in caption
    assert fmt.pp(doc["distilled, teacher on the same labels"] - doc["scratch"]) in caption
    assert _figure(at, "learn_kd_fraction")  # the three settings stay, whatever runs exist


def test_summarize_averages_over_seeds():
    rows = [{"fraction": 0.1, "seed": s, "labeled": 135, "scratch": a, "distilled, teacher on all labels": b}
            for s, (a, b) in enumerate([(0.8, 0.9), (0.9, 1.0)])]
    assert summarize(rows) == pytest.approx({"scratch": 0.85, "distilled, teacher on all labels": 0.95, "seeds": 2,
                                             "labeled": 135})


# 3. Why T^2: the ratio is shown and it is what the gradients give, not constant
def test_soft_hard_ratio_card_matches_the_gradients(page, base):
    at = open_tab(page, "Distillation")
    at.slider(key="learn_kd_alpha").set_value(0.9).run()
    at.slider(key="learn_kd_temperature").set_value(4.0).run()
    student = teach.untrained_student(base.data.input_shape, base.data.num_classes)
    ratios = teach.soft_hard_ratios(predict_logits(student, base.data.x_test), predict_logits(base.model, base.data.x_test),
                                    base.data.y_test, (1.0, 2.0, 4.0, 8.0), 0.9)
    assert shown(at, "Soft/hard gradient ratio") == f"{ratios[4.0]:.1f}"
    assert ratios[8.0] > 1.3 * ratios[1.0]  # not "the same whatever T"
    assert not any("stays the same whatever T" in m.value for m in at.markdown)


# 4. structured vs unstructured accuracy at equal kept parameters
def test_equal_parameters_table(base):
    table = teach.equal_params_accuracy(base.model, base.data, 0.5, finetune_epochs=0)
    assert table["params_kept"].nunique() == 1  # exactly the same number of parameters kept
    structured, unstructured = table.iloc[0], table.iloc[1]
    assert unstructured.before_finetune > structured.before_finetune  # the lesson's point, measured


def test_equal_parameters_shown_on_the_page(page):
    at = open_tab(page, "Structured pruning")
    at.slider(key="learn_struct_amount").set_value(50).run()
    fig = _figure(at, "learn_struct_equal")
    assert "kept" in fig["layout"]["title"]["text"] and len(fig["data"]) >= 1


# 5. compression in bytes beside compression by parameters
def test_pruning_cards_show_both_ratios(page, base):
    at = open_tab(page, "Pruning")
    at.slider(key="learn_prune_amount").set_value(90).run()
    at.radio(key="learn_prune_scope").set_value("global").run()
    pruned = teach.pruned_copy(base.model, 0.9)
    dense, sparse = serialized_size(clean_state_dict(base.model)), len(sparse_encode(clean_state_dict(pruned)))
    assert shown(at, "Compression in bytes") == fmt.ratio(dense / sparse)
    by_params = float(shown(at, "Compression, params").rstrip("×"))
    assert by_params > dense / sparse  # positions cost bytes: the byte ratio is the smaller one


# 6. the FAQ's int8 claim comes from a measurement
def test_int8_evidence_uses_the_latest_int8_run():
    runs = [{"id": "r1", "kind": "quantize", "status": "finished", "spec": {"scheme": "int8", "model": "lenet300"},
             "metrics": {"compression_ratio": 3.6, "speedup_b64": 0.67}}]
    text = teach.int8_evidence(runs)
    assert "3.6× smaller" in text and "slower at batch 64" in text
    assert "less than 4×" in teach.int8_evidence([])


# 7. the schedules are measured, and the page shows them
def test_measured_schedules_figure(page):
    fig = _figure(open_tab(page, "Gradual pruning"), "learn_agp_measured_figure")
    assert {t["name"] for t in fig["data"]} == set(teach.SCHEDULES)


# 8. chart defects
def test_pareto_log_ticks_say_kilobytes_and_show_the_dense_baseline():
    runs = [{"id": f"r{i}", "kind": "prune", "status": "finished", "spec": {"model": "lenet300", "dataset": "digits"},
             "metrics": {"accuracy": 0.97, "size_bytes": size, "size_form": "sparse", "baseline_accuracy": 0.978},
             "baseline": {"size_fp32_bytes": 205_000, "accuracy": 0.978}} for i, size in enumerate((7_000, 20_000))]
    fig = plots.pareto(plots.run_points(runs))
    ticks = fig.layout.xaxis.ticktext
    assert "20 kB" in ticks and all(t.endswith("kB") for t in ticks)
    for value in fig.layout.xaxis.tickvals:
        assert math.log10(value / (10 ** math.floor(math.log10(value)))) in (0, math.log10(2), math.log10(5))
    dense = [t for t in fig.data if t.name == "dense baseline (fp32)"]
    assert dense and dense[0].x[0] == pytest.approx(205.0)


def test_distill_label_says_auto_epochs():
    from compress_core.methods.registry import describe

    spec = {"teacher": "lenet300", "temperature": 4.0, "alpha": 0.9, "train_fraction": 0.1, "epochs": None}
    assert describe("distill", spec) == "from lenet300, T=4.0, α=0.9, 10% labels, auto epochs"
    assert describe("distill", {**spec, "epochs": 12}).endswith("12 ep")


def test_prune_to_is_what_the_ratio_counts(base):
    model = teach.pruned_copy(base.model, 0.9)
    prune_to(model, "l1", "global", 0.9)  # idempotent at the same target
    assert teach.file_sizes(base.model, model)[1] < teach.file_sizes(base.model, base.model)[1]
