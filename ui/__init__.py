"""Streamlit helpers shared by the dashboard pages (the engine, `compress_core`, never imports Streamlit)."""
