"""A Plotly chart that survives a rerun: the same element is updated in place when its figure changes.

Why: Streamlit 1.67 derives a `st.plotly_chart` element's id from a hash of the figure JSON (also with
`key=`), so every slider move of a preview mounted a brand-new chart and ran `Plotly.newPlot` from scratch:
about half of the browser's work per move (docs/performance.md). This chart is a Streamlit components v2
element whose identity is its key (`key_as_main_identity=True` for components), so the frontend keeps its
DOM node across fragment reruns and the browser half (`live_chart_assets/live_chart.js`) calls
`Plotly.react(el, data, layout, config)` with the new figure.

The inline JavaScript travels in every element's message, so it is one line that imports the real code
once per page. That module and plotly.js itself are served by Streamlit's component file route
(`/component/<name>/<file>`, registered with `components.v1.declare_component(path=...)`), never from the
internet: plotly.js's official cartesian partial bundle, vendored in `live_chart_assets/` (scatter, bar, heatmap
and the other cartesian traces: 1.5 MB, ready in Chromium in about 0.4 s against 1.05 s for the full bundle), and
for a figure with any other trace type the full bundle of the pinned `plotly` Python package
(`plotly/package_data/plotly.min.js`). If it cannot load, the element shows one line saying so instead of a blank.

`preload(page)` starts loading plotly.js when a page starts rather than when its first chart mounts (after the
page's script reached it): at once on the preview pages (`LIVE_CHART_PAGES`); on Home after it is drawn, in idle time.

The figure travels as bytes: `{"figure": <plotly JSON>, "config": <Plotly config>}` (`spec_of(element)`
reads it back, e.g. in AppTest). Styling follows st.plotly_chart's Streamlit theme (see the JS).
"""
from __future__ import annotations

import json
from pathlib import Path

import plotly
import streamlit as st
import streamlit.components.v1 as components_v1

from ui import figure_cache

NAME = "compression_lab_live_chart"  # the components v2 name (unique in the app)
CLASS = "lab-live-chart"  # the <div> Plotly draws into
ASSETS = Path(__file__).with_name("live_chart_assets")  # live_chart.js, plotly-cartesian.min.js: ui.live_chart.assets
PLOTLY_JS = Path(plotly.__file__).parent / "package_data"  # plotly.min.js: served as ui.live_chart.plotlyjs
CARTESIAN_JS = ASSETS / "plotly-cartesian.min.js"  # plotly.js's cartesian partial bundle (plotly-cartesian.SOURCE.md)
# The cartesian bundle's trace modules (as CARTESIAN_TRACES in live_chart.js; tests check both and the bundle).
CARTESIAN_TRACES = ("bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour", "image", "pie",
                    "scatter", "scatterternary", "violin")
# url paths of the pages whose first screen draws a chart (a preview): plotly.js starts loading as they start. (Every
# chart is a live chart; on the other pages a chart comes after a run or a scan, and plotly.js loads when it mounts.)
LIVE_CHART_PAGES = ("learn", "prune", "distill", "quantize")
PRELOAD_KEY = "lab_plotly_preload"  # the invisible element that starts loading plotly.js (hidden by _CSS)
# What st.plotly_chart removes from every modebar (it has no selections here either).
REMOVED_BUTTONS = ["lasso2d", "select2d", "sendChartToCloud"]

# One line per statement: Streamlit reads a string without a newline as a file path.
_JS = ("export default a => {\n"
       "  const m = import(new URL('component/ui.live_chart.assets/live_chart.js', document.baseURI).href);\n"
       "  const el = () => a.parentElement.querySelector('." + CLASS + "');\n"
       "  m.then(s => s.draw(a), () => { if (el()) el().textContent = 'This chart could not be drawn: its script did not load.'; });\n"
       "  return () => m.then(s => s.remove(el()), () => {});\n"
       "};\n")
_CSS = f".st-key-{PRELOAD_KEY} {{ display: none; }}"  # no space and no gap on the page
_component = st.components.v2.component(NAME, html=f'<div class="{CLASS}"></div>', css=_CSS, js=_JS,
                                        isolate_styles=False)
_served: set[int] = set()  # ids of the runtimes' component registries that serve the two folders


def _index_this_module() -> None:
    """Tell `inspect` which module this file is, so that `declare_component` finds it without a walk.

    `declare_component` names a component after its caller's module with `inspect.getmodule(frame)`, which walks
    all of `sys.modules` (a `realpath` per module: ~1,000 on Home's first run, 40-100 ms of the script's CPU) the
    first time it meets a file. Seeding inspect's file-to-module map (`inspect.modulesbyfile`, the map that walk
    fills) with this one file makes the look-up a dict hit. Written by hand: no library does it. Where a newer
    Python lacks the map, nothing is seeded and the walk happens as before.
    """
    import inspect

    known = getattr(inspect, "modulesbyfile", None)
    if isinstance(known, dict):
        known.setdefault(inspect.getabsfile(_index_this_module), __name__)


def _serve_assets() -> None:
    """Register the two folders with this runtime's component file route (once per runtime)."""
    from streamlit.runtime import Runtime

    registry = Runtime.instance().component_registry if Runtime.exists() else None
    if registry is None or id(registry) in _served:
        return
    _index_this_module()
    for name, folder in (("assets", ASSETS), ("plotlyjs", PLOTLY_JS)):
        component = components_v1.declare_component(name, path=str(folder))
        if component.name != f"{__name__}.{name}":  # the URLs in the JS depend on it
            raise RuntimeError(f"live chart assets registered as {component.name!r}, not {__name__}.{name}")
    _served.add(id(registry))


def payload(fig, config: dict, tag: str | None = None) -> bytes:
    """The element's data: the figure's Plotly JSON and the chart's Plotly config, as UTF-8 JSON bytes; with an
    instant preview's `tag` (ui/instant.py), which the browser compares with the figure it drew from its table."""
    figure_json = fig if isinstance(fig, str) else figure_cache.json_of(fig)  # once per shared preview figure
    extra = b', "tag": ' + json.dumps(tag).encode() if tag else b""
    return b'{"figure": ' + figure_json.encode() + b', "config": ' + json.dumps(config).encode() + extra + b"}"


def draw(fig, key: str, config: dict, tag: str | None = None) -> None:
    """Draw `fig` (a plotly Figure or its JSON) under `key`; a later call with the same key updates it in place."""
    _serve_assets()
    config = {**config, "modeBarButtonsToRemove": REMOVED_BUTTONS}
    _component(key=key, data=payload(fig, config, tag), width="stretch", height="content")


def bundle_for(figure: dict) -> str:
    """Which plotly.js the browser loads for `figure` (Plotly JSON as a dict): "cartesian" or "full" (live_chart.js's
    `bundleFor`, for tests: a live chart that needs the 4.8 MB full bundle is ready about 0.6 s later)."""
    types = [(trace or {}).get("type") or "scatter" for trace in figure.get("data") or []]
    return "cartesian" if all(t in CARTESIAN_TRACES for t in types) else "full"


def preload(page, drawn: bool = False) -> None:
    """Start loading plotly.js for this page (`page`: the `st.navigation` page being run).

    Called twice per run of app.py: before the page (`drawn=False`) and after it (`drawn=True`). On a page whose first
    screen draws a chart (`LIVE_CHART_PAGES`) the load starts before the page, in parallel with its script, instead
    of when its first chart mounts.
    On Home (the default page) it starts after Home is drawn, when the browser is idle, so that the cold start to
    Home is not slowed and a visitor who goes on through the sidebar (client-side navigation keeps the loaded
    script) finds it there. Other pages load it when a chart mounts. The element is invisible (`_CSS`) and carries no
    figure (`spec_of` skips it)."""
    if drawn:
        when = "idle" if page.url_path == "" else None
    else:
        when = "now" if page.url_path in LIVE_CHART_PAGES else None
    if when is None:
        return
    _serve_assets()
    _component(key=PRELOAD_KEY, data=json.dumps({"preload": when}).encode(), width="stretch", height="content")


def spec_of(element) -> dict | None:
    """{"figure": ..., "config": ...} of a live chart element (an AppTest element or its proto), else None."""
    proto = getattr(element, "proto", element)
    if getattr(proto, "component_name", None) != NAME or not proto.bytes:
        return None
    spec = json.loads(proto.bytes)
    return spec if "figure" in spec else None  # not the preload element
