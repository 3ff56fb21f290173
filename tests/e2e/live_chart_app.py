"""A small app for tests/e2e/test_live_chart_browser.py: live charts (ui/live_chart.py), one whose trace type the
visitor picks (a cartesian bar, or a polar scatter, which only plotly.js's full bundle draws), and one whose marker
line, second trace, its style and its config the visitor changes.

Run by the test as `streamlit run tests/e2e/live_chart_app.py` with the repository on PYTHONPATH."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import live_chart

st.title("Live chart bundles")
KINDS = ["bar", "scatterpolar"]
first = KINDS.index(st.query_params.get("kind", "bar"))  # ?kind=scatterpolar: a page that starts with it
kind = st.radio("Trace type", KINDS, index=first, key="kind", horizontal=True)
if kind == "bar":
    picked = go.Figure(go.Bar(x=[1, 2, 3], y=[3, 1, 2]))
else:
    picked = go.Figure(go.Scatterpolar(r=[3, 1, 2], theta=[0, 120, 240]))
live_chart.draw(picked, "picked", {"displaylogo": False})
live_chart.draw(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])), "always_cartesian", {"displaylogo": False})

at = st.slider("Marker at", 1, 3, 1, key="marker")  # moves only a line: the traces stay the same
doubled = st.checkbox("Double the second trace", key="doubled")
strong = st.checkbox("Highlight the second trace", key="strong")  # its style changes, not its arrays
logo = st.checkbox("Show the Plotly logo", key="logo")  # the chart's config changes
# numpy arrays: plotly.py sends them base64-encoded ({dtype, bdata}), one and two dimensions
marked = go.Figure([go.Scatter(x=[1, 2, 3], y=np.array([1.0, 4.0, 9.0]), name="fixed",
                               customdata=np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32)),
                    go.Scatter(x=[1, 2, 3], y=np.array([4, 8, 12] if doubled else [2, 4, 6], dtype=np.int8),
                               name="varies", opacity=1.0 if strong else 0.3, line_width=4 if strong else 1)])
marked.update_yaxes(type="log", tickvals=[1, 3, 7, 15], ticktext=["1", "3", "7", "15"])  # axis arrays, unchanged
live_chart.draw(marked.add_vline(x=at), "marked", {"displaylogo": logo})
