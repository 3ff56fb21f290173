"""Report: one self-contained HTML file of chosen finished runs, for people who were not at the keyboard.

The file is `build_report(report_runs(home, ids))`, exactly what
`python -m compress_core report --runs IDS --out report.html` writes for the same runs.
"""
import shlex
from pathlib import Path

import streamlit as st

from compress_core import fmt

from compress_core.runs import jobs

from compress_core.present import plots
from compress_core.methods import labels
from compress_core.errors import CompressError
from compress_core.present.report import build_report, full_spec, report_runs, trade_off
from ui import common, permalinks

common.ensure_navigation()

P = "report"
DEFAULT_TITLE = "Compression Lab report"  # the CLI's --title default
FILE_NAME = "compression-lab-report.html"

st.title("Report")
st.caption("A single HTML file for stakeholders: an executive summary, the best trade-offs in plain words, the "
           "accuracy–size chart, accuracy curves where a setting was run at three or more levels, a table per method "
           "(settings run with several seeds as mean and min–max; measured beside theoretical FLOPs speed-ups; unequal "
           "fine-tuning budgets flagged), the baselines, how every figure was measured, and the exact spec and command "
           "line that reproduce each run. It opens offline in any browser (Plotly is embedded), reads on a phone and "
           "prints on A4.")


def label(run: dict) -> str:
    spec = full_spec(run.get("spec") or {})
    key = plots.method_of(run["kind"], spec)
    method = labels.method_label(key) or plots.METHOD_LABELS.get(key, run["kind"])  # built-in kinds: no torch
    return (f"{run['id']} · {method} · {plots.run_setting(run['kind'], spec)} · {spec.get('model')} on "
            f"{Path(str(spec.get('dataset'))).name}")


def summary(run: dict) -> str:
    """The report's one-sentence trade-off; a baseline has nothing to trade, so its own figures."""
    if run["kind"] != "train":
        return trade_off(run)
    m = run.get("metrics") or {}
    return f"the dense model: {fmt.pct(m.get('accuracy'), 2)} test accuracy, {fmt.size(m.get('size_fp32_bytes'))} fp32"


def cli_command(ids: list[str], title: str) -> str:
    """The CLI call that writes the same file (the ids are listed: runs that finish later would change 'all')."""
    args = ["python", "-m", "compress_core", "report", "--runs", ",".join(ids), "--out", FILE_NAME]
    return shlex.join(args + ([] if title == DEFAULT_TITLE else ["--title", title]))


runs = {run["id"]: run for run in jobs.open_store(common.home()).list_runs(status="finished")}
if not runs:
    st.info("No finished runs yet. Start one on the Prune, Distill or Quantize page (or with `python -m "
            "compress_core`); it appears here once it has finished.")
    st.stop()

if "report_runs" in st.session_state:  # a run deleted since the last visit is no longer an option
    st.session_state["report_runs"] = [i for i in st.session_state["report_runs"] if i in runs]
permalinks.preselect("report", "report_runs", runs, multi=True)  # report?report=ID,ID
ids = st.multiselect("Runs in the report (all finished runs by default)", list(runs), default=list(runs),
                     format_func=lambda i: label(runs[i]), key="report_runs")
title = st.text_input("Title", DEFAULT_TITLE, key="report_title", max_chars=200)
if st.button("Build report", type="primary", key="report_build", disabled=not ids):
    try:
        page = build_report(report_runs(common.home(), ids), title=title)
    except CompressError as exc:
        common.show_error(exc)
    else:
        st.session_state["report_built"] = {"ids": list(ids), "title": title, "html": page.encode("utf-8")}
if not ids:
    st.warning("Choose at least one run.")

built = st.session_state.get("report_built")
if built is None:
    st.stop()
if (sorted(built["ids"]), built["title"]) != (sorted(ids), title):
    st.info("The choice of runs or the title changed since the report was built: press Build report again.")
    st.stop()
st.download_button(f"Download {FILE_NAME} ({fmt.size(len(built['html']))})", built["html"], FILE_NAME, "text/html",
                   key="report_download", type="primary", icon=":material/download:", on_click="ignore")
st.caption("The same file from the command line:")
st.code(cli_command(built["ids"], built["title"]), language="bash", wrap_lines=True)
permalinks.show_link("report", "report", built["ids"])
chosen = [runs[i] for i in built["ids"] if i in runs]
st.subheader("In the report")
st.markdown("\n".join(f"- **{fmt.md_escape(label(run))}**: {fmt.md_escape(summary(run))}" for run in chosen))
