"""Instant previews in Chromium: a move is drawn from the table in the page, without the server (ui/instant.py)."""
from __future__ import annotations

import pytest
from conftest import serving
from test_browser import BASELINE_TIMEOUT_MS, metric_value, no_exception, open_page, settle, shot

HIST = ".st-key-prune_preview_hist .lab-live-chart"
HAS_TABLE = """() => { const block = document.querySelector('[data-lab-slot="prune_preview_hist_cards"]');
  return !!block && (window.__labInstantVersions || []).includes(block.dataset.labTag.split('|')[0]); }"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Its own server and home: the session's server keeps an empty run store for test_browser's first screen."""
    with serving(tmp_path_factory.mktemp("instant_home")) as url:
        yield url


def chart_state(page) -> dict:
    return page.evaluate(f"""() => {{ const el = document.querySelector('{HIST}');
        return {{instant: el.__labInstant, draws: el.__labDraws, text: el.__labText || ''}}; }}""")


def test_a_move_is_drawn_in_the_page_without_the_server_and_its_rerun_changes_nothing(app, page, screenshots):
    open_page(page, f"{app}/prune", "Prune")
    page.get_by_text("Accuracy, one-shot").first.wait_for(timeout=BASELINE_TIMEOUT_MS)
    page.wait_for_function(HAS_TABLE, timeout=120_000)
    settle(page)
    version = page.locator('[data-lab-slot="prune_preview_hist_cards"]').get_attribute("data-lab-tag").split("|")[0]
    assert metric_value(page, "Sparsity") == "50.0 %"
    # The server hears nothing from now on: whatever changes on screen comes from the table in the page.
    page.evaluate("() => { window.__labSend = WebSocket.prototype.send; WebSocket.prototype.send = function () {}; }")
    thumb = page.locator(".st-key-prune_amount input[type='range']")
    thumb.focus()
    for _ in range(3):
        thumb.press("ArrowRight")
    page.wait_for_function(f"() => document.querySelector('{HIST}').__labInstant === '{version}|53'", timeout=5_000)
    assert metric_value(page, "Sparsity") == "53.0 %"
    assert page.locator('[data-lab-slot="prune_preview_hist_cards"]').get_attribute("data-lab-tag") == f"{version}|53"
    shot(page, screenshots, "instant_prune_53_without_server")
    # The server again: its rerun for 54 arrives with what the page already drew, and draws nothing more.
    page.evaluate("() => { WebSocket.prototype.send = window.__labSend; }")
    thumb.press("ArrowRight")
    page.wait_for_function(f"() => document.querySelector('{HIST}').__labInstant === '{version}|54'", timeout=5_000)
    drawn = chart_state(page)["draws"]
    page.wait_for_function(f"() => (document.querySelector('{HIST}').__labText || '').includes('{version}|54')",
                           timeout=30_000)
    settle(page)
    assert chart_state(page)["draws"] == drawn
    assert metric_value(page, "Sparsity") == "54.0 %"
    no_exception(page)
