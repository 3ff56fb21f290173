"""Planner: give a budget (size, FLOPs or latency) and the methods allowed; see the predicted plan, then run it
in the background and read predicted vs realized side by side.

"Predict" runs the per-layer scan and the allocation in the page on a copy of the cached baseline
(evaluation only, seconds for the bundled models); "Run plan" queues the `plan` run kind, which does
the same, then fine-tunes, quantizes and measures (methods/plan.py).
"""
import copy
import dataclasses
import json
import time

import streamlit as st

from compress_core import fmt
from compress_core.errors import CompressError
from compress_core.present import plan as present_plan
from ui import access, common

common.ensure_navigation()

P = "planner"
TARGETS = ("size", "FLOPs", "latency")

st.title("Planner")
st.caption("Set a budget and the methods that may be combined; the planner measures how each layer reacts to "
           "pruning and k-bit weights, chooses a sparsity and a bit width per layer that fit the budget at the highest "
           "predicted accuracy (a knapsack over the measured curves), then runs the plan with fine-tuning and shows "
           "what it predicted beside what it measured.")
common.use_few_threads()

settings, right = st.columns([1, 2], gap="large")
with settings:
    dataset, label_column, model, hidden = common.data_and_model(P)
    target_kind = st.radio("Budget", TARGETS, key="planner_target_kind", horizontal=True,
                           captions=["deployed bytes", "effective FLOPs", "ms at a batch size"])
    target_size = target_flops = target_latency = None
    batch = 1
    if target_kind == "size":
        target_size = st.number_input("Size budget (bytes)", value=25_000, step=1_000, key="planner_target_size",
                                      help="the run's size_bytes: the smallest deployable form it has (sparse "
                                           "encoding, packed k-bit codes with bitmaps)")
    elif target_kind == "FLOPs":
        target_flops = st.number_input("FLOPs budget (per sample)", value=20_000, step=1_000,
                                       key="planner_target_flops",
                                       help="density-scaled FLOPs (2 per multiply-add): what an ideal sparse kernel "
                                            "does")
    else:
        target_latency = st.number_input("Latency target (ms)", value=1.0, step=0.1, format="%.3f",
                                         key="planner_target_latency")
        batch = st.number_input("at batch size", 1, 100_000, 1, key="planner_batch")
    allow = st.multiselect("Methods the plan may combine", ["prune", "quantize"], default=["prune", "quantize"],
                           key="planner_allow", help="prune: a sparsity per layer (L1 masks); quantize: a bit width "
                                                     "per layer (2–8 bits, or fp32)")
    finetune_epochs = st.number_input("Fine-tuning epochs", 0, 100, 3, key="planner_finetune_epochs")
    seed, baseline_epochs = common.seed_and_baseline_epochs(P)


def build_spec():
    from compress_core.methods.plan import PlanSpec

    return PlanSpec(model=model, hidden=hidden, dataset=dataset, label_column=label_column, seed=int(seed),
                    baseline_epochs=int(baseline_epochs) or None, finetune_epochs=int(finetune_epochs),
                    target_size=None if target_size is None else int(target_size),
                    target_flops=None if target_flops is None else int(target_flops),
                    target_latency_ms=None if target_latency is None else float(target_latency), batch=int(batch),
                    allow=tuple(allow), **common.source_options(P))


spec = common.spec_or_stop(build_spec)
spec_key = json.dumps(spec.to_dict(), sort_keys=True)


def predict(base) -> None:
    """Scan and allocate in the page on a copy of the baseline; the prediction is kept for these settings."""
    from compress_core.context import RunContext
    from compress_core.methods.plan import predict as predict_plan
    from compress_core.runs import jobs

    ctx = RunContext.create(home=common.home())
    mine = dataclasses.replace(base, model=copy.deepcopy(base.model))  # the cached model is shared: scan a copy
    began = time.perf_counter()
    try:
        p = predict_plan(spec, mine, ctx, history=jobs.open_store(common.home()).list_runs(kind="plan"))
    except CompressError as exc:
        st.session_state["planner_prediction"] = {"key": spec_key, "error": str(exc)}
        return
    st.session_state["planner_prediction"] = {
        "key": spec_key, "rows": p.rows(), "accuracy": p.accuracy, "uncorrected": p.uncorrected,
        "size": p.size, "cost": p.cost, "history_runs": p.history_runs, "shift": p.shift,
        "baseline_accuracy": base.info["accuracy"], "seconds": time.perf_counter() - began, "notes": p.notes}


with right:
    base = common.baseline(spec.baseline_spec(), P)
    if base is not None:
        st.caption(f"Baseline: {model} on {dataset}, {fmt.pct(base.info['accuracy'], 2)} top-1 test accuracy.")
        if st.button("Predict: scan the layers and plan", key="planner_predict", disabled=not access.can_operate()):
            with st.spinner("Measuring each layer at every sparsity and bit width, then allocating…"):
                predict(base)
        shown = st.session_state.get("planner_prediction")
        if shown is not None and shown["key"] != spec_key:
            st.info("The settings changed since the last prediction: press Predict again.")
        elif shown is not None and "error" in shown:
            common.show_error(shown["error"])
        elif shown is not None:
            cost = shown["cost"]
            common.metric_grid([
                ("Predicted accuracy", fmt.pct(shown["accuracy"], 2),
                 fmt.pp(shown["accuracy"] - shown["baseline_accuracy"], 2),
                 "baseline minus the summed one-shot per-layer drops"
                 + (f", shifted by the mean gap of {shown['history_runs']} earlier plan run(s) "
                    f"({fmt.pp(shown['shift'], 2)})" if shown["history_runs"] else " (no earlier plan to correct by)")),
                ("Predicted size", fmt.size(shown["size"]),
                 f"budget {fmt.size(spec.target_size)}" if spec.target_size else None,
                 "the planned model before fine-tuning, in the form the run reports"),
                ("Predicted FLOPs" if spec.target_flops else "Layers planned",
                 fmt.flops(cost) if spec.target_flops else str(len(shown["rows"])),
                 f"budget {fmt.flops(spec.target_flops)}" if spec.target_flops else None, None),
            ], per_row=3)
            common.chart(present_plan.allocation_figure(shown["rows"]), key="planner_predicted_allocation")
            st.dataframe(present_plan.plan_table(shown["rows"]), hide_index=True, key="planner_plan_table")
            st.caption(f"Predicted in {shown['seconds']:.1f} s (evaluation only, no training). "
                       + " ".join(shown["notes"]))

common.run_button("Run plan: prune, fine-tune, quantize and measure", "planner_run", build_spec, P)


def draw_result(run: dict) -> None:
    m = run["metrics"]
    met = m.get("meets_budget")
    common.metric_grid([
        ("Accuracy (top-1, test)", fmt.pct(m["accuracy"], 2), f"{fmt.pp(m['accuracy_change'], 2)} vs baseline",
         "the planned model after fine-tuning and quantization; baseline measured in the same run"),
        ("Predicted accuracy", fmt.pct(m.get("predicted_accuracy"), 2),
         f"gap {fmt.pp(m.get('prediction_gap'), 2)}", "realized - predicted"),
        ("Deployed size", fmt.size(m["size_bytes"]), m.get("size_form"), "the smallest deployable form measured"),
        ("Budget", "met" if met else ("missed" if met is False else "n/a"),
         f"{fmt.size(m['target_size'])}" if m.get("target_size") else None, "realized figure against the budget"),
    ])
    st.dataframe(present_plan.predicted_vs_realized(m), hide_index=True, key="planner_pvr_table")
    left, right_col = st.columns(2)
    with left:
        common.chart(present_plan.predicted_vs_realized_figure(m), key="planner_pvr_figure")
    with right_col:
        common.chart(present_plan.allocation_figure(m.get("plan") or [], "The plan that ran"),
                     key="planner_run_allocation")
    st.caption("Masks and fake k-bit weights compute in dense fp32: the model is smaller, not faster. "
               "Plans are runs: the Runs, Compare and Report pages and `export` take them like any other.")


common.show_run(common.current_run(P, "plan"), P, draw_result)
