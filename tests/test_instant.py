"""Instant previews (ui/instant.py): the table holds, for every slider value, exactly what the page draws there."""
from __future__ import annotations

import json

import pytest

import chart_helpers
from apptest_helpers import open_page, worker_home
from ui import instant, live_chart


def test_value_text_is_what_the_browsers_range_input_reads():
    assert [instant.value_text(v) for v in (0, 51, 99, 4.0, 4.5, 0.5, 20.0)] == \
        ["0", "51", "99", "4", "4.5", "0.5", "20"]


@pytest.mark.parametrize("base, other", [
    ({"a": 1, "b": {"c": [1, 2, 3]}}, {"a": 1, "b": {"c": [1, 2, 4]}}),
    ({"a": 1, "gone": 2}, {"a": 1, "new": {"x": 1}}),
    ({"data": [{"y": [1, 2]}, {"y": [3]}]}, {"data": [{"y": [1, 2]}, {"y": [5], "name": "kept"}]}),
    ({"shapes": [{"x0": 1}]}, {"shapes": [{"x0": 1}, {"x0": 2}]}),  # another length: replaced whole
    ([1, 2], {"a": 1}),  # another type at the root
    ({"t": {"text": "a"}}, {"t": {"text": "a"}}),  # nothing changed
])
def test_patch_then_apply_gives_the_other_value(base, other):
    changes = instant.patch(base, other)
    assert instant.apply(base, changes) == other
    assert (changes == []) == (base == other)
    assert base == json.loads(json.dumps(base))  # apply did not change the base it was given


def test_a_patch_between_two_real_preview_figures_is_small_and_exact():
    from compress_core.present import plots

    edges = [i / 10 for i in range(-20, 21)]
    before = list(range(40))

    def figure(kept):
        fig = plots.weight_histogram(edges, {"baseline": (before, "#999"), "kept": (kept, "#c00")},
                                     {"all layers": 0.3}, "Weight histogram")
        return json.loads(fig.to_json())

    base, other = figure([0] * 10 + list(range(30))), figure([0] * 20 + list(range(20)))
    changes = instant.patch(base, other)
    assert instant.apply(base, changes) == other
    assert len(json.dumps(changes)) < len(json.dumps(other)) / 2  # only what moved travels


def test_build_stops_when_a_newer_run_waits_and_refuses_a_table_over_budget(monkeypatch):
    drawn = []

    def entry(value):
        drawn.append(value)
        return {"slots": {"s": f"<div>{value}</div>"}, "charts": {}}

    table = json.loads(instant.build("v1", [1, 2, 3], entry))
    assert table["entries"] == {str(v): {"slots": {"s": f"<div>{v}</div>"}, "patches": {}} for v in (1, 2, 3)}
    assert instant.build("v1", [1, 2, 3], entry, stop=lambda: True) is instant._INTERRUPTED
    monkeypatch.setattr(instant, "BUDGET_S", 0.0)

    def slow(value):  # CPU time (the budget counts this thread's CPU, not the wall clock)
        sum(i * i for i in range(20_000))
        return entry(value)

    drawn.clear()
    assert instant.build("v1", list(range(50)), slow) is None
    assert 1 <= len(drawn) <= 5  # gave up after the probe (a tenth of 50) at the latest, not after all 50


def test_off_when_asked_and_in_lecture_mode(monkeypatch):
    monkeypatch.setenv(instant.ENV, "0")
    assert instant.bind("s", ("k",), 1) is None
    monkeypatch.setenv(instant.ENV, "1")
    binding = instant.bind("s", ("k",), 1)
    assert binding.tag == f"{binding.version}|1" and binding == instant.bind("s", ("k",), 1)
    assert instant.bind("s", ("other",), 1).version != binding.version  # another setting, another table
    from ui import figures

    monkeypatch.setattr(figures, "_presentation", lambda: {"font_size": 24, "menus": False})
    assert instant.bind("s", ("k",), 1) is None


def test_live_chart_payload_carries_the_tag():
    spec = json.loads(live_chart.payload('{"data": []}', {"displaylogo": False}, "abc|5"))
    assert spec == {"figure": {"data": []}, "config": {"displaylogo": False}, "tag": "abc|5"}
    assert "tag" not in json.loads(live_chart.payload('{"data": []}', {}))


# ---------------------------------------------------------------- the pages' tables, in AppTest
@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "instant") as (folder, mp):
        mp.setenv(instant.ENV, "1")
        instant.clear()
        yield folder


def opened(home, name: str, **state):
    """The page once its baseline (trained by a background worker on the first visit) is ready."""
    from compress_core.runs import jobs
    from ui import common

    at = open_page(name, **state)
    for run in jobs.open_store(home).list_runs(status=list(common.ACTIVE)):
        assert jobs.wait(run["id"], home, timeout=240)["status"] == "finished"
    if instant.SENT in at.session_state:  # the first run found the baseline trained and sent the table already
        at.session_state[instant.SENT] = []
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tables(at) -> list[dict]:
    """The instant elements of the page: {"slider", "version", "table" (when sent)}."""
    found = []
    for node in at.main:
        if getattr(node, "type", None) == "bidi_component" and node.proto.component_name == instant.NAME:
            found.append(json.loads(node.proto.bytes))
    return found


def slots(at) -> dict[str, str]:
    """The page's instant slots (cards blocks and lines) by name: their markup as drawn."""
    import re

    out = {}
    for block in at.get("html"):
        match = re.search(r'data-lab-slot="([^"]+)"', block.proto.body)
        if match:
            out[match.group(1)] = block.proto.body
    return out


def check_entry(at, slider: str, value: str, charts: list[str]) -> dict:
    """The table's entry for the slider's value is what the page drew: the same markup, the same figures."""
    (element,) = [t for t in tables(at) if t["slider"] == slider]
    table = element["table"]
    entry = table["entries"][value]
    drawn = slots(at)
    assert entry["slots"] and entry["slots"] == {name: drawn[name] for name in entry["slots"]}
    assert sorted(entry["patches"]) == sorted(charts)
    for key in charts:
        chart = chart_helpers.figure(at, key)
        assert instant.apply(table["base"][key], entry["patches"][key]) == chart
        spec = [live_chart.spec_of(n) for n in at.main if live_chart.spec_of(n) and n.proto.id.endswith(key)]
        assert spec and spec[0]["tag"] == f"{element['version']}|{value}"
    return table


def test_prune_sends_every_amount_once_and_each_entry_is_what_a_move_draws(home):
    at = opened(home, "prune", prune_baseline_epochs=2)
    table = check_entry(at, "prune_amount", "50", ["prune_preview_hist"])
    assert sorted(map(int, table["entries"])) == list(range(100))
    at.slider(key="prune_amount").set_value(73).run()  # a move: the table is in the browser already
    assert not at.exception
    (element,) = tables(at)
    assert "table" not in element
    at.session_state[instant.SENT] = []  # as a new browser session would: sent again, and right for 73 too
    at.slider(key="prune_amount").set_value(74).run()
    check_entry(at, "prune_amount", "74", ["prune_preview_hist"])


def test_quantize_and_distill_tables(home):
    at = opened(home, "quantize", quantize_baseline_epochs=2)
    table = check_entry(at, "quantize_bits", "4", ["quantize_preview_grid"])
    assert sorted(map(int, table["entries"])) == list(range(2, 9))
    assert "fake-quantized to 7 bits" in table["entries"]["7"]["slots"]["quantize_preview_line"]
    at = opened(home, "distill", distill_teacher_epochs=2, distill_temperature=6.5)
    table = check_entry(at, "distill_temperature", "6.5", ["distill_preview_soft"])
    assert len(table["entries"]) == 40 and "at T = 0.5" in table["entries"]["0.5"]["slots"]["distill_preview_line"]


def test_no_table_when_instant_previews_are_off(home, monkeypatch):
    monkeypatch.setenv(instant.ENV, "0")
    at = opened(home, "prune", prune_baseline_epochs=2)
    assert tables(at) == [] and slots(at) == {}


def test_learn_pruning_and_quantization_lessons_tables(home, monkeypatch):
    from compress_core.context import RunContext
    from compress_core.present import teach
    from compress_core.specs import TrainSpec
    from compress_core.training.baseline import get_baseline
    from apptest_helpers import open_tab

    spec = TrainSpec(model="lenet300", dataset="digits", epochs=2)
    monkeypatch.setattr(teach, "TEACHING_SPEC", spec)
    get_baseline(spec, RunContext.create(home=home))  # the lesson model, trained here
    at = open_page("learn")
    table = check_entry(at, "learn_prune_amount", "70", ["learn_prune_hist", "learn_prune_units"])
    assert len(table["entries"]) == 100
    at.session_state[instant.SENT] = []
    at = open_tab(at, "Quantization")
    table = check_entry(at, "learn_q_bits", "3", ["learn_q_grid", "learn_q_error", "learn_q_accuracy",
                                                  "learn_q_levels"])
    assert sorted(map(int, table["entries"])) == list(teach.BITS)
    assert "Accuracy at 5 bits" in table["entries"]["5"]["slots"]["learn_q_cards"]


def test_a_model_slow_to_evaluate_gets_the_numbers_that_need_no_evaluation(home, monkeypatch):
    from ui import preview_cache

    monkeypatch.setenv("COMPRESS_LAB_PROGRESSIVE", "1")  # as for a transformer: numbers first, accuracy after
    instant.clear()
    at = opened(home, "prune", prune_baseline_epochs=2, prune_amount=40)
    (element,) = tables(at)
    entries = element["table"]["entries"]
    assert len(entries) == 100
    assert preview_cache.MEASURING in entries["90"]["slots"]["prune_preview_hist_cards"]  # never evaluated
    assert "Sparsity" in entries["90"]["slots"]["prune_preview_hist_cards"]
    at.session_state[instant.SENT] = []
    at.radio(key="prune_method").set_value("random").run()  # its numbers need an evaluation: no table
    assert not at.exception and tables(at) == []
