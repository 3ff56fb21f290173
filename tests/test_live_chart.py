"""The live chart (ui/live_chart.py): one element per key whatever its figure, the figure and modebar config in
its data, lecture fonts and lesson zips as with st.plotly_chart, and the browser files it needs on disk."""
from __future__ import annotations

import json
import re
from pathlib import Path

import chart_helpers
import pytest
from streamlit.testing.v1 import AppTest

from ui import live_chart


def _script() -> None:
    import plotly.graph_objects as go
    import streamlit as st

    from ui import figures

    if st.session_state.get("lecture"):
        figures.set_presentation(font_size=24, menus=False)
    figures.begin_lesson("A lesson")
    amount = st.slider("amount", 0, 10, 3, key="amount")
    fig = go.Figure(go.Bar(x=list(range(4)), y=[amount * i for i in range(4)]), layout={"title": f"at {amount}"})
    figures.show(fig, key="demo_chart")
    figures.end_lessons()
    st.session_state["lesson_keys"] = [k for k, _ in figures.lesson_figures("A lesson")]


def test_a_new_figure_keeps_the_element_and_carries_the_new_data():
    at = AppTest.from_function(_script, default_timeout=30).run()
    assert not at.exception
    first = chart_helpers.find(at, "demo_chart")
    assert len(first) == 1 and first[0].live
    assert first[0].figure["data"][0]["y"] == [0, 3, 6, 9]
    assert first[0].figure["layout"]["title"]["text"] == "at 3"
    at.slider(key="amount").set_value(5).run()
    second = chart_helpers.find(at, "demo_chart")
    assert second[0].id == first[0].id  # the identity is the key: the browser keeps the element and reacts
    assert second[0].figure["data"][0]["y"] == [0, 5, 10, 15]
    assert at.get("plotly_chart") == []  # no st.plotly_chart was drawn


def test_modebar_lecture_fonts_and_lesson_zip_as_with_plotly_chart():
    at = AppTest.from_function(_script, default_timeout=30).run()
    chart = chart_helpers.find(at, "demo_chart")[0]
    assert chart.config["toImageButtonOptions"] == {"format": "png", "scale": 2, "filename": "demo_chart"}
    assert chart.config["displaylogo"] is False
    assert set(live_chart.REMOVED_BUTTONS) <= set(chart.config["modeBarButtonsToRemove"])
    assert "font" not in chart.figure["layout"] or "size" not in chart.figure["layout"]["font"]
    assert at.session_state["lesson_keys"] == ["demo_chart"]  # counted in the lesson's zip
    assert len(at.get("popover")) == 1  # figures.show's "Export figure" menu
    at.session_state["lecture"] = True
    at.run()
    chart = chart_helpers.find(at, "demo_chart")[0]
    assert chart.figure["layout"]["font"]["size"] == 24
    assert not at.get("popover")  # lecture mode: no per-figure menus


def test_payload_is_the_figure_json_and_the_config():
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="é"))
    spec = json.loads(live_chart.payload(fig, {"displaylogo": False}))
    assert spec == {"figure": json.loads(fig.to_json()), "config": {"displaylogo": False}}


def test_the_browser_files_exist_where_the_inline_script_asks_for_them():
    module = live_chart.ASSETS / "live_chart.js"
    assert module.is_file() and "Plotly.react(" in module.read_text()
    assert (live_chart.PLOTLY_JS / "plotly.min.js").is_file()  # from the pinned plotly package
    assert "component/ui.live_chart.assets/live_chart.js" in live_chart._JS
    assert "../ui.live_chart.plotlyjs/plotly.min.js" in module.read_text()
    assert Path(live_chart.__file__).stem == "live_chart" and live_chart.__name__ == "ui.live_chart"


def _banner_version(path: Path) -> str:
    """The plotly.js version in a bundle's first comment block ("plotly.js (cartesian - minified) v4.1.1")."""
    head = path.read_text(encoding="utf-8", errors="replace")[:400]
    match = re.search(r"\* plotly\.js(?: \([^)]*\))? v(\d+\.\d+\.\d+)", head)
    assert match, f"no plotly.js version banner at the top of {path}"
    return match.group(1)


def test_the_cartesian_bundle_is_the_same_plotly_js_version_as_the_plotly_package():
    """A plotly upgrade changes plotly.min.js: the vendored partial bundle must then be updated with it
    (ui/live_chart_assets/plotly-cartesian.SOURCE.md says how)."""
    full = _banner_version(live_chart.PLOTLY_JS / "plotly.min.js")
    assert _banner_version(live_chart.CARTESIAN_JS) == full
    source = (live_chart.ASSETS / "plotly-cartesian.SOURCE.md").read_text()
    assert f"**{full}**" in source
    assert "MIT License" in (live_chart.ASSETS / "plotly-cartesian.LICENSE").read_text()


def test_the_cartesian_trace_list_is_the_same_in_python_and_javascript():
    module = (live_chart.ASSETS / "live_chart.js").read_text()
    listed = re.search(r"export const CARTESIAN_TRACES = \[([^\]]*)\]", module).group(1)
    assert tuple(re.findall(r'"(\w+)"', listed)) == live_chart.CARTESIAN_TRACES
    assert 'new URL("plotly-cartesian.min.js", import.meta.url)' in module


def test_bundle_for_picks_the_full_bundle_only_for_other_trace_types():
    assert live_chart.bundle_for({"data": [{"type": "bar"}, {"type": "heatmap"}, {"y": [1]}]}) == "cartesian"
    assert live_chart.bundle_for({"data": []}) == "cartesian"
    assert live_chart.bundle_for({"data": [{"type": "bar"}, {"type": "scattergl"}]}) == "full"


def _preload_script() -> None:
    from types import SimpleNamespace

    import streamlit as st

    from ui import live_chart

    page = SimpleNamespace(url_path=st.session_state["url_path"])  # what preload reads of an st.Page
    live_chart.preload(page)  # as app.py: before the page...
    st.markdown("The page")
    live_chart.preload(page, drawn=True)  # ...and after it


@pytest.mark.parametrize("url_path, expected", [
    ("prune", ["preload now", "markdown"]),  # a chart page: plotly.js starts loading as the page starts
    ("learn", ["preload now", "markdown"]),
    ("quantize", ["preload now", "markdown"]),
    ("distill", ["preload now", "markdown"]),
    ("", ["markdown", "preload idle"]),  # Home, the default page: once it is drawn, in idle time
    ("runs", ["markdown"]),
])
def test_preload_starts_plotly_js_on_chart_pages_at_once_and_on_home_after_it_is_drawn(url_path, expected):
    at = AppTest.from_function(_preload_script)
    at.session_state["url_path"] = url_path
    at.run()
    assert not at.exception
    shown = []
    for node in at.main.children.values():  # the page's elements, in order
        if getattr(node, "type", None) == "bidi_component":
            assert node.proto.id.endswith(live_chart.PRELOAD_KEY) and live_chart.spec_of(node) is None  # not a chart
            shown.append(f"preload {json.loads(node.proto.bytes)['preload']}")
        else:
            shown.append(node.type)
    assert shown == expected
    assert chart_helpers.charts(at) == []


def _lesson_and_page_script() -> None:
    import plotly.graph_objects as go
    import streamlit as st

    from ui import figures

    fig = go.Figure(go.Bar(x=[1, 2], y=[3, 4]))
    figures.show(fig, key="page_chart")  # outside any lesson
    figures.begin_lesson("A lesson")
    figures.show(fig, key="lesson_chart")
    figures.end_lessons()
    figures.chart(fig, key="lesson_chart_again", lesson="A lesson")
    st.session_state["lesson_keys"] = [k for k, _ in figures.lesson_figures("A lesson")]


def test_every_figure_is_a_live_chart_so_a_page_loads_one_plotly_js():
    """A lesson's figures and a page's alike: no st.plotly_chart (Streamlit's 4.7 MB chunk beside the live chart's
    partial bundle); only the lesson's figures go in its zip."""
    at = AppTest.from_function(_lesson_and_page_script, default_timeout=30).run()
    assert not at.exception
    assert [(c.key, c.live) for c in chart_helpers.charts(at)] == [
        ("page_chart", True), ("lesson_chart", True), ("lesson_chart_again", True)]
    assert at.get("plotly_chart") == []
    assert at.session_state["lesson_keys"] == ["lesson_chart", "lesson_chart_again"]


def test_declaring_the_asset_folders_names_them_after_this_module_without_walking_sys_modules(monkeypatch):
    """Streamlit's declare_component looks its caller's module up with inspect.getmodule, which walks every loaded
    module (a realpath each) for a file it has not met; the seeded map makes it one look-up with the same answer."""
    import inspect
    import os

    monkeypatch.setattr(inspect, "modulesbyfile", {})  # inspect as a fresh process has it: nothing indexed
    monkeypatch.setattr(inspect, "_filesbymodname", {})
    calls = []
    realpath = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda *a, **k: calls.append(a) or realpath(*a, **k))
    live_chart._index_this_module()
    here = live_chart._index_this_module.__code__  # a code object of ui/live_chart.py: its file, as a frame's
    assert inspect.getmodule(here) is live_chart
    assert calls == []
    monkeypatch.setattr(inspect, "modulesbyfile", {})  # without the seed the same look-up walks the modules
    assert inspect.getmodule(live_chart._index_this_module.__code__) is live_chart
    assert len(calls) > 10
