"""A Plotly chart that survives a rerun: the same element is updated in place when its figure changes.

Why: Streamlit 1.67 derives a `st.plotly_chart` element's id from a hash of the figure JSON (also with
`key=`), so every slider move of a preview mounted a brand-new chart and ran `Plotly.newPlot` from scratch:
about half of the browser's work per move (docs/performance.md). This chart is a Streamlit components v2
element whose identity is its key (`key_as_main_identity=True` for components), so the frontend keeps its
DOM node across fragment reruns and the browser half (`live_chart_assets/live_chart.js`) calls
`Plotly.react(el, data, layout, config)` with the new figure.

The inline JavaScript travels in every element's message, so it is one line that imports the real code
once per page. That module and plotly.js itself are served by Streamlit's component file route
(`/component/<name>/<file>`, registered with `components.v1.declare_component(path=...)`): plotly.js comes
from the pinned `plotly` Python package (`plotly/package_data/plotly.min.js`), never from the internet.
If it cannot load, the element shows one line saying so instead of a blank.

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
ASSETS = Path(__file__).with_name("live_chart_assets")  # live_chart.js: served as ui.live_chart.assets
PLOTLY_JS = Path(plotly.__file__).parent / "package_data"  # plotly.min.js: served as ui.live_chart.plotlyjs
# What st.plotly_chart removes from every modebar (it has no selections here either).
REMOVED_BUTTONS = ["lasso2d", "select2d", "sendChartToCloud"]

# One line per statement: Streamlit reads a string without a newline as a file path.
_JS = ("export default a => {\n"
       "  const m = import(new URL('component/ui.live_chart.assets/live_chart.js', document.baseURI).href);\n"
       "  const el = () => a.parentElement.querySelector('." + CLASS + "');\n"
       "  m.then(s => s.draw(a), () => { if (el()) el().textContent = 'This chart could not be drawn: its script did not load.'; });\n"
       "  return () => m.then(s => s.remove(el()), () => {});\n"
       "};\n")
_component = st.components.v2.component(NAME, html=f'<div class="{CLASS}"></div>', js=_JS, isolate_styles=False)
_served: set[int] = set()  # ids of the runtimes' component registries that serve the two folders


def _serve_assets() -> None:
    """Register the two folders with this runtime's component file route (once per runtime)."""
    from streamlit.runtime import Runtime

    registry = Runtime.instance().component_registry if Runtime.exists() else None
    if registry is None or id(registry) in _served:
        return
    for name, folder in (("assets", ASSETS), ("plotlyjs", PLOTLY_JS)):
        component = components_v1.declare_component(name, path=str(folder))
        if component.name != f"{__name__}.{name}":  # the URLs in the JS depend on it
            raise RuntimeError(f"live chart assets registered as {component.name!r}, not {__name__}.{name}")
    _served.add(id(registry))


def payload(fig, config: dict) -> bytes:
    """The element's data: the figure's Plotly JSON and the chart's Plotly config, as UTF-8 JSON bytes."""
    figure_json = fig if isinstance(fig, str) else figure_cache.json_of(fig)  # once per shared preview figure
    return b'{"figure": ' + figure_json.encode() + b', "config": ' + json.dumps(config).encode() + b"}"


def draw(fig, key: str, config: dict) -> None:
    """Draw `fig` (a plotly Figure or its JSON) under `key`; a later call with the same key updates it in place."""
    _serve_assets()
    config = {**config, "modeBarButtonsToRemove": REMOVED_BUTTONS}
    _component(key=key, data=payload(fig, config), width="stretch", height="content")


def spec_of(element) -> dict | None:
    """{"figure": ..., "config": ...} of a live chart element (an AppTest element or its proto), else None."""
    proto = getattr(element, "proto", element)
    if getattr(proto, "component_name", None) != NAME or not proto.bytes:
        return None
    return json.loads(proto.bytes)
