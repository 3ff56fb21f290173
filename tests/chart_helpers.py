"""The Plotly charts of an AppTest page, whichever element draws them.

A page draws a figure either with `st.plotly_chart` or, where a slider redraws it on every move, with the live
chart of `ui/live_chart.py` (a components v2 element whose data is the figure). Tests read both the same way:
`charts(at)` in page order, `figure(at, key)` as the figure's JSON dict.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ui import live_chart


@dataclass
class Chart:
    id: str  # the element id (it ends with "-<key>")
    key: str  # the chart's key
    spec: str  # the figure's Plotly JSON
    config: dict  # the Plotly config (modebar)
    live: bool  # drawn by ui/live_chart.py (updated in place) rather than st.plotly_chart

    @property
    def figure(self) -> dict:
        return json.loads(self.spec)


def charts(at) -> list[Chart]:
    """Every Plotly chart of the page (main area and sidebar), in the order they are drawn."""
    found = []
    for block in (at.main, at.sidebar):
        for node in block:
            kind = getattr(node, "type", None)
            if kind == "plotly_chart":
                proto = node.proto
                found.append(Chart(proto.id, proto.id.split("-", 2)[-1], proto.spec,
                                   json.loads(proto.config or "{}"), live=False))
            elif kind == "bidi_component" and (spec := live_chart.spec_of(node)) is not None:
                # Every live chart must draw with plotly.js's cartesian bundle: one with another trace type still
                # draws, but the browser then loads the full 4.8 MB bundle (~0.6 s more on a first visit).
                assert live_chart.bundle_for(spec["figure"]) == "cartesian", (
                    f"live chart {node.proto.id} has trace types outside live_chart.CARTESIAN_TRACES")
                found.append(Chart(node.proto.id, node.proto.id.split("-", 2)[-1], json.dumps(spec["figure"]),
                                   spec["config"], live=True))
    return found


def find(at, key: str) -> list[Chart]:
    """The charts whose key is `key` (none or one on a page that draws it)."""
    return [c for c in charts(at) if c.id.endswith(f"-{key}")]


def figure(at, key: str) -> dict:
    """The figure (Plotly JSON as a dict) of the one chart with key `key`."""
    found = find(at, key)
    assert len(found) == 1, f"no chart {key!r}; shown: {[c.key for c in charts(at)]}"
    return found[0].figure
