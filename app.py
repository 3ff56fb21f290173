"""Compression Lab dashboard: `streamlit run app.py`.

Only the navigation lives here; each page is a thin script in `pages/` that reads
widgets, submits specs to the background workers and draws figures from the engine.
"""
import streamlit as st

from ui import lecture, live_chart, startup, warmup
from ui.backend import setting as backend_setting
from ui.common import open_run_store

startup.configure_plotly_theme()  # the launcher defers Streamlit's Plotly theme past the server's start (ui/startup.py)
startup.skip_repl_check()  # Streamlit's first-element REPL check costs 0.18 s of a cold start (ui/startup.py)
startup.disable_nagle_once()  # Streamlit leaves Nagle on: ~40 ms per static file on a reused connection (ui/startup.py)
st.set_page_config(page_title="Compression Lab", page_icon=":material/compress:", layout="wide")
open_run_store()  # resumes runs queued before a restart; stops with an error if the store is unusable

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/learn.py", title="Learn", icon=":material/menu_book:"),
    st.Page("pages/prune.py", title="Prune", icon=":material/content_cut:"),
    st.Page("pages/distill.py", title="Distill", icon=":material/school:"),
    st.Page("pages/quantize.py", title="Quantize", icon=":material/grid_on:"),
    st.Page("pages/deep_compression.py", title="Deep Compression", icon=":material/compress:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:"),
    st.Page("pages/sweep.py", title="Sweeps", icon=":material/ssid_chart:"),
    st.Page("pages/sensitivity.py", title="Sensitivity", icon=":material/grid_view:"),
    st.Page("pages/planner.py", title="Planner", icon=":material/target:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/speed.py", title="Speed", icon=":material/speed:"),
    st.Page("pages/report.py", title="Report", icon=":material/description:"),
    st.Page("pages/classics.py", title="Classics", icon=":material/history_edu:"),
]
pages = st.navigation(PAGES)
backend_setting()  # local workers or a Ray cluster, for the pages that run things
lecture.setup()  # the sidebar's lecture mode toggle (?lecture=1): larger fonts on every page
live_chart.preload(pages)  # on the preview pages plotly.js starts loading now, as the page starts
try:
    pages.run()
    live_chart.preload(pages, drawn=True)  # on Home: once Home is drawn, in the browser's idle time
finally:  # after the first page is drawn, or when its run was stopped (the visitor left at once, a rerun)
    warmup.start()  # import the preview pages' torch stack in the background (once per process)
