"""A small app for tests/e2e/test_live_chart_browser.py: two live charts (ui/live_chart.py), one whose trace type
the visitor picks (a cartesian bar, or a polar scatter, which only plotly.js's full bundle draws).

Run by the test as `streamlit run tests/e2e/live_chart_app.py` with the repository on PYTHONPATH."""
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
