"""The one-element card block (ui/cards.py): the same label, value and delta text as st.metric, a signed change
coloured with its direction, context grey, the help as a tooltip, every text escaped; and the preview pages draw
their cards as one element."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ui import cards

from apptest_helpers import _Cards


def parse(markup: str) -> list[dict]:
    parser = _Cards()
    parser.feed(markup)
    return parser.cards


def test_a_block_reads_as_the_cards_text():
    markup = cards.block_html([("Accuracy", "97.3 %", "-0.4 pp", "top-1, change vs 97.78 %"),
                               ("Sparsity", "50.0 %", None, None),
                               ("Non-zero parameters", "25,510", "of 50,610", "total / non-zero")])
    assert parse(markup) == [
        {"label": "Accuracy", "value": "97.3 %", "delta": "-0.4 pp", "help": "top-1, change vs 97.78 %"},
        {"label": "Sparsity", "value": "50.0 %", "delta": None, "help": None},
        {"label": "Non-zero parameters", "value": "25,510", "delta": "of 50,610", "help": "total / non-zero"}]
    assert markup.count('role="group"') == 3 and 'aria-label="Sparsity"' in markup


@pytest.mark.parametrize("delta, kind", [("+1.2 pp", "up"), ("-0.4 pp", "down"), ("−3 pp", "down"),
                                         ("+0.0 pp", None), ("fp32 205 kB", None), ("net.1", None)])
def test_a_signed_change_is_coloured_with_its_direction_and_context_is_grey(delta, kind):
    markup = cards.card_html("x", "1", delta)
    assert ('class="lab-card-delta up"' in markup) == (kind == "up")
    assert ('class="lab-card-delta down"' in markup) == (kind == "down")
    assert (kind is None) == ('class="lab-card-delta"' in markup)


def test_text_is_escaped_and_the_grid_has_its_columns():
    markup = cards.block_html([('<b>"layer"</b>', "1 & 2", "<i>", 'a "quote"')], per_row=4)
    assert "<b>" not in markup and "<i>" not in markup and "--lab-per-row:4" in markup
    assert parse(markup) == [{"label": '<b>"layer"</b>', "value": "1 & 2", "delta": "<i>", "help": 'a "quote"'}]


def test_the_style_is_only_css():
    assert cards.STYLE.startswith("<style>") and cards.STYLE.endswith("</style>")
    assert cards.STYLE.count("<") == 2  # Streamlit sends a style-only st.html to its event container


def _preview_script():
    import streamlit as st

    from ui import cards, common

    cards.style()  # as ui.common.ensure_navigation does on every page

    @st.fragment
    def panel() -> None:
        amount = st.slider("Amount", 0, 99, 50, key="demo_amount")
        common.card_block([("Sparsity", f"{amount}.0 %", None, "share of zeros"),
                           ("Accuracy", "97.0 %", f"-{amount / 100:.1f} pp", None)])

    panel()


def test_a_fragment_sends_one_element_for_its_cards():
    at = AppTest.from_function(_preview_script, default_timeout=30).run()
    assert not at.exception and not at.metric
    blocks = [h for h in at.get("html") if 'class="lab-cards"' in h.proto.body]
    assert len(blocks) == 1 and cards.STYLE in [h.proto.body for h in at.get("html")]
    at.slider(key="demo_amount").set_value(70).run()
    (block,) = [h for h in at.get("html") if 'class="lab-cards"' in h.proto.body]
    assert [(c["label"], c["value"], c["delta"]) for c in parse(block.proto.body)] == [
        ("Sparsity", "70.0 %", None), ("Accuracy", "97.0 %", "-0.7 pp")]
