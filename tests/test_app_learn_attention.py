"""AppTest of the Learn page's "Compressing attention" section: it waits for a click before training the
small transformer, then draws its figures, and the numbers agree with edits made here by hand."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from compress_core import fmt
from compress_core.context import RunContext
from compress_core.present import teach, teach_attention
from compress_core.present.preview import baseline_is_cached
from compress_core.models.text import keep_layers, remove_heads
from compress_core.specs import TrainSpec
from compress_core.training.baseline import get_baseline
from compress_core.training.loop import evaluate

import chart_helpers
from apptest_helpers import open_page, open_tab, shown, worker_home

TEXT_SPEC = TrainSpec(model="tinybert", dataset="text-demo", epochs=2)
LESSON_SPEC = TrainSpec(model="lenet300", dataset="digits", epochs=2)
KEYS = ["learn_att_ablation", "learn_att_heads", "learn_att_layers", "learn_att_int8"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "learn_attention_home") as (home, mp):
        mp.setattr(teach, "TEACHING_SPEC", LESSON_SPEC)
        mp.setattr(teach_attention, "ATTENTION_SPEC", TEXT_SPEC)
        yield home


def buttons(at) -> set[str]:
    """The keys of the page's buttons."""
    return {b.key for b in at.button}


def figure(at, key: str) -> dict:
    return chart_helpers.figure(at, key)


def test_section_trains_on_click_and_matches_hand_made_edits(home):
    at = open_page("learn")
    # the section is the page's last tab: a first visit (the first tab) does not draw it
    assert "learn_attention_train" not in buttons(at) and "learn_att_try_heads" not in buttons(at)
    open_tab(at, "Compressing attention")
    assert not baseline_is_cached(TEXT_SPEC, RunContext.create(home=home))  # nothing trained unasked
    assert not chart_helpers.find(at, "learn_att_heads")
    at.button(key="learn_attention_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert baseline_is_cached(TEXT_SPEC, RunContext.create(home=home))
    at.run()
    for key in KEYS:
        figure(at, key)

    base = get_baseline(TEXT_SPEC, RunContext.create(home=home))
    x, y = base.data.x_test, base.data.y_test
    acc0, _ = evaluate(base.model, x, y)
    ablation = figure(at, "learn_att_ablation")["data"][0]["z"]  # pp lost, layers x heads
    layer, head = 1, 2
    edited = copy.deepcopy(base.model)
    remove_heads(edited.encoder_layers()[layer], [head])
    assert ablation[layer][head] == pytest.approx(100 * (acc0 - evaluate(edited, x, y)[0]), abs=1e-6)

    bars = figure(at, "learn_att_layers")["data"][0]
    assert bars["y"][0] == pytest.approx(100 * evaluate(keep_layers(base.model, 1), x, y)[0])

    by_hand = copy.deepcopy(base.model)  # every Linear weight on its per-tensor int8 grid
    with torch.no_grad():
        for m in by_hand.modules():
            if isinstance(m, nn.Linear):
                s = m.weight.abs().max() / 127
                m.weight.copy_(torch.round(m.weight / s).clamp(-127, 127) * s)
    assert shown(at, "Accuracy, int8 weights") == fmt.pct(evaluate(by_hand, x, y)[0])


def test_try_it_opens_the_prune_page_with_a_structured_text_run(home):
    at = open_tab(open_page("learn"), "Compressing attention")
    if not baseline_is_cached(TEXT_SPEC, RunContext.create(home=home)):  # when run alone
        at.button(key="learn_attention_train").click().run()
    at.button(key="learn_att_try_heads").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="prune_method").value == "structured" and at.selectbox(key="prune_dataset").value == "text-demo"
