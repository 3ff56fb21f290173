"""Home: what the lab is for, where its data lives, the latest runs, and the way to each page."""
import streamlit as st

from compress_core import paths
from ui import common

common.ensure_navigation()

st.title("Compression Lab")
st.markdown(
    "Compression Lab makes trained neural networks smaller and faster by **pruning** weights or channels, "
    "**distilling** a large teacher into a small student, and **quantizing** weights to fewer bits. "
    "Every method starts from the same cached baseline and is measured the same way: accuracy beside the "
    "baseline's, parameters, size on disk, FLOPs and measured latency. "
    "Slide a setting to preview its effect at once, then run it in the background, sweep it over levels and "
    "seeds, and compare the trade-offs.")
st.caption(f"Data folder: `{paths.data_dir()}` · runs, cached baselines and uploads: `{common.home()}`")

LINKS = [("pages/learn.py", "Learn", "How each method works, with figures you can move."),
         ("pages/prune.py", "Prune", "Zero the smallest weights or remove whole channels."),
         ("pages/distill.py", "Distill", "Teach a small student from a trained teacher."),
         ("pages/quantize.py", "Quantize", "Store weights in 2–8 bits or as real int8."),
         ("pages/deep_compression.py", "Deep Compression",
          "Prune, share weights, Huffman-code: the size of a file that decodes."),
         ("pages/runs.py", "Runs", "Every run, its progress, and the accuracy–size trade-off."),
         ("pages/sweep.py", "Sweeps", "One method over many levels and seeds: the curve with its spread."),
         ("pages/sensitivity.py", "Sensitivity", "Which layers can take pruning, and per-layer amounts for a target."),
         ("pages/planner.py", "Planner", "A size or FLOPs budget in, sparsity and bits per layer out, then run."),
         ("pages/compare.py", "Compare", "Runs side by side, the Pareto front, and the model to download."),
         ("pages/speed.py", "Speed", "Latency per runtime and batch size, and when sparse kernels pay off."),
         ("pages/report.py", "Report", "One HTML file of chosen runs to share."),
         ("pages/classics.py", "Classics", "Famous results reproduced here, the paper's numbers beside ours.")]
for start in range(0, len(LINKS), 3):
    for col, (page, label, blurb) in zip(st.columns(3), LINKS[start:start + 3]):
        with col.container(border=True):
            st.page_link(page, label=f"**{label}**")
            st.caption(blurb)

st.subheader("Latest runs")
if not common.latest_runs_table(limit=8, key="home_runs"):  # an empty lab: no table, a pointer instead
    st.info("No runs yet. Open Prune, Distill or Quantize to start one.")
