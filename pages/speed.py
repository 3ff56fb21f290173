"""Speed: how fast a run's model is where it would be deployed, per runtime, batch size and thread count.

The timing runs in its own process (`python -m compress_core speed RUN --json`, the CLI's own
command) so the page never blocks and Streamlit's threads do not disturb the figures; it
stores `speed.json` with the run, which this page (and the CLI, and the report) read back.
"""
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from compress_core.measure.speed_file import BATCHES, SPEED_FILE, load_speed  # torch-free
from compress_core.present import speed as present
from compress_core.runs import jobs
from ui import common

common.ensure_navigation()

P = "speed"
st.title("Speed")
st.caption("Is the compressed model faster where you would deploy it? The run's model and its baseline, timed in "
           "the same runtimes (torch eager, ONNX Runtime fp32) and in the compressed form (masked, sparse CSR, "
           "smaller dense or int8 .onnx), at several batch sizes and thread counts. Calls are paired and "
           "alternated; each point is the median with its inter-quartile range. Speed-ups compare like with like "
           "(the same runtime); the gain of changing runtime is shown apart.")

home = common.home()
store = jobs.open_store(home)
runs = {r["id"]: r for r in store.list_runs(status="finished")}
if not runs:
    st.info("No finished runs yet. Start one on the Prune, Distill or Quantize page; time it here once it has finished.")
    st.stop()

run_id = st.selectbox("Run", list(runs), key="speed_run",
                      format_func=lambda i: f"{i} · {runs[i]['kind']} · {runs[i]['spec'].get('model')}")
run = runs[run_id]
c = st.columns([2, 1, 1, 1])
batches = c[0].multiselect("Batch sizes", list(BATCHES), default=list(BATCHES), key="speed_batches")
threads = c[1].multiselect("Threads", ["1", "all"], default=["1", "all"], key="speed_threads")
repeats = c[2].number_input("Timed calls per cell", 3, 200, 20, key="speed_repeats")
break_even_batch = c[3].selectbox("Break-even at batch", list(BATCHES), index=2, key="speed_break_even_batch")
folder = store.artifacts_dir(run_id)
started = st.session_state.get("speed_started") or {}

if st.button("Time it", type="primary", key="speed_start", disabled=not batches or not threads):
    command = [sys.executable, "-m", "compress_core", "speed", run_id, "--json", "--home", str(home),
               "--batches", ",".join(map(str, sorted(batches))), "--threads", ",".join(threads),
               "--repeats", str(int(repeats)), "--break-even-batch", str(break_even_batch)]
    with open(folder / "speed.log", "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
                                   cwd=Path(__file__).resolve().parents[1])  # where compress_core lives
    started = {**started, run_id: {"at": time.time(), "pid": process.pid}}
    st.session_state["speed_started"] = started


@st.fragment(run_every=2)
def waiting() -> None:
    """Polls until the timing process has written a newer speed.json (then reruns the page)."""
    path = folder / SPEED_FILE
    if path.exists() and path.stat().st_mtime >= started[run_id]["at"]:
        started.pop(run_id)
        st.rerun()
    log = (folder / "speed.log").read_text() if (folder / "speed.log").exists() else ""
    if "error:" in log:
        common.show_error(log.strip().splitlines()[-1].removeprefix("error: "))
        started.pop(run_id)
        return
    st.info(f"Timing run {run_id} in a separate process… {log.strip().splitlines()[-1] if log.strip() else ''}",
            icon="⏱️")


if run_id in started:
    waiting()

result = load_speed(run, home)
if result is None:
    st.info("This run has not been timed yet: press **Time it** (a few seconds to a minute).")
    st.stop()

env = result.get("environment") or {}
st.caption(f"Timed with {result.get('repeats')} calls per cell · torch {env.get('torch')} · {env.get('cpu_count')} "
           f"CPU cores · {result.get('method', '')}. Stored as {SPEED_FILE} with the run.")
if env.get("cpu"):
    st.caption(present.cpu_line(env["cpu"]) + " bf16/fp16 forms are the same weights in 16 bits, torch eager.")
thread_options = sorted({c["threads"] for c in result["cells"]})
shown_threads = st.radio("Threads shown", thread_options, index=len(thread_options) - 1, horizontal=True,
                         key="speed_view_threads")

st.subheader("Verdicts")
for v in present.verdicts(result, shown_threads):
    color = {True: "green", False: "red"}.get(v["good"], "gray")
    st.markdown(f"**{v['form']}** (against {v['against']}): :{color}[{v['verdict']}]")

common.chart(present.latency_figure(result, shown_threads), key="speed_latency")

be = result.get("break_even") or {}
if be.get("layers"):
    st.subheader("When do sparse kernels pay off?")
    st.caption("Each of the model's largest Linear layers, magnitude-pruned to every sparsity from 50 % to 99 %, "
               "timed as a CSR matrix (torch.addmm) against its dense weight at the chosen batch size. The dashed "
               "line marks the break-even sparsity: from there on the sparse kernel is faster.")
    common.chart(present.break_even_figure(be), key="speed_break_even")
    for layer in be["layers"]:
        at = "never, up to 99 %" if layer["break_even"] is None else f"from {layer['break_even']:.0%} sparsity"
        st.markdown(f"- `{layer['name']}` {'×'.join(map(str, layer['shape']))}: sparse wins {at}")
elif be.get("reason"):
    st.caption(f"Break-even: {be['reason']}")

with st.expander("Every cell"):
    st.dataframe(pd.DataFrame(present.cells_frame(result)), hide_index=True, key="speed_cells")
