"""Sweeps: one method over several levels and seeds as background runs, drawn as a curve that grows as points finish.

The page builds the method's spec from the same pickers as the method pages, plans the
sweep with `sweep.plan_sweep` (so the preview counts exactly the runs that will be queued),
submits it with `sweep.submit_sweep`, and reads the points back from the run store with
`sweep.sweep_points`: a reload, another tab or the CLI's `sweep` command show the same sweep.
"""
import time

import pandas as pd
import streamlit as st

from compress_core.errors import CompressError
from compress_core.explore import sweep
from compress_core.measure import catalogue
from compress_core.methods.registry import get_method, spec_from_dict, sweep_methods
from compress_core.present import plots
from ui import access, common

common.ensure_navigation()

P = "sweep"
POLL_S = 1.0  # a sweep's points finish seconds apart: re-read the store once a second


def metric_options(points: pd.DataFrame) -> list[str]:
    """What a curve can show: the core numbers every run reports, then every other catalogued number the
    finished points have (labels and units: the metrics catalogue)."""
    measured = {c: None for c in points.columns if points[c].notna().any()}
    return catalogue.table_keys(extra=False, numeric=True) + catalogue.table_keys(measured, core=False, numeric=True)


st.title("Sweeps")
st.caption("Run one method over a list of levels (pruning amounts, temperatures, student widths, bits) and several "
           "seeds, from the same baselines, and read the curve: mean over seeds with a band. Each seed trains its "
           "own baseline once (cached), and every level of that seed starts from it.")
common.use_few_threads()


def prune_options() -> tuple[dict, bool]:
    """PruneSpec fields of the pruning options, and whether to add the controls."""
    from compress_core.methods.criteria import criteria
    from compress_core.specs import PRUNE_METHODS, PRUNE_SCHEDULES, PRUNE_SCOPES

    criterion = st.radio("Criterion", PRUNE_METHODS, key="sweep_prune_method", horizontal=True,
                         captions=[c.description for c in criteria()] + ["whole channels"])
    structured = criterion == "structured"
    scope = "global" if structured else st.radio("Scope", PRUNE_SCOPES, key="sweep_scope", horizontal=True,
                                                 captions=["one threshold", "same share per layer"])
    schedule = "oneshot" if structured else st.radio("Schedule", PRUNE_SCHEDULES, key="sweep_schedule",
                                                     horizontal=True, captions=["prune once", "gradually (AGP)"])
    epochs = st.number_input("Fine-tuning epochs", 0, 200, 1, key="sweep_epochs")
    controls = st.checkbox("Add the controls (ShrinkBench)", False, key="sweep_controls", disabled=structured,
                           help="also run the random criterion and the other scope (layer/global) at the same "
                                "amounts, from the same weights, with the same fine-tuning; structured pruning has "
                                "neither a random criterion nor a scope")
    fields = dict(method=criterion, scope=scope, schedule=schedule, finetune_epochs=int(epochs))
    return fields, controls and not structured


def distill_options(data, param: str) -> dict:
    """DistillSpec fields: teacher, student and the distillation settings the sweep does not vary."""
    teacher, teacher_hidden = common.model_picker(P, data, key="teacher", label="Teacher", default="lenet300",
                                                  default_hidden="300,100")
    student, _ = common.model_picker(P, data, key="student", label="Student", default="mlp", default_hidden=None)
    hidden, temperature = None, 4.0
    if student == "mlp":  # a width sweep sets the width itself; the first level stands in until then
        hidden = (8,) if param == "width" else (
            st.select_slider("Student width", [4, 8, 16, 32, 64, 128, 256], value=32, key="sweep_width"),)
    if param != "temperature":
        temperature = st.slider("Temperature T", 0.5, 20.0, 4.0, 0.5, key="sweep_temperature")
    alpha = st.slider("α: weight of the teacher's soft targets", 0.0, 1.0, 0.9, 0.05, key="sweep_alpha")
    epochs = st.number_input("Student epochs (also for the scratch control)", 1, 500, 5, key="sweep_distill_epochs")
    return dict(model=student, hidden=hidden, teacher=teacher, teacher_hidden=teacher_hidden,
                temperature=float(temperature), alpha=float(alpha), epochs=int(epochs))


def quantize_options() -> dict:
    granularity = st.radio("Granularity", ("channel", "tensor"), key="sweep_granularity", horizontal=True,
                           captions=["one scale per output channel", "one scale per tensor"])
    st.caption("A bits sweep fake-quantizes the weights (fp32 compute): it measures what k bits cost in accuracy.")
    return dict(scheme="fake", bits=8, granularity=granularity)


def settings_panel():
    """The sweep's settings; (method, base spec dict, param, levels text, seeds, controls) or None."""
    picked = common.dataset_picker(P)
    if picked is None:
        return None
    dataset, label_column, data = picked
    method = st.radio("Method", [m.kind for m in sweep_methods()], key="sweep_method", horizontal=True,
                      format_func=lambda kind: get_method(kind).label.capitalize())
    params = list(sweep.params(method))
    if method == "distill" and st.session_state.get("sweep_student", "mlp") != "mlp":
        params.remove("width")  # only an mlp student has a width to vary
    if st.session_state.get("sweep_param") not in params:  # another method: its own default parameter
        st.session_state["sweep_param"] = params[0]
    param = st.selectbox("Swept parameter", params, key="sweep_param", help="what the levels set")
    swept = sweep.params(method)[param]
    levels = st.text_input(f"Levels of {param} (comma-separated; {swept.help})", swept.example,
                           key=f"sweep_levels_{param}")
    seeds = st.slider("Seeds per level", 1, 5, 3, key="sweep_seeds",
                      help="each seed has its own baseline and fine-tuning: the band shows how much a result varies")
    controls = False
    if method == "distill":
        fields = {**distill_options(data, param), **common.source_options(P, "teacher")}
    else:
        model, hidden = common.model_picker(P, data)
        fields = dict(model=model, hidden=hidden, **common.source_options(P))
        if method == "prune":
            options, controls = prune_options()
            fields.update(options)
        else:
            fields.update(quantize_options())
    with st.expander("Advanced"):
        seed = int(st.number_input("First seed (the seeds count up from it)", 0, 2**31 - 1, 0, key="sweep_seed"))
        baseline_epochs = int(st.number_input("Baseline (teacher) epochs (0: the data set's default)", 0, 1000, 0,
                                              key="sweep_baseline_epochs")) or None
    epochs_field = "teacher_epochs" if method == "distill" else "baseline_epochs"
    base = {"kind": method, "dataset": dataset, "label_column": label_column, "seed": seed,
            epochs_field: baseline_epochs, **fields}
    try:
        base_spec = spec_from_dict(base).to_dict()
    except CompressError as exc:
        common.show_error(exc)
        return None
    return method, base_spec, param, levels, seeds, controls


def plan_panel(method: str, base_spec: dict, param: str, levels: str, seeds: int, controls: bool) -> None:
    """How many runs the sweep queues, and the Submit button."""
    try:
        plan = sweep.plan_sweep(method, base_spec, levels, seeds, param=param, controls=controls)
    except CompressError as exc:
        common.show_error(exc)
        return
    n_levels = len({p["level"] for p in plan})
    variants = list(dict.fromkeys(p["variant"] for p in plan))
    st.markdown(f"**Plan: {len(plan)} runs** = {n_levels} levels × {seeds} seed{'s' * (seeds > 1)} × "
                f"{len(variants)} variant{'s' * (len(variants) > 1)} ({', '.join(variants)})")
    st.caption(f"Up to {sweep.default_workers()} runs at a time in background workers (one thread each). "
               f"{seeds} baseline{'s' * (seeds > 1)} (one per seed) are trained first unless already cached.")
    if not access.can_operate():
        access.viewer_line()
    if st.button(f"Submit the sweep ({len(plan)} runs)", type="primary", key="sweep_submit",
                 disabled=not access.can_operate()):
        try:
            from compress_core.runs import jobs
            from compress_core.sharing import check_queue  # the whole sweep fits in the queue, or none of it

            check_queue(jobs.open_store(common.home()).count("queued"), len(plan))
            from ui.backend import chosen

            record = sweep.submit_sweep(method, base_spec, levels, seeds, param=param, controls=controls,
                                        home=common.home(), backend=chosen())
        except CompressError as exc:
            common.show_error(exc)
            return
        st.session_state["sweep_open"] = record["id"]  # the viewer below opens it (it is not drawn yet)


def sweep_label(record: dict) -> str:
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.get("created_at", 0)))
    return (f"{record['id']} · {record['method']} over {record['param']} "
            f"({', '.join(map(str, record['levels']))}) · {len(record['points'])} runs · {created}")


def summary_of(record: dict, points: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per variant and level over the finished seeds; a distillation accuracy curve gets its scratch control too."""
    summary = sweep.sweep_summary(points, metric)
    if record["method"] == "distill" and metric == "accuracy" and "scratch_accuracy" in points \
            and points["scratch_accuracy"].notna().any():
        scratch = sweep.sweep_summary(points, "scratch_accuracy").assign(variant="scratch", metric="accuracy")
        summary = pd.concat([summary, scratch], ignore_index=True)
    return summary


def draw_sweep(sweep_id: str, metric: str, band: str) -> int:
    """Status, curve and tables of one sweep, from whatever points have finished so far; how many still run."""
    record = sweep.load_sweep(sweep_id, common.home())
    points = sweep.sweep_points(record, common.home())
    counts = points["status"].value_counts().to_dict()
    total, done = len(points), int(counts.get("finished", 0))
    active = int(points["status"].isin(common.ACTIVE).sum())
    ended = total - active
    others = [f"{n} {status}" for status, n in sorted(counts.items()) if status != "finished"]
    st.progress(ended / max(total, 1), text=" · ".join([f"{done} of {total} points finished", *others]))
    c = st.columns([1, 3])
    if c[0].button("Cancel the sweep", key="sweep_cancel", disabled=not active or not access.can_operate(),
                   help="stops the running points and drops the queued ones; finished points stay"):
        n = sweep.cancel_sweep(record, common.home())
        st.toast(f"Asked {n} runs to stop.")
        st.rerun()
    failed = points[points["status"] == "failed"]
    if len(failed):
        common.show_error(f"{len(failed)} point(s) failed; the first error: {common.error_text(failed['error'].iloc[0])}")
    if not done:
        st.info("No point has finished yet: the curve appears with the first finished run." if active
                else "No point of this sweep finished.")
        return active
    summary = summary_of(record, points, metric)
    base = points["baseline_accuracy"].mean() if metric == "accuracy" else None
    partial = f" ({done} of {total} points so far)" if done < total else ""
    title, scale = catalogue.axis(metric)
    common.chart(plots.sweep_curve(summary, points, metric, record["param"],
                                   band=band, baseline=None if pd.isna(base) else base,
                                   title=f"{title.split(' (')[0].capitalize()} vs {record['param']}{partial}"),
                 key="sweep_curve")
    if done < total:
        st.caption("The curve shows the finished points; it grows as the remaining runs finish.")
    level_title, level_scale = plots.SWEEP_LEVELS[record["param"]]
    table = pd.DataFrame({"variant": summary["variant"], "level": summary["level"] * level_scale,
                          "seeds": summary["n"], "mean": summary["mean"] * scale, "std": summary["std"] * scale,
                          "min": summary["min"] * scale, "max": summary["max"] * scale})
    unit = title.rsplit("(", 1)[-1].rstrip(")") if title.endswith(")") else ""
    number = st.column_config.NumberColumn(format="%.4g")
    st.caption(f"{title.capitalize()} per level over the finished seeds; level: {level_title}.")
    st.dataframe(table, hide_index=True, key="sweep_summary_table", column_config={
        "level": st.column_config.NumberColumn(format="%.4g", help=level_title),
        "seeds": st.column_config.NumberColumn(help="finished seeds"),
        "mean": st.column_config.NumberColumn(f"mean ({unit})" if unit else "mean", format="%.4g", help=title),
        "std": number, "min": number, "max": number})
    with st.expander(f"All {total} points"):
        st.dataframe(pd.DataFrame({
            "run": points["run_id"], "level": points["level"], "seed": points["seed"], "variant": points["variant"],
            "status": points["status"], title: points[metric] * scale,
            "open": [common.run_url(r, record["method"]) for r in points["run_id"]]}),
            hide_index=True, key="sweep_points_table",
            column_config={"open": st.column_config.LinkColumn("open", display_text="open run")})
    return active


# ---------------------------------------------------------------- the page
@st.fragment(run_every=POLL_S)
def live_sweep(sweep_id: str, metric: str, band: str) -> None:
    """The sweep re-read once a second while points run; the whole page reruns once the last one ends."""
    if not draw_sweep(sweep_id, metric, band):
        st.rerun()


def sweep_viewer() -> None:
    """Pick a sweep (the one just submitted, the URL's, or the newest) and draw it."""
    records = {r["id"]: r for r in sweep.list_sweeps(common.home())}
    if not records:
        st.info("No sweeps yet: choose the settings and submit one (or run `python -m compress_core sweep ...`).")
        return
    wanted = st.session_state.get("sweep_open") or st.query_params.get("sweep")
    st.session_state["sweep_open"] = wanted if wanted in records else next(iter(records))
    sweep_id = st.selectbox("Sweep", list(records), format_func=lambda i: sweep_label(records[i]), key="sweep_open",
                            help="the newest first; sweeps started from the command line are listed too")
    st.query_params["sweep"] = sweep_id  # a reload keeps the sweep open
    record = records[sweep_id]
    options = metric_options(sweep.sweep_points(record, common.home()))
    if st.session_state.get("sweep_metric") not in options:
        st.session_state["sweep_metric"] = options[0]
    c = st.columns([3, 2])
    metric = c[0].selectbox("Metric", options, key="sweep_metric", format_func=catalogue.axis_title)
    band = c[1].radio("Band over seeds", ("std", "minmax"), key="sweep_band", horizontal=True,
                      format_func={"std": "mean ± std", "minmax": "min–max"}.get)
    active = any(p["status"] in common.ACTIVE for p in sweep.point_results(record, common.home()))
    (live_sweep if active else draw_sweep)(sweep_id, metric, band)


settings, right = st.columns([1, 2], gap="large")
with settings:
    chosen = settings_panel()
with right:
    if chosen is not None:
        plan_panel(*chosen)
    st.divider()
    sweep_viewer()
