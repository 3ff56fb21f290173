"""Streamlit's floor for `bench_ui.py --floor`: the lab's Home page drawn with none of the lab's code.

The same title, text, thirteen page cards, an eight-row run table in a `home_runs` container and two sidebar
controls, through the same launcher (`python -m ui.serve benchmarks/floor_app.py`), so that a cold start of this
app is what Streamlit and the browser cost on this machine before the lab does anything: the lab's cold start
minus this is what the lab's own code adds. Its Prune page has the lab's preview controls without a model or a
figure (a slider, four number cards): a click on it in the sidebar times Streamlit's own page switch.
No imports beyond streamlit, no data, no store.
"""
import streamlit as st

PAGES = [("learn", "Learn"), ("prune", "Prune"), ("distill", "Distill"), ("quantize", "Quantize"),
         ("deep_compression", "Deep Compression"), ("runs", "Runs"), ("sweep", "Sweeps"),
         ("sensitivity", "Sensitivity"), ("planner", "Planner"), ("compare", "Compare"), ("speed", "Speed"),
         ("report", "Report"), ("classics", "Classics")]
COLUMNS = ["method", "setting", "status", "accuracy (%)", "vs baseline (pp)", "smallest size", "model", "data",
           "created (UTC)"]


def _titled(title: str):
    def page() -> None:
        st.title(title)
    return page


def prune() -> None:
    st.title("Prune")
    amount = st.slider("Amount (%)", 0, 99, 50, key="prune_amount")
    for col, (label, value) in zip(st.columns(4), [("Accuracy, one-shot", "97.2 %"), ("Sparsity", f"{amount}.0 %"),
                                                   ("Size", "28.4 kB"), ("vs baseline", "-0.3 pp")]):
        col.metric(label, value)


def home() -> None:
    st.title("Compression Lab")
    st.markdown("Compression Lab makes trained neural networks smaller and faster by **pruning** weights or "
                "channels, **distilling** a large teacher into a small student, and **quantizing** weights to "
                "fewer bits. " * 2)
    st.caption("Data folder: `data` · runs, cached baselines and uploads: `home`")
    for start in range(0, len(LINKS), 3):
        for col, page in zip(st.columns(3), LINKS[start:start + 3]):
            with col.container(border=True):
                st.page_link(page, label=f"**{page.title}**")
                st.caption("What this page does, in one line.")
    st.subheader("Latest runs")
    rows = [["pruning", f"L1, {10 * i} %", "finished", f"97.{i}", f"-0.{i}", "28.4 kB (4-bit packed)", "lenet300",
             "digits", f"2026-12-0{i + 1} 10:00"] for i in range(8)]
    with st.container(key="home_runs"):
        st.markdown("\n".join(["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
                              + ["| " + " | ".join(row) + " |" for row in rows]))
        st.caption("Accuracy: top-1 on the test split.")


st.set_page_config(page_title="Compression Lab", page_icon=":material/compress:", layout="wide")
LINKS = [st.Page(prune if path == "prune" else _titled(title), title=title, url_path=path) for path, title in PAGES]
page = st.navigation([st.Page(home, title="Home", default=True), *LINKS])
st.sidebar.radio("Backend", ["local workers", "Ray cluster"], key="backend")
st.sidebar.toggle("Lecture mode", key="lecture")
page.run()
