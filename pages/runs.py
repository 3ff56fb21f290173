"""Runs: every run as a filterable table, live progress, cancel and delete, and the accuracy–size trade-off."""
from pathlib import Path

import streamlit as st

from compress_core.runs import jobs

from compress_core import fmt
from compress_core.present import plots
from compress_core.errors import CompressError
from ui import access, common, explain, permalinks

common.ensure_navigation()

P = "runs"

st.title("Runs")
st.caption("Every run of this data folder, from the dashboard and the command line alike.")


@st.fragment(run_every=common.POLL_S)
def live_runs(ids: set) -> None:
    """Progress of the queued and running runs `ids`; reruns the page when that set changes, so the table catches up."""
    common.jobs_keep_workers()  # queued runs get a worker again if one was killed
    active = common.recent_runs(status=list(common.ACTIVE))
    if set(active["id"]) != ids:
        st.rerun()
    for _, row in active.iterrows():
        run = jobs.get(row["id"], common.home())
        value, text = common.progress_state(run)
        st.progress(value, text=f"{row['id']} · {common.method_label(row['method'])} · "
                                f"{row['model']} on {fmt.md_escape(Path(str(row['dataset'])).name)} · {text}")


points = common.recent_runs()
if points.empty:
    st.info("No runs yet. Start one on the Prune, Distill or Quantize page (or with `python -m compress_core`).")
    st.stop()

active_ids = set(points.loc[points["status"].isin(common.ACTIVE), "id"])
if active_ids:  # poll only while something runs
    live_runs(active_ids)

c = st.columns([2, 2, 3])
kinds = c[0].multiselect("Kind", sorted(points["kind"].dropna().unique()), key="runs_kind",
                         placeholder="all kinds")
statuses = c[1].multiselect("Status", sorted(points["status"].dropna().unique()), key="runs_status",
                            placeholder="all statuses")
search = c[2].text_input("Search (run id, model, data set, method)", key="runs_search")
view = points
if kinds:
    view = view[view["kind"].isin(kinds)]
if statuses:
    view = view[view["status"].isin(statuses)]
if search:
    text = view[["id", "model", "dataset", "method"]].astype(str).agg(" ".join, axis=1)
    view = view[text.str.contains(search, case=False, regex=False)]
st.caption(f"{len(view)} of {len(points)} runs")
common.runs_table(view, key="runs_table")

labels = {row.id: f"{row.id} · {row.method} · {row.status}" for row in view.itertuples()}
permalinks.preselect("run", "runs_selected", labels, multi=False)  # runs?run=ID opens that run
if not view.empty:
    c = st.columns([3, 1, 1, 2])
    chosen = c[0].selectbox("Run", list(labels), format_func=labels.get, key="runs_selected")
    status = view.loc[view["id"] == chosen, "status"].iloc[0]
    kind = view.loc[view["id"] == chosen, "kind"].iloc[0]
    def act(action) -> None:
        """Cancel or delete the chosen run; an engine refusal shows as an error, not a traceback."""
        try:
            action(chosen, common.home())
            st.rerun()
        except CompressError as exc:
            common.show_error(exc)

    viewer = not access.can_operate()  # shared lab: viewers see runs but do not cancel or delete them
    if c[1].button("Cancel", key="runs_cancel", disabled=status not in common.ACTIVE or viewer):
        act(jobs.cancel)
    if c[2].button("Delete", key="runs_delete", disabled=status == "running" or viewer,
                   help="removes the run and its saved weights; cancel a running run first"):
        act(jobs.delete)
    if viewer:
        access.viewer_line()
    with c[3]:
        if common.run_page(kind):
            common.link_to_run(chosen, kind, f"Open in the {kind.capitalize()} page")
    permalinks.show_link("runs", "run", [chosen])
    error = view.loc[view["id"] == chosen, "error"].iloc[0]
    if isinstance(error, str) and error:
        common.show_error(error)
    if status == "finished":
        explain.explain_section(jobs.get(chosen, common.home()), P)

finished_ids = [i for i in view.loc[view["status"] == "finished", "id"]]
if finished_ids:
    c = st.columns([3, 1, 1.6], vertical_alignment="bottom")
    picked = c[0].multiselect("Finished runs to compare or put in a report", finished_ids, key="runs_chosen",
                              format_func=lambda i: labels[i], placeholder="choose runs")
    if c[1].button("Compare", key="runs_compare", disabled=not picked, icon=":material/compare_arrows:"):
        st.session_state["compare_runs"] = picked
        st.switch_page("pages/compare.py")
    if c[2].button("Report of these runs", key="runs_report", disabled=not picked, icon=":material/description:"):
        st.session_state["report_runs"] = picked
        st.switch_page("pages/report.py")

st.download_button("Download all runs (CSV)", jobs.open_store(common.home()).export("csv"), "runs.csv", "text/csv",
                   key="runs_export")

finished = points[(points["status"] == "finished") & points["accuracy"].notna()]
if finished.empty:
    st.info("The accuracy–size chart appears once a run has finished.")
else:
    datasets = finished["dataset"].value_counts().index.tolist()
    dataset = st.selectbox("Data set of the trade-off chart (accuracies only compare within one data set)", datasets,
                           key="runs_chart_dataset", format_func=lambda d: Path(str(d)).name)
    common.chart(plots.pareto(finished[finished["dataset"] == dataset],
                              f"Accuracy vs size: finished runs on {Path(str(dataset)).name}"), key="runs_pareto")
    st.caption("Size is each run's smallest measured encoding: the int8 checkpoint, a packed k-bit estimate (fake "
               "quantization), the sparse encoding (pruned weights) or the dense fp32 checkpoint. The dashed line is "
               "the Pareto front: no other run is both smaller and more accurate.")
