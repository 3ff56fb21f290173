"""AppTest of the Learn page: the first visit trains the lesson model with a progress bar, every control
changes its figure, the numbers agree with the engine, and each "try it" button opens its page preset.

The lesson model is LeNet-300-100 on digits trained for 3 epochs here (the page uses the data
set's default), so the whole file stays quick.
"""
from __future__ import annotations

import copy

import pytest
from streamlit.testing.v1 import AppTest

from compress_core import fmt

from compress_core.runs import jobs

from compress_core.present import teach
from compress_core.training.baseline import get_baseline
from compress_core.context import RunContext
from compress_core.present.preview import baseline_is_cached
from compress_core.methods.prune import prune_to
from compress_core.specs import TrainSpec
from compress_core.training.loop import evaluate

import chart_helpers
from apptest_helpers import open_page, shown, worker_home

LESSON_SPEC = TrainSpec(model="lenet300", dataset="digits", epochs=3)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "learn_home") as (home, mp):
        mp.setattr(teach, "TEACHING_SPEC", LESSON_SPEC)
        yield home


@pytest.fixture(scope="module")
def first_visit(home) -> AppTest:
    """The Learn page opened once on an empty home: it trains the lesson model itself."""
    assert not baseline_is_cached(LESSON_SPEC, RunContext.create(home=home))
    return open_page("learn")


def figure(at: AppTest, key: str) -> dict:
    """The Plotly figure (as JSON) of the chart with widget key `key`."""
    return chart_helpers.figure(at, key)


def test_first_visit_trains_the_lesson_model_and_draws_every_figure(home, first_visit):
    assert baseline_is_cached(LESSON_SPEC, RunContext.create(home=home))
    assert not first_visit.error and not jobs.open_store(home).list_runs()  # trained in the page, no background run
    keys = ["learn_prune_hist", "learn_prune_units", "learn_struct_speed", "learn_agp_curve", "learn_kd_digit",
            "learn_kd_soft", "learn_kd_similarity", "learn_kd_grad", "learn_kd_fraction", "learn_q_grid",
            "learn_q_error", "learn_q_accuracy", "learn_q_levels"]
    for key in keys:
        fig = figure(first_visit, key)
        assert fig["layout"]["title"]["text"], key
    assert len(first_visit.latex) >= 6
    assert any(r"\alpha\, T^2\, \mathrm{KL}" in x.value and r"(1 - \alpha)\, \mathrm{CE}" in x.value
               for x in first_visit.latex)


CONTROLS = [  # (widget type, key, new value, charts that must change)
    ("slider", "learn_prune_amount", 90, ["learn_prune_hist", "learn_prune_units"]),
    ("radio", "learn_prune_scope", "layer", ["learn_prune_hist", "learn_prune_units"]),
    ("slider", "learn_struct_amount", 80, ["learn_struct_speed"]),
    ("button", "learn_struct_remeasure", None, ["learn_struct_speed"]),
    ("slider", "learn_agp_start", 30, ["learn_agp_curve"]),
    ("slider", "learn_agp_end", 60, ["learn_agp_curve"]),
    ("slider", "learn_agp_steps", 4, ["learn_agp_curve"]),
    ("number_input", "learn_kd_image", None, ["learn_kd_digit", "learn_kd_soft"]),
    ("slider", "learn_kd_temperature", 8.0, ["learn_kd_soft", "learn_kd_similarity", "learn_kd_grad"]),
    ("slider", "learn_kd_alpha", 0.5, ["learn_kd_grad"]),
    ("selectbox", "learn_q_layer", "net.3", ["learn_q_grid", "learn_q_error", "learn_q_levels"]),
    ("slider", "learn_q_bits", 6, ["learn_q_grid", "learn_q_error", "learn_q_accuracy", "learn_q_levels"]),
    ("radio", "learn_q_granularity", "channel", ["learn_q_grid"]),
]


@pytest.mark.parametrize("kind, key, value, charts", CONTROLS, ids=[c[1] for c in CONTROLS])
def test_each_control_changes_its_figure(first_visit, kind, key, value, charts):
    at = first_visit
    before = {c: figure(at, c) for c in charts}
    widget = getattr(at, kind)(key=key)
    if kind == "button":
        widget.click().run()
    else:
        widget.set_value((widget.value + 1) % 450 if value is None else value).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    for c in charts:
        assert figure(at, c) != before[c], f"{key} did not change {c}"


def test_pruning_numbers_are_the_engines(home, first_visit):
    at = first_visit
    at.slider(key="learn_prune_amount").set_value(85).run()
    at.radio(key="learn_prune_scope").set_value("global").run()
    base = get_baseline(LESSON_SPEC, RunContext.create(home=home))
    model = copy.deepcopy(base.model)
    prune_to(model, "l1", "global", 0.85)
    accuracy, _ = evaluate(model, base.data.x_test, base.data.y_test)
    assert shown(at, "Accuracy right after pruning") == fmt.pct(accuracy)
    assert "85.0 %" in figure(at, "learn_prune_hist")["layout"]["title"]["text"]


def test_agp_start_above_end_shows_the_engine_error(first_visit):
    at = first_visit
    at.slider(key="learn_agp_end").set_value(40).run()
    at.slider(key="learn_agp_start").set_value(60).run()
    assert any("start sparsity 0.6 must not exceed the end sparsity 0.4" in e.value for e in at.error)
    at.slider(key="learn_agp_start").set_value(0).run()
    assert not at.error


TRY_IT = [  # (button, target page title, widget values the target page must show)
    ("learn_prune_try", "Prune", {"prune_amount": 55, "prune_method": "l1", "prune_scope": "layer"},
     {"learn_prune_amount": 55, "learn_prune_scope": "layer"}),
    ("learn_struct_try", "Prune", {"prune_amount": 40, "prune_method": "structured"}, {"learn_struct_amount": 40}),
    ("learn_agp_try", "Prune", {"prune_amount": 80, "prune_schedule": "agp", "prune_steps": 7},
     {"learn_agp_end": 80, "learn_agp_steps": 7}),
    ("learn_kd_try", "Distill", {"distill_temperature": 6.0, "distill_alpha": 0.7},
     {"learn_kd_temperature": 6.0, "learn_kd_alpha": 0.7}),
    ("learn_labels_try", "Distill", {"distill_fraction": 0.1, "distill_transfer": "all"}, {}),
    ("learn_q_try", "Quantize", {"quantize_bits": 5, "quantize_granularity": "tensor", "quantize_layer": "net.3",
                                 "quantize_scheme": "fake"},
     {"learn_q_bits": 5, "learn_q_granularity": "tensor", "learn_q_layer": "net.3"}),
]


@pytest.mark.parametrize("button, title, expected, settings", TRY_IT, ids=[t[0] for t in TRY_IT])
def test_try_it_opens_the_page_with_the_lesson_settings(home, first_visit, button, title, expected, settings):
    at = open_page("learn")
    for key, value in settings.items():
        widget = at.get_by_key(key)
        assert widget is not None, key
        widget.set_value(value).run()
    at.button(key=button).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [title]
    for key, value in expected.items():
        assert at.session_state[key] == value and at.get_by_key(key).value == value, key
    # The lesson model is the page's baseline too: its preview is instant, no background training queued.
    assert not jobs.open_store(home).list_runs(status=["queued", "running"])
    assert not at.error, [e.value for e in at.error]

