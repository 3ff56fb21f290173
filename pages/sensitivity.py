"""Sensitivity: which layers can take pruning, per-layer amounts for a sparsity target, and a run with them.

The scan (`sensitivity.layer_sensitivity`: each layer alone, chosen criterion, no fine-tuning) runs in the
page on a copy of the cached baseline: it only evaluates, so it takes seconds. The proposal
(`propose_layer_amounts`) is an editable table; the prune run it submits carries the
table's amounts as `PruneSpec.layer_amounts`, so the run is exactly what the table shows.
"""
import copy
import time

import pandas as pd
import streamlit as st

from compress_core import fmt

from compress_core.present import plots
from compress_core.errors import CompressError
from compress_core.methods.criteria import CRITERIA
from compress_core.explore.sensitivity import (achieved_sparsity, check_amounts, layer_sensitivity, layer_sizes,
                                       predicted_drop, propose_layer_amounts)
from compress_core.specs import PruneSpec, TrainSpec
from compress_core.explore.sweep import parse_levels
from ui import access, common

common.ensure_navigation()

P = "sens"
DEFAULT_AMOUNTS = "0.3,0.5,0.7,0.9,0.95"

st.title("Sensitivity")
st.caption("Prune one layer at a time at several amounts (by the chosen criterion, no fine-tuning) and measure test accuracy: "
           "layers whose accuracy holds up can be pruned harder. From the scan, propose per-layer amounts that "
           "meet a global sparsity target with the least predicted loss, edit them, and run that pruning.")
common.use_few_threads()

settings, right = st.columns([1, 2], gap="large")
with settings:
    dataset, label_column, model, hidden = common.data_and_model(P)
    amounts_text = st.text_input("Amounts to try in each layer (comma-separated, each in (0, 1))", DEFAULT_AMOUNTS,
                                 key="sens_amounts")
    seed, baseline_epochs = common.seed_and_baseline_epochs(P)
    criterion = st.radio("Criterion", CRITERIA.names(), key="sens_method", horizontal=True,
                         help="scores the weights in the scan and in the run; random is the control: same "
                              "per-layer amounts, weights chosen at random")
    try:
        amounts = check_amounts(parse_levels(amounts_text, "amount", "amounts"))
        spec = TrainSpec(model=model, hidden=hidden, dataset=dataset, label_column=label_column, seed=int(seed),
                         epochs=int(baseline_epochs) or None, **common.source_options(P))
    except CompressError as exc:
        common.show_error(exc)
        st.stop()

scan_key = (spec, tuple(amounts), criterion)  # the scan shown belongs to these settings
with right:
    base = common.baseline(spec, P)
    if base is None:
        st.stop()
    st.caption(f"Baseline: {model} on {dataset}, {fmt.pct(base.info['accuracy'], 2)} top-1 test accuracy.")
    if not access.can_operate():
        access.viewer_line()
    if st.button(f"Run the scan ({len(amounts)} amounts per layer)", type="primary", key="sens_run",
                 disabled=not access.can_operate()):
        with st.spinner("Pruning each layer alone and measuring accuracy…"):
            began = time.perf_counter()
            # a copy: the scan masks weights in place, and the cached model is shared with other sessions
            from compress_core.runs import ray_backend
            from ui.backend import address_for_tasks, chosen

            try:  # on Ray: one task per layer, on the baseline cached in the (shared) home
                table = ray_backend.sensitivity_scan(spec, amounts, common.home(), address_for_tasks(),
                                                     criterion=criterion)[0] if chosen() else \
                    layer_sensitivity(copy.deepcopy(base.model), base.data, amounts, criterion=criterion, seed=int(seed))
            except CompressError as exc:
                common.show_error(exc)
                st.stop()
            seconds = time.perf_counter() - began
        st.session_state["sens_scan"] = {"key": scan_key, "table": table, "seconds": seconds}

scan = st.session_state.get("sens_scan")
if scan is None or scan["key"] != scan_key:
    with right:
        st.info("Press Run the scan: it takes seconds (evaluation only, no training)." if scan is None else
                "The settings changed since the last scan: run the scan again.")
    st.stop()

table, sizes = scan["table"], layer_sizes(scan["table"])
worst = table.loc[table["drop"].idxmax()]
with right:
    common.metric_grid(per_row=2, cards=[
        ("Baseline accuracy", fmt.pct(table["baseline_accuracy"].iloc[0], 2), None, "the dense model, test split"),
        ("Layers scanned", str(len(sizes)), f"{fmt.count(sum(sizes.values()))} weights", None),
        ("Scan time", f"{scan['seconds']:.2f} s", f"{len(table)} evaluations",
         "in this page, on a copy of the cached baseline; one CPU thread"),
        ("Most sensitive", str(worst["layer"]), f"-{100 * worst['drop']:.1f} pp at {worst['amount']:.0%}",
         "the largest accuracy drop in the scan"),
    ])
left, right_col = st.columns(2)
with left:
    common.chart(plots.sensitivity_heatmap(table), key="sens_heatmap")
with right_col:
    common.chart(plots.sensitivity_lines(table), key="sens_lines")
st.caption("Layers are pruned one at a time, so the drops add up only roughly: pruning several layers together "
           "usually costs more than the sum, and fine-tuning recovers much of it.")

# ---------------------------------------------------------------- proposal
st.subheader("Per-layer amounts for a global sparsity target")
total = sum(sizes.values())
reachable = sum(n * max(amounts) for n in sizes.values()) / max(total, 1)
top = max(1, min(99, int(100 * reachable)))
target_pct = st.slider("Target global sparsity (share of all prunable weights zeroed)", 0, top, min(80, top),
                       format="%d%%", key="sens_target",
                       help=f"at most {fmt.pct(reachable)}: amounts never go beyond the largest scanned "
                            f"({max(amounts):g}) — scan larger amounts to go further")
try:
    proposal = propose_layer_amounts(table, sizes, target_pct / 100)
except CompressError as exc:
    common.show_error(exc)
    st.stop()
signature = (scan_key, target_pct)
if st.session_state.get("sens_proposal_for") != signature:  # a new proposal starts without the old edits
    st.session_state["sens_proposal_for"] = signature
    st.session_state.pop("sens_editor", None)
layer_types = table.drop_duplicates("layer").set_index("layer")["type"]
proposed = pd.DataFrame({"layer": list(sizes), "type": [layer_types[n] for n in sizes],
                         "weights": list(sizes.values()), "amount": [proposal[n] for n in sizes]})
edited = st.data_editor(proposed, hide_index=True, key="sens_editor", disabled=["layer", "type", "weights"],
                        column_config={
                            "weights": st.column_config.NumberColumn("weights", format="%d"),
                            "amount": st.column_config.NumberColumn(
                                "amount (share pruned)", min_value=0.0, max_value=0.99, step=0.01, format="%.4f",
                                help="edit any layer: the predicted drop and achieved sparsity follow")})
layer_amounts = {str(r.layer): float(r.amount) for r in edited.itertuples() if pd.notna(r.amount)}
achieved = achieved_sparsity(layer_amounts, sizes)
drop = predicted_drop(table, layer_amounts)
base_accuracy = float(table["baseline_accuracy"].iloc[0])
common.metric_grid([
    ("Achieved sparsity", fmt.pct(achieved, 2), f"target {target_pct} %", "weights zeroed / prunable weights"),
    ("Predicted accuracy change", fmt.pp(-drop, 2), None,
     "minus the sum of each layer's interpolated drop from the scan (layers assumed independent), before "
     "fine-tuning; small gains are evaluation noise"),
    ("Predicted accuracy", fmt.pct(base_accuracy - drop, 2), f"baseline {fmt.pct(base_accuracy, 2)}", None),
    ("Weights left", fmt.count(round(total * (1 - achieved))), f"of {fmt.count(total)}", None),
])

c = st.columns([1, 2])
epochs = c[0].number_input("Fine-tuning epochs", 0, 200, 1, key="sens_epochs")
common.run_button("Run non-uniform pruning with these amounts", "sens_run_prune",
                  lambda: PruneSpec(model=model, hidden=hidden, dataset=dataset, label_column=label_column,
                                    method=criterion, amount=round(achieved, 6), layer_amounts=layer_amounts,
                                    finetune_epochs=int(epochs), seed=int(seed),
                                    baseline_epochs=int(baseline_epochs) or None), P,
                  where=c[1], disabled=achieved <= 0)


def draw_result(run: dict) -> None:
    m = run["metrics"]
    common.metric_grid([
        ("Accuracy (top-1, test)", fmt.pct(m["accuracy"]), f"{fmt.pp(m['accuracy_change'])} vs baseline",
         "after fine-tuning"),
        ("Accuracy before fine-tuning", fmt.pct(m.get("accuracy_before_finetune")), None,
         "right after pruning with the table's amounts"),
        ("Sparsity (zero weights)", fmt.pct(m["sparsity"], 2), None, "share of Linear/Conv weights that are zero"),
        ("Size: sparse encoding", fmt.size(m["size_sparse_bytes"]), f"dense fp32 {fmt.size(m['size_fp32_bytes'])}",
         "bitmap of non-zeros + their values"),
    ])
    asked = run["spec"].get("layer_amounts") or {}
    rows = pd.DataFrame({"layer": [r["name"] for r in run["layers"]],
                         "amount asked": [asked.get(r["name"], 0.0) for r in run["layers"]],
                         "sparsity reached": [r["sparsity"] for r in run["layers"]]})
    left, right_col = st.columns([1, 1.6])
    with left:
        st.dataframe(rows, hide_index=True, key="sens_result_layers", column_config={
            "amount asked": st.column_config.NumberColumn(format="%.4f"),
            "sparsity reached": st.column_config.NumberColumn(format="%.4f",
                                                              help="zeros / weights of the saved model")})
        common.link_to_run(run["id"], "prune", "Open in the Prune page")
    with right_col:
        common.chart(plots.layer_sparsity(run["layers"], plots.color_of(run["spec"]["method"]),
                                          "Sparsity per layer of the non-uniform run"), key="sens_result_chart")


# Only a non-uniform run started here (or linked with ?run=) belongs on this page.
run = common.current_run(P, "prune") if (st.session_state.get("sens_run_id") or st.query_params.get("run")) else None
if run is not None and (run.get("spec") or {}).get("layer_amounts"):
    common.show_run(run, P, draw_result)
