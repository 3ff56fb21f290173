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
from apptest_helpers import open_page, open_tab, shown, worker_home

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


def chart_keys(at: AppTest) -> list[str]:
    return [c.key for c in chart_helpers.charts(at)]


def figure(at: AppTest, key: str) -> dict:
    """The Plotly figure (as JSON) of the chart with widget key `key`."""
    return chart_helpers.figure(at, key)


def test_first_visit_trains_the_lesson_model_and_draws_every_figure(home, first_visit):
    assert baseline_is_cached(LESSON_SPEC, RunContext.create(home=home))
    assert not first_visit.error and not jobs.open_store(home).list_runs()  # trained in the page, no background run
    keys = {"Pruning": ["learn_prune_hist", "learn_prune_units"], "Structured pruning": ["learn_struct_speed"],
            "Lottery tickets": [], "Pruning damage": ["learn_damage_classes"],
            "Gradual pruning": ["learn_agp_curve"],
            "Distillation": ["learn_kd_digit", "learn_kd_soft", "learn_kd_similarity", "learn_kd_grad",
                             "learn_kd_fraction"],
            "Quantization": ["learn_q_grid", "learn_q_error", "learn_q_accuracy", "learn_q_levels"]}
    assert [t.label for t in first_visit.tabs] == [*keys, "Questions people ask", "Compressing attention"]
    latex = []
    for tab, tab_keys in keys.items():  # only the open tab is drawn: each tab in turn
        open_tab(first_visit, tab)
        for key in tab_keys:
            fig = figure(first_visit, key)
            assert fig["layout"]["title"]["text"], key
        assert not {k for other in keys.values() for k in other if k not in tab_keys} & set(chart_keys(first_visit))
        latex += [x.value for x in first_visit.latex]
    assert len(latex) >= 6
    assert any(r"\alpha\, T^2\, \mathrm{KL}" in x and r"(1 - \alpha)\, \mathrm{CE}" in x for x in latex)


CONTROLS = [  # (tab, widget type, key, new value, charts that must change)
    ("Pruning", "slider", "learn_prune_amount", 90, ["learn_prune_hist", "learn_prune_units"]),
    ("Pruning", "radio", "learn_prune_scope", "layer", ["learn_prune_hist", "learn_prune_units"]),
    ("Structured pruning", "slider", "learn_struct_amount", 80, ["learn_struct_speed"]),
    ("Structured pruning", "button", "learn_struct_remeasure", None, ["learn_struct_speed"]),
    ("Gradual pruning", "slider", "learn_agp_start", 30, ["learn_agp_curve"]),
    ("Gradual pruning", "slider", "learn_agp_end", 60, ["learn_agp_curve"]),
    ("Gradual pruning", "slider", "learn_agp_steps", 4, ["learn_agp_curve"]),
    ("Distillation", "number_input", "learn_kd_image", None, ["learn_kd_digit", "learn_kd_soft"]),
    ("Distillation", "slider", "learn_kd_temperature", 8.0, ["learn_kd_soft", "learn_kd_similarity", "learn_kd_grad"]),
    ("Distillation", "slider", "learn_kd_alpha", 0.5, ["learn_kd_grad"]),
    ("Quantization", "selectbox", "learn_q_layer", "net.3", ["learn_q_grid", "learn_q_error", "learn_q_levels"]),
    ("Quantization", "slider", "learn_q_bits", 6, ["learn_q_grid", "learn_q_error", "learn_q_accuracy",
                                                   "learn_q_levels"]),
    ("Quantization", "radio", "learn_q_granularity", "channel", ["learn_q_grid"]),
]


@pytest.mark.parametrize("tab, kind, key, value, charts", CONTROLS, ids=[c[2] for c in CONTROLS])
def test_each_control_changes_its_figure(first_visit, tab, kind, key, value, charts):
    at = open_tab(first_visit, tab)
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
    at = open_tab(first_visit, "Pruning")
    at.slider(key="learn_prune_amount").set_value(85).run()
    at.radio(key="learn_prune_scope").set_value("global").run()
    base = get_baseline(LESSON_SPEC, RunContext.create(home=home))
    model = copy.deepcopy(base.model)
    prune_to(model, "l1", "global", 0.85)
    accuracy, _ = evaluate(model, base.data.x_test, base.data.y_test)
    assert shown(at, "Accuracy right after pruning") == fmt.pct(accuracy)
    assert "85.0 %" in figure(at, "learn_prune_hist")["layout"]["title"]["text"]


def test_agp_start_above_end_shows_the_engine_error(first_visit):
    at = open_tab(first_visit, "Gradual pruning")
    at.slider(key="learn_agp_end").set_value(40).run()
    at.slider(key="learn_agp_start").set_value(60).run()
    assert any("start sparsity 0.6 must not exceed the end sparsity 0.4" in e.value for e in at.error)
    at.slider(key="learn_agp_start").set_value(0).run()
    assert not at.error


TRY_IT = [  # (button, target page title, widget values the target page must show, lesson settings); its tab below
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


TAB_OF = {"learn_prune_try": "Pruning", "learn_struct_try": "Structured pruning", "learn_agp_try": "Gradual pruning",
          "learn_kd_try": "Distillation", "learn_labels_try": "Distillation", "learn_q_try": "Quantization"}


@pytest.mark.parametrize("button, title, expected, settings", TRY_IT, ids=[t[0] for t in TRY_IT])
def test_try_it_opens_the_page_with_the_lesson_settings(home, first_visit, button, title, expected, settings):
    at = open_tab(open_page("learn"), TAB_OF[button])
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



def test_only_the_open_tab_is_drawn_and_closed_lessons_keep_their_settings(first_visit):
    at = open_tab(open_tab(first_visit, "Structured pruning"), "Pruning")
    assert "learn_struct_speed" not in chart_keys(at)  # one pruning lesson per tab
    at.slider(key="learn_prune_amount").set_value(85).run()
    pruned = shown(at, "Accuracy right after pruning")
    open_tab(at, "Structured pruning")
    at.slider(key="learn_struct_amount").set_value(30).run()
    open_tab(at, "Quantization")
    assert "learn_prune_hist" not in chart_keys(at)
    assert not [s for s in at.slider if s.key in ("learn_prune_amount", "learn_struct_amount")]
    at.slider(key="learn_q_bits").set_value(5).run()
    open_tab(at, "Pruning")  # back: the sliders where they were left, the same numbers
    assert at.slider(key="learn_prune_amount").value == 85
    assert shown(at, "Accuracy right after pruning") == pruned
    assert "85.0 %" in figure(at, "learn_prune_hist")["layout"]["title"]["text"]
    assert open_tab(at, "Structured pruning").slider(key="learn_struct_amount").value == 30
    open_tab(at, "Quantization")
    assert at.slider(key="learn_q_bits").value == 5

