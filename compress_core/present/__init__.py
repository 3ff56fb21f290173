"""Presentation without Streamlit: Plotly figures, previews, lessons, the HTML report, number formats."""
