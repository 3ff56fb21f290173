"""The live chart's two plotly.js bundles in Chromium (ui/live_chart.py, live_chart_assets/live_chart.js): cartesian
figures draw with the vendored partial bundle and never fetch the full one; a figure with another trace type loads
the full bundle and draws, also when the same element drew a cartesian figure before; and when plotly.js cannot
load at all, each chart says so in one line."""
from __future__ import annotations

import os

import pytest
from conftest import ROOT, serving


@pytest.fixture(scope="module")
def chart_app(tmp_path_factory):
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with serving(tmp_path_factory.mktemp("live_chart_home"), env=env, script="tests/e2e/live_chart_app.py") as url:
        yield url


STATE = """key => { const el = document.querySelector(`.st-key-${key} .lab-live-chart`);
    return el && {bundle: el.__labBundle || null, draws: el.__labDraws || 0, removed: el.__labRemoved || 0,
                  types: (el.data || []).map(t => t.type), svg: !!el.querySelector('.main-svg'),
                  text: el.textContent.startsWith('This chart') ? el.textContent : ''}; }"""


def chart_state(page, key: str) -> dict:
    return page.evaluate(STATE, key)


def drawn(page, key: str, trace_type: str, timeout: int = 30_000) -> None:
    page.wait_for_function(f"""() => {{ const s = ({STATE})('{key}');
        return s && s.svg && s.types.length === 1 && s.types[0] === '{trace_type}'; }}""", timeout=timeout)


def test_cartesian_figures_use_the_partial_bundle_and_other_traces_the_full_one(chart_app, page):
    fetched = []
    page.on("request", lambda request: fetched.append(request.url.rsplit("/", 1)[-1]) if "plotly" in request.url else None)
    page.goto(chart_app)
    drawn(page, "picked", "bar")
    drawn(page, "always_cartesian", "heatmap")
    assert chart_state(page, "picked")["bundle"] == chart_state(page, "always_cartesian")["bundle"] == "cartesian"
    assert fetched == ["plotly-cartesian.min.js"]
    # Its trace modules are the ones live_chart.js lists (CARTESIAN_TRACES), read from the bundle itself.
    assert page.evaluate("() => Object.keys(Plotly.PlotSchema.get().traces).sort()") == sorted(
        __import__("ui.live_chart", fromlist=["CARTESIAN_TRACES"]).CARTESIAN_TRACES)

    before = page.evaluate("() => { const el = document.querySelector('.st-key-picked .lab-live-chart'); "
                           "el.__e2eTag = 7; return el.__labDraws; }")
    page.get_by_text("scatterpolar").click()
    drawn(page, "picked", "scatterpolar")
    state = chart_state(page, "picked")
    assert state["bundle"] == "full" and state["removed"] == 0 and state["draws"] == before + 1 and not state["text"]
    assert page.evaluate("() => document.querySelector('.st-key-picked .lab-live-chart').__e2eTag") == 7  # same element
    assert fetched == ["plotly-cartesian.min.js", "plotly.min.js"]
    assert chart_state(page, "always_cartesian")["bundle"] == "cartesian"  # drawn before: keeps its Plotly

    page.get_by_text("bar", exact=True).click()  # back to a cartesian figure: the full bundle draws it too
    drawn(page, "picked", "bar")
    assert chart_state(page, "picked")["bundle"] == "full"
    assert fetched == ["plotly-cartesian.min.js", "plotly.min.js"]


def test_a_figure_outside_the_cartesian_bundle_draws_on_a_fresh_page(chart_app, page):
    page.goto(f"{chart_app}/?kind=scatterpolar")  # the page's first figure needs the full bundle
    drawn(page, "picked", "scatterpolar")
    drawn(page, "always_cartesian", "heatmap")
    assert chart_state(page, "picked")["bundle"] == "full"


def test_each_chart_says_so_when_no_plotly_js_can_load(chart_app, page):
    page.route("**/plotly*.min.js", lambda route: route.abort())
    page.goto(chart_app)
    for key in ("picked", "always_cartesian"):
        page.locator(f".st-key-{key}").get_by_text("This chart could not be drawn").wait_for(timeout=30_000)
        assert "plotly.js did not load" in chart_state(page, key)["text"]


TRACES = """() => { const el = document.querySelector('.st-key-marked .lab-live-chart');
    return el && el.data && {kept: el.data.map(t => t.__e2eKept ?? null), y: el.data.map(t => Array.from(t.y)),
                             typed: el.data.map(t => t.y.constructor.name),
                             rows: Array.from(el.data[0].customdata, row => Array.from(row)),
                             line: (el.layout.shapes || []).map(s => s.x0), draws: el.__labDraws}; }"""


def test_a_redraw_hands_plotly_the_traces_that_did_not_change_as_the_same_objects(chart_app, page):
    # Plotly.react recomputes a figure whose data arrays are new objects; equal traces are passed as the drawn ones,
    # their base64 arrays decoded once into the typed arrays plotly.js would make of them
    page.goto(chart_app)
    page.wait_for_function(f"() => {{ const s = ({TRACES})(); return s && s.line[0] === 1; }}", timeout=30_000)
    state = page.evaluate(TRACES)
    assert state["typed"] == ["Float64Array", "Int8Array"] and state["rows"] == [[1, 2], [3, 4], [5, 6]]
    page.evaluate("() => document.querySelector('.st-key-marked .lab-live-chart').data"
                  ".forEach((trace, i) => { trace.__e2eKept = i; })")
    page.locator(".st-key-marker input[type='range']").press("ArrowRight")
    page.wait_for_function(f"() => ({TRACES})().line[0] === 2", timeout=30_000)
    state = page.evaluate(TRACES)
    assert state["kept"] == [0, 1] and state["y"] == [[1, 4, 9], [2, 4, 6]]  # the line moved, the traces were kept

    page.get_by_text("Double the second trace").click()
    page.wait_for_function(f"() => ({TRACES})().y[1][0] === 4", timeout=30_000)
    state = page.evaluate(TRACES)
    assert state["kept"] == [0, None] and state["y"] == [[1, 4, 9], [4, 8, 12]] and state["line"] == [2]
    # what plotly.js drew from them: the hover data and the points' pixel positions of the second trace
    drawn = page.evaluate("""() => { const el = document.querySelector('.st-key-marked .lab-live-chart');
        return {customdata: Array.from(el._fullData[0].customdata, row => Array.from(row)),
                y: el.calcdata[1].map(point => point.y)}; }""")
    assert drawn == {"customdata": [[1, 2], [3, 4], [5, 6]], "y": [4, 8, 12]}
    assert page.locator(".st-key-marked .main-svg").first.is_visible()


def test_a_restyled_trace_keeps_its_arrays_and_plotly_does_not_recompute_the_figure(chart_app, page):
    # A trace whose colour, width or opacity changed but whose arrays did not (a highlighted curve) gets the arrays
    # drawn before, and an axis's unchanged tickvals/ticktext are the drawn ones too: plotly.js then restyles the
    # figure instead of recomputing it (its calcdata stays the same object).
    chart = "document.querySelector('.st-key-marked .lab-live-chart')"
    page.goto(chart_app)
    page.wait_for_function(f"() => {{ const s = ({TRACES})(); return s && s.line[0] === 1; }}", timeout=30_000)
    page.evaluate(f"""() => {{ const el = {chart}; el.calcdata.__e2eSame = true;
        el.data[1].y.__e2eKept = true; el.layout.yaxis.tickvals.__e2eKept = true; }}""")
    page.get_by_text("Highlight the second trace").click()
    page.wait_for_function(f"() => {chart}._fullData[1].opacity === 1", timeout=30_000)
    state = page.evaluate(f"""() => {{ const el = {chart};
        return {{same: el.calcdata.__e2eSame === true, arrays: el.data[1].y.__e2eKept === true,
                 ticks: el.layout.yaxis.tickvals.__e2eKept === true, width: el._fullData[1].line.width,
                 drawn: el.__labDraws, y: Array.from(el.data[1].y), tickvals: Array.from(el.layout.yaxis.tickvals)}}; }}""")
    assert state == {"same": True, "arrays": True, "ticks": True, "width": 4, "drawn": 2, "y": [2, 4, 6],
                     "tickvals": [1, 3, 7, 15]}
    # and the same kept arrays are right on screen: the highlighted trace's path is 4 px wide and opaque
    style = page.evaluate(f"""() => {{ const path = {chart}.querySelectorAll('.scatterlayer .trace')[1];
        return [getComputedStyle(path).opacity, path.querySelector('path.js-line').style.strokeWidth]; }}""")
    assert style == ["1", "4px"]

    page.get_by_text("Double the second trace").click()  # new arrays: recomputed, with the new values
    page.wait_for_function(f"() => {chart}.data[1].y[0] === 4", timeout=30_000)
    assert page.evaluate(f"() => [{chart}.calcdata.__e2eSame, {chart}.calcdata[1].map(p => p.y)]") == [None, [4, 8, 12]]


def test_a_redraw_passes_the_config_only_when_it_changed(chart_app, page):
    # plotly.js deep-copies and compares a config on every react given one: a redraw with the same config passes
    # none, and the chart keeps its context (the same object); a changed config is passed and applied
    chart = "document.querySelector('.st-key-marked .lab-live-chart')"
    page.goto(chart_app)
    page.wait_for_function(f"() => {{ const s = ({TRACES})(); return s && s.line[0] === 1; }}", timeout=30_000)
    page.evaluate(f"() => {{ {chart}._context.__e2eSame = true; }}")
    page.locator(".st-key-marker input[type='range']").press("ArrowRight")
    page.wait_for_function(f"() => ({TRACES})().line[0] === 2", timeout=30_000)
    assert page.evaluate(f"() => [{chart}._context.__e2eSame, {chart}._context.displaylogo, {chart}.__labDraws]") == \
        [True, False, 2]
    page.get_by_text("Show the Plotly logo").click()
    page.wait_for_function(f"() => {chart}._context.displaylogo === true", timeout=30_000)
    assert page.evaluate(f"() => [{chart}._context.__e2eSame || null, {chart}._context.responsive]") == [None, False]
    assert page.locator(".st-key-marked .modebar-btn--logo").count() == 1  # what plotly.js drew from it

