"""End to end in Chromium: every page renders without an exception, the prune slider updates the
instant preview, and a pruning run on digits finishes with its result charts.

Screenshots go to test-output/screenshots/ (look at them after a UI change).
"""
from __future__ import annotations

import re

BASELINE_TIMEOUT_MS = 240_000  # the first visit trains the digits baseline in a background worker
RUN_TIMEOUT_MS = 180_000


def shot(page, folder, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it first."""
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), 8000))})
    page.wait_for_timeout(300)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def settle(page, timeout: int = 60_000) -> None:
    """Wait until the script has stopped running and no element is still a loading skeleton."""
    idle = """() => !document.querySelector('[data-testid="stStatusWidget"]')
                  && !document.querySelector('[data-testid="stSkeleton"]')"""
    for _ in range(2):  # twice: a finished run can trigger one more (e.g. a fragment's rerun)
        page.wait_for_function(idle, timeout=timeout)
        page.wait_for_timeout(400)


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


# A card: an st.metric, or one card of a preview's one-element card block (ui/cards.py), with the same text.
CARD = '[data-testid="stMetric"], .lab-card'
CARD_VALUE = '[data-testid="stMetricValue"], .lab-card-value'


def metric_value(page, label: str) -> str:
    card = page.locator(CARD, has_text=label).first
    return card.locator(CARD_VALUE).inner_text()


def tag_preview_plot(page, key: str) -> dict:
    """Mark the Plotly element of chart `key` (once) and read it: its mark, how often it was drawn and removed
    (ui/live_chart_assets/live_chart.js counts both), and its traces' y values."""
    plot = page.locator(f".st-key-{key} .js-plotly-plot .main-svg").first
    plot.wait_for(timeout=30_000)
    return page.evaluate("""key => { const el = document.querySelector(`.st-key-${key} .js-plotly-plot`);
        el.__e2eTag = el.__e2eTag || Math.random();
        return {tag: el.__e2eTag, draws: el.__labDraws || 0, removed: el.__labRemoved || 0,
                data: JSON.stringify(el.data.map(t => t.y))}; }""", key)


def open_page(page, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=30_000)


def test_pages_slider_and_prune_run(app_url, page, screenshots):
    open_page(page, app_url, "Compression Lab")
    page.get_by_text("No runs yet").wait_for()
    settle(page)
    no_exception(page)
    shot(page, screenshots, "01_home_empty")

    open_page(page, f"{app_url}/prune", "Prune")
    page.locator('[data-testid="stProgress"]').first.wait_for(timeout=30_000)
    shot(page, screenshots, "02_prune_training_baseline")
    page.get_by_text("Accuracy, one-shot").first.wait_for(timeout=BASELINE_TIMEOUT_MS)
    assert metric_value(page, "Sparsity") == "50.0 %"
    before = tag_preview_plot(page, "prune_preview_hist")
    fetched = []  # plotly.js is loaded once per page, never again for a move
    page.on("request", lambda request: fetched.append(request.url) if "plotly" in request.url else None)
    thumb = page.locator(".st-key-prune_amount input[type='range']")
    thumb.focus()
    for _ in range(5):
        thumb.press("ArrowRight")
    page.wait_for_function(
        f"""() => [...document.querySelectorAll('{CARD}')].some(
               m => m.innerText.includes('Sparsity') && m.innerText.includes('55.0 %'))""", timeout=15_000)
    settle(page)
    no_exception(page)
    after = tag_preview_plot(page, "prune_preview_hist")
    # The moves updated the same Plotly element in place (ui/live_chart.py: Plotly.react), never remounted it.
    assert after["tag"] == before["tag"] and after["removed"] == 0 and after["draws"] > before["draws"]
    assert after["data"] != before["data"]  # and it shows the new histogram
    assert fetched == []
    shot(page, screenshots, "03_prune_preview_55")

    page.locator(".st-key-prune_run button").click()
    page.get_by_text("Compression ratio").first.wait_for(timeout=RUN_TIMEOUT_MS)
    page.locator(".js-plotly-plot").nth(4).wait_for(timeout=30_000)  # the live preview + 4 result charts
    assert re.fullmatch(r"\d+\.\d %", metric_value(page, "Accuracy (top-1, test)"))
    assert page.get_by_text("masked: dense kernels, no speed-up expected").count() >= 1
    page.locator(".st-key-prune_result_tradeoff .main-svg").first.wait_for()
    settle(page)
    no_exception(page)
    shot(page, screenshots, "04_prune_result")

    open_page(page, f"{app_url}/distill", "Distill")
    page.locator(".st-key-distill_preview_soft .main-svg").first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    shot(page, screenshots, "05_distill")

    open_page(page, f"{app_url}/quantize", "Quantize")
    page.locator(".st-key-quantize_preview_grid .main-svg").first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    shot(page, screenshots, "06_quantize")

    open_page(page, f"{app_url}/runs", "Runs")
    page.locator(".st-key-runs_pareto .main-svg").first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    shot(page, screenshots, "07_runs")
    chosen = re.search(r"r\d{8}-\d{6}-[0-9a-f]{8}", page.locator(".st-key-runs_selected input").input_value()).group()
    page.get_by_text("Open in the Prune page").click()
    page.get_by_role("heading", name=f"Run {chosen}").wait_for(timeout=30_000)
    no_exception(page)

    open_page(page, app_url, "Compression Lab")
    page.get_by_text("Latest runs").wait_for()
    page.locator(".st-key-home_runs table").first.wait_for()  # a static table (compress_core/present/run_list.py)
    settle(page)
    no_exception(page)
    shot(page, screenshots, "08_home_with_runs")


def test_a_live_chart_says_so_when_plotly_js_cannot_load(app_url, page):
    """plotly.js blocked: the preview chart shows one line instead of a blank space (the numbers still show)."""
    page.route("**/plotly*.min.js", lambda route: route.abort())  # both bundles
    open_page(page, f"{app_url}/distill", "Distill")
    message = page.locator(".st-key-distill_preview_soft").get_by_text("This chart could not be drawn")
    message.wait_for(timeout=BASELINE_TIMEOUT_MS)
    assert "plotly.js did not load" in message.inner_text()
    no_exception(page)
