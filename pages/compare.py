"""Compare: chosen runs side by side (specs, metrics, curves, per-layer sparsity), their Pareto front, and export.

Runs arrive preselected from the Runs page (`st.session_state["compare_runs"]`), else the
newest finished runs are shown. The Pareto front is `pareto.pareto_front`; exports are
`export.export_run`, the same files `python -m compress_core export` writes, checked against
PyTorch on test inputs before they are offered.
"""
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from compress_core import fmt
from compress_core.errors import CompressError
from compress_core.explore.pareto import pareto_front
from compress_core.measure import catalogue
from compress_core.methods import labels
from compress_core.present import plots
from compress_core.present.report import full_spec
from compress_core.runs import jobs
from compress_core.runs.export_checks import CHECK_ROWS, FORMATS, INT8_FORMATS, TOLERANCE
from compress_core.runs.store import neutralise_formulas
from ui import common, figures, permalinks

common.ensure_navigation()

P = "compare"
DEFAULT_COUNT = 4  # newest finished runs shown when none were chosen
DIFFERS = "background-color: #fff3bf; font-weight: 600"
# Pareto x axes: metric keys (axis titles, units and scales from the catalogue) and whether the axis is log.
X_AXES = {"size_bytes": True, "size_fp32_bytes": True, "params_nonzero": True, "flops_effective": True,
          "latency_ms_b1": False, "latency_ms_b64": False}

st.title("Compare")
st.caption("Chosen runs side by side: what differs in their specs, every measured figure in one table, training "
           "curves and per-layer sparsity overlaid, the Pareto front of accuracy against a cost, and the compressed "
           "model to download.")

runs = {run["id"]: run for run in jobs.open_store(common.home()).list_runs(status="finished")}
if not runs:
    st.info("No finished runs yet. Start one on the Prune, Distill or Quantize page, or a sweep; finished runs can be "
            "compared here.")
    st.stop()


def method_name(method: str, default: str) -> str:
    """A method's label: built-in ones from the torch-free table, others from the registries (torch)."""
    return labels.method_label(method) or plots.METHOD_LABELS.get(method, default)


def label(run_id: str) -> str:
    run = runs[run_id]
    spec = run.get("spec") or {}
    method = method_name(plots.method_of(run["kind"], spec), run["kind"])
    return f"{run_id} · {method} · {plots.run_setting(run['kind'], spec)} · {spec.get('model')}"


def scaled(value, factor: float = 1.0):
    return None if value is None else value * factor


if "compare_runs" in st.session_state:  # chosen on the Runs page, or earlier here; deleted runs drop out
    st.session_state["compare_runs"] = [i for i in st.session_state["compare_runs"] if i in runs]
else:
    st.session_state["compare_runs"] = list(runs)[:DEFAULT_COUNT]
permalinks.preselect("compare", "compare_runs", runs, multi=True)  # compare?compare=ID,ID
ids = st.multiselect("Runs to compare (finished runs, newest first)", list(runs), format_func=label,
                     key="compare_runs")
permalinks.show_link("compare", "compare", ids)
if not ids:
    st.warning("Choose at least one run.")
    st.stop()
chosen = [runs[i] for i in ids]
points = plots.run_points(chosen)
styles = plots.run_styles(list(zip(points["id"], points["method"])))

# ---------------------------------------------------------------- metrics
# Every catalogued figure any chosen run reports, core set first; headers, units and scales from the catalogue.
metric_dicts = [run.get("metrics") or {} for run in chosen]
metric_keys = catalogue.table_keys(*metric_dicts)


def metric_cell(key: str, value):
    if not catalogue.metric(key).numeric:  # text cells; a structured value (e.g. deep compression's stages) as text
        return value if value is None or isinstance(value, str) else catalogue.format_value(key, value)
    return value * catalogue.axis_scale(key) if value is not None else value


table = pd.DataFrame([{
    "run": run["id"], "method": method_name(p.method, p.method), "setting": p.setting,
    "model": p.model, "data set": Path(str(p.dataset)).name,
    **{catalogue.column_title(k): metric_cell(k, m.get(k)) for k in metric_keys},
    "open": common.run_url(run["id"], run["kind"]),
} for run, p, m in zip(chosen, points.itertuples(), metric_dicts)])
st.subheader("Metrics")
NUMBER_FORMATS = {"%": "%.2f", "pp": "%+.2f"}


def metric_column(key: str):
    entry = catalogue.metric(key)
    if not entry.numeric:
        return st.column_config.TextColumn(help=entry.help)
    number_format = "%d" if entry.unit == "count" else NUMBER_FORMATS.get(entry.axis_unit, "%.4g")
    return st.column_config.NumberColumn(format=number_format, help=entry.help)


st.dataframe(table, hide_index=True, key="compare_metrics", placeholder="–", column_config={
    **{catalogue.column_title(k): metric_column(k) for k in metric_keys},
    "open": st.column_config.LinkColumn("open", display_text="open run", help="the run on its method's page"),
})
c = st.columns([1, 1, 3])
c[0].download_button("Download CSV", neutralise_formulas(table.drop(columns="open")).to_csv(index=False), "compare.csv",
                     "text/csv", key="compare_csv", on_click="ignore", icon=":material/download:")
if c[1].button("Report of these runs", key="compare_report", icon=":material/description:"):
    st.session_state["report_runs"] = list(ids)
    st.switch_page("pages/report.py")

# ---------------------------------------------------------------- specs
st.subheader("Specs")
specs = pd.DataFrame({i: {k: "–" if v is None else json.dumps(v) if isinstance(v, (list, dict)) else str(v)
                          for k, v in full_spec(runs[i].get("spec") or {}).items()} for i in ids}).fillna("–")
differs = specs.nunique(axis=1) > 1
only = st.toggle("Only the fields that differ", False, key="compare_diff_only")
shown = specs[differs] if only else specs
if shown.empty:
    st.info("The specs are identical.")
else:
    st.dataframe(shown.style.apply(lambda row: [DIFFERS if differs[row.name] else ""] * len(row), axis=1),
                 key="compare_specs")
    st.caption(f"{int(differs.sum())} of {len(specs)} fields differ (highlighted); '–' is a field a run's kind "
               "does not have or left at its automatic default.")

# ---------------------------------------------------------------- curves and layers
left, right = st.columns(2)
with left:
    curves = [(i, runs[i].get("history") or [], *styles[i]) for i in ids if runs[i].get("history")]
    common.chart(plots.compare_curves(curves), key="compare_curves")
with right:
    layered = [(i, runs[i]["layers"], *styles[i]) for i in ids if runs[i].get("layers")]
    common.chart(plots.layer_removed_compare(layered), key="compare_layers")

# ---------------------------------------------------------------- Pareto
st.subheader("Pareto front")


def hover_text(run: dict, p) -> str:
    spec = full_spec(run.get("spec") or {})
    fields = "<br>".join(f"{k}: {v}" for k, v in spec.items() if v is not None and k != "kind")
    return f"<b>run {run['id']}</b> ({method_name(p.method, p.method)})<br>{fields}"


datasets = list(dict.fromkeys(points["dataset"]))
c = st.columns([2, 2, 2])
x = c[0].selectbox("x axis (cost)", list(X_AXES), format_func=catalogue.axis_title, key="compare_x")
dataset = c[1].selectbox("Data set (accuracies compare within one)", datasets, key="compare_pareto_dataset",
                         format_func=lambda d: Path(str(d)).name) if len(datasets) > 1 else datasets[0]
everything = c[2].checkbox(f"Every finished run on {Path(str(dataset)).name}", False, key="compare_pareto_all",
                           help="not only the chosen runs: see where they sit among all runs on this data set")
pool = [r for r in runs.values() if (r.get("spec") or {}).get("dataset") == dataset] if everything else \
    [r for r in chosen if (r.get("spec") or {}).get("dataset") == dataset]
pool_points = plots.run_points(pool)
frame = pd.DataFrame({
    "id": pool_points["id"], "method": pool_points["method"], "accuracy": pool_points["accuracy"].astype(float),
    **{key: [scaled((r.get("metrics") or {}).get(key), catalogue.axis_scale(key)) for r in pool] for key in X_AXES},
    "hover": [hover_text(r, p) for r, p in zip(pool, pool_points.itertuples())],
})
frame[list(X_AXES)] = frame[list(X_AXES)].apply(pd.to_numeric, errors="coerce")
front = pareto_front(frame, x, "accuracy")
title, log_x = catalogue.axis_title(x), X_AXES[x]
event = st.plotly_chart(plots.pareto_view(frame, x, title, front, log_x=log_x), key="compare_pareto",
                        on_select="rerun", selection_mode="points", config=figures.modebar("compare_pareto"))
clicked = [p.get("customdata", [None])[0] for p in (getattr(event, "selection", None) or {}).get("points", [])]
clicked = [i for i in clicked if i in runs]
if clicked:
    common.link_to_run(clicked[0], runs[clicked[0]]["kind"])
else:
    st.caption(f"{int(front.sum())} of {int(frame[[x, 'accuracy']].notna().all(axis=1).sum())} runs are on the front "
               "(no other run is both cheaper and more accurate); dominated runs are grey. Hover a point for its "
               "spec; click one to open it.")

# ---------------------------------------------------------------- export
st.subheader("Export a model")
c = st.columns([3, 2, 1])
export_id = c[0].selectbox("Run", ids, format_func=label, key="compare_export_run")
int8 = "int8_weights" in (runs[export_id].get("artifacts") or {})
int8_onnx = "int8_onnx" in (runs[export_id].get("artifacts") or {})  # the run's int8 ONNX Runtime file
formats = ["onnx"] if int8_onnx else list(INT8_FORMATS) if int8 else list(FORMATS)
if st.session_state.get("compare_export_format") not in formats:
    st.session_state["compare_export_format"] = formats[0]
fmt_name = c[1].selectbox("Format", formats, key="compare_export_format",
                          format_func=lambda f: f"{f} ({FORMATS[f]})",
                          help="the int8 run's deployable .onnx file (ONNX Runtime)" if int8_onnx else
                          "an int8 model's packed weights export as TorchScript or a state dict only"
                          if int8 else "ONNX and TorchScript files are checked against PyTorch on test inputs")
with c[2]:
    st.write("")  # aligns the button with the select boxes
    pressed = st.button("Export", type="primary", key="compare_export")
if pressed:
    from compress_core.runs.export import export_run  # rebuilds the model: torch, only when asked

    try:
        with st.spinner(f"Exporting {export_id} as {fmt_name}…"):
            info = export_run(export_id, fmt_name, home=common.home())
            data = Path(info["path"]).read_bytes()
    except CompressError as exc:
        common.show_error(exc)
    else:
        st.session_state["compare_exported"] = {"run": export_id, "format": fmt_name, "info": info, "data": data}
exported = st.session_state.get("compare_exported")
if exported and (exported["run"], exported["format"]) == (export_id, fmt_name):
    info = exported["info"]
    st.download_button(f"Download {export_id}{FORMATS[fmt_name]} ({fmt.size(info['bytes'])})", exported["data"],
                       f"{export_id}{FORMATS[fmt_name]}", "application/octet-stream", key="compare_export_download",
                       type="primary", icon=":material/download:", on_click="ignore")
    if info["max_abs_diff"] is not None:
        st.success(f"Checked: max |{fmt_name} output − PyTorch output| = {info['max_abs_diff']:.2g} on the first "
                   f"{CHECK_ROWS} test inputs (tolerance {info['tolerance']:g}).", icon=":material/check_circle:")
    elif info.get("note"):  # the int8 .onnx of an ONNX Runtime run, copied unchanged and its accuracy checked
        st.success(info["note"], icon=":material/check_circle:")
    else:
        st.caption("A weights file: load it into the model built from the run's spec (pruned weights are plain "
                   "tensors, structured-pruned layers keep their smaller shapes).")
    st.caption(f"Input shape per sample: {'×'.join(map(str, info['input_shape']))} · also written to `{info['path']}` "
               f"· the same file from the command line: `python -m compress_core export {export_id} --format "
               f"{fmt_name} --out model{FORMATS[fmt_name]}`")
else:
    st.caption(f"ONNX and TorchScript exports are run on test inputs and compared with PyTorch (tolerance "
               f"{TOLERANCE:g}) before they are offered.")
