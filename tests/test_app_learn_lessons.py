"""AppTest of the Learn page's lottery-ticket and per-class damage lessons and of the "predict, then reveal"
questions: nothing of an answer is on the page before the commit, and after it the answer shown is the
engine's own measurement, recomputed here.

The lesson model is LeNet-300-100 on digits trained for 3 epochs here, and the lottery lesson is patched to
2 rounds of 2 epochs, so the file stays quick.
"""
from __future__ import annotations

import copy

import pytest
from streamlit.testing.v1 import AppTest

from compress_core import fmt
from compress_core.context import RunContext
from compress_core.explore.flips import per_class
from compress_core.methods.prune import agp_schedule, prune_to
from compress_core.models.zoo import prunable_layers
from compress_core.present import teach, teach_lottery, teach_predict
from compress_core.specs import TrainSpec
from compress_core.training.baseline import get_baseline
from compress_core.training.loop import evaluate, predict_logits

import chart_helpers
from apptest_helpers import open_page, open_tab, shown, worker_home

LESSON_SPEC = TrainSpec(model="lenet300", dataset="digits", epochs=3)
SMALL = teach_lottery.LotterySettings(rounds=2, rate=0.5, epochs=2)
QUESTIONS = {"learn_predict_prune": "Pruning", "learn_predict_agp": "Gradual pruning",  # question: its tab
             "learn_predict_kd": "Distillation", "learn_predict_quant": "Quantization",
             "learn_predict_lottery": "Lottery tickets", "learn_predict_damage": "Pruning damage"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "learn_lessons_home") as (home, mp):
        mp.setattr(teach, "TEACHING_SPEC", LESSON_SPEC)
        mp.setattr(teach_lottery, "LESSON", SMALL)
        yield home


@pytest.fixture(scope="module")
def base(home):
    return get_baseline(LESSON_SPEC, RunContext.create(home=home))


def figure(at: AppTest, key: str) -> dict:
    return chart_helpers.figure(at, key)


def revealed(at: AppTest) -> list[str]:
    """Texts of the reveal boxes (a success when right or close, a warning otherwise)."""
    return [e.value for e in at.success] + [e.value for e in at.warning]


def commit(at: AppTest, question: str, guess) -> None:
    at.get_by_key(f"{question}_guess").set_value(guess).run()
    at.button(key=f"{question}_commit").click().run()
    assert not at.exception, [e.value for e in at.exception]


# ---------------------------------------------------------------- the component on its own
def _question_script():
    import streamlit as st

    from compress_core.present import teach_predict
    from ui import predict

    def measure():
        st.session_state["measured_times"] = st.session_state.get("measured_times", 0) + 1
        return 0.42

    predict.ask("demo", "How much?", slider=dict(min_value=0, max_value=100, value=10, step=1),
                measure=measure, judge=lambda g, m: teach_predict.judge_number(g / 100, m, tolerance=0.05))


def test_predict_component_measures_only_after_commit_and_can_be_asked_again():
    at = AppTest.from_function(_question_script, default_timeout=30).run()
    assert not revealed(at) and "measured_times" not in at.session_state
    assert not any("42" in m.value for m in at.markdown)
    at.slider(key="demo_guess").set_value(40).run()
    assert not revealed(at)  # moving the guess reveals nothing
    at.button(key="demo_commit").click().run()
    assert revealed(at) == ["Measured: 42.0 %. Your guess, 40.0 %, is 2.0 points too low: close."]
    assert at.session_state["measured_times"] == 1 and at.slider(key="demo_guess").disabled
    at.button(key="demo_reset").click().run()
    assert not revealed(at) and not at.slider(key="demo_guess").disabled


# ---------------------------------------------------------------- on the Learn page
@pytest.fixture(scope="module")
def page(home, base) -> AppTest:
    return open_page("learn")


def test_every_section_asks_a_question_and_reveals_nothing_before_commit(page):
    for question, tab in QUESTIONS.items():
        open_tab(page, tab)
        assert page.get_by_key(f"{question}_guess") is not None, question
        assert page.button(key=f"{question}_commit") is not None
        assert not revealed(page)
        assert not [d for d in page.dataframe if "inputs per unit" in d.value.columns]


def test_pruning_question_reveals_the_engines_layer_sparsities(page, base):
    at = open_tab(page, "Pruning")
    commit(at, "learn_predict_prune", "net.1")
    model = copy.deepcopy(base.model)
    prune_to(model, "l1", "global", 0.9)
    zeros = {n: float((m.weight == 0).float().mean()) for n, m in prunable_layers(model)}
    emptied = max(zeros, key=zeros.get)
    (text,) = revealed(at)
    assert fmt.pct(zeros[emptied]) in text and emptied in text
    assert text.startswith("Right" if emptied == "net.1" else "Not quite")
    table = next(d.value for d in at.dataframe if "inputs per unit" in d.value.columns)
    assert list(table.iloc[:, 1]) == [fmt.pct(v) for v in zeros.values()]
    at.button(key="learn_predict_prune_reset").click().run()
    assert not revealed(at)


def test_agp_and_quantization_questions_reveal_the_engines_values(page, base):
    at = open_tab(page, "Gradual pruning")
    commit(at, "learn_predict_agp", 45)
    measured = agp_schedule(0.0, 0.9, 10)[4]
    assert any(f"Measured: {fmt.pct(measured)}. Your guess, 45.0 %" in t for t in revealed(at))
    open_tab(at, "Quantization")
    commit(at, "learn_predict_quant", "channel")
    errors = teach_predict.rounding_errors(base.model, 4)
    assert any(t.startswith("Not quite") and f"MSE {errors['tensor']:.3g}" in t for t in revealed(at))
    at.button(key="learn_predict_quant_reset").click().run()
    open_tab(at, "Gradual pruning")  # the other tab's answer was kept while it was closed
    assert any(f"Measured: {fmt.pct(measured)}. Your guess, 45.0 %" in t for t in revealed(at))
    at.button(key="learn_predict_agp_reset").click().run()


def test_distillation_question_reveals_the_measured_label_share_control(page, base):
    """Committing trains the control (seed 0) in the page; the winner shown is the one measured here."""
    from compress_core.present.teach_controls import SETTINGS, label_share_control

    at = open_tab(page, "Distillation")
    commit(at, "learn_predict_kd", SETTINGS[0])
    measured = label_share_control(base.model, base.data, seed=0)
    winner = max(SETTINGS, key=measured.get)
    texts = [t for t in revealed(at) if winner in t]
    assert texts and f"with {fmt.pct(measured[winner])}" in texts[0]
    assert texts[0].startswith("Right" if winner == SETTINGS[0] else "Not quite")
    at.button(key="learn_predict_kd_reset").click().run()


def test_damage_lesson_numbers_are_the_engines(page, base):
    at = open_tab(page, "Pruning damage")
    x, y = base.data.x_test, base.data.y_test
    pruned = copy.deepcopy(base.model)
    prune_to(pruned, "l1", "global", 0.8)  # the lesson opens at 80 %, where its question asks
    accuracy, _ = evaluate(pruned, x, y)
    assert shown(at, "Top-1 accuracy") == fmt.pct(accuracy)
    rows = per_class(y.numpy(), predict_logits(base.model, x).argmax(1).numpy(),
                     predict_logits(pruned, x).argmax(1).numpy(), list(base.data.class_names))
    worst = min(rows, key=lambda r: (r["difference"], r["class"]))
    assert shown(at, f"Hardest-hit digit: {worst['label']}") == fmt.pct(worst["run_accuracy"])
    bars = figure(at, "learn_damage_classes")["data"][0]["y"]
    assert bars == pytest.approx([100 * r["difference"] for r in rows])
    before = figure(at, "learn_damage_classes")
    at.select_slider(key="learn_damage_sparsity").set_value("95 %").run()
    assert figure(at, "learn_damage_classes") != before
    commit(at, "learn_predict_damage", str(worst["label"]))
    assert any(t.startswith("Right") and fmt.pp(worst["difference"]) in t for t in revealed(at))
    at.button(key="learn_predict_damage_reset").click().run()


def test_lottery_lesson_measures_on_click_and_its_question_reveals_the_measured_gap(page):
    at = open_tab(page, "Lottery tickets")
    assert not chart_helpers.find(at, "learn_lottery_curves")
    at.button(key="learn_lottery_measure").click().run()
    assert not at.exception, [e.value for e in at.exception]
    data = figure(at, "learn_lottery_curves")["data"]
    assert [d["name"] for d in data] == [teach_lottery.TICKET, teach_lottery.REINIT]
    ticket, reinit = data[0]["y"][-1] / 100, data[1]["y"][-1] / 100
    summary = [m.value for m in at.markdown if m.value.startswith("**What our measurement shows.**")]
    assert summary and f"ticket {fmt.pct(ticket)}, re-init {fmt.pct(reinit)}" in summary[0]
    commit(at, "learn_predict_lottery", 0)
    assert any(t.startswith(f"Measured: {fmt.pp(ticket - reinit)}.") for t in revealed(at))


@pytest.mark.parametrize("tab, button, title, expected", [
    ("Lottery tickets", "learn_lottery_try", "Classics", {"classics_name": "lottery-ticket",
                                                          "classics_dataset": "digits"}),
    ("Pruning damage", "learn_damage_try", "Prune", {"prune_amount": 80, "prune_scope": "global", "prune_epochs": 3}),
])
def test_try_it_opens_the_linked_page(home, base, tab, button, title, expected):
    at = open_tab(open_page("learn"), tab)
    at.button(key=button).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [title]
    for key, value in expected.items():
        assert at.session_state[key] == value, key
