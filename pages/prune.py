"""Prune: preview one-shot pruning of the cached baseline as the slider moves, then run it with fine-tuning."""
import streamlit as st

from compress_core import fmt

from compress_core.present import plots
from compress_core.errors import CompressError
from compress_core.methods.criteria import criteria
from compress_core.specs import PRUNE_METHODS, PRUNE_SCHEDULES, PRUNE_SCOPES, PruneSpec
from ui import cards, common, figure_cache, instant, preview_cache, profile
from ui.device import device_select

common.ensure_navigation()

P = "prune"
MASKED_NOTE = "masked: dense kernels, no speed-up expected"
METHODS = {**{c.name: (c.label, c.description) for c in criteria()},  # every registered criterion
           "structured": ("structured pruning", "remove whole neurons/channels (smaller dense tensors)")}

st.title("Prune")
st.caption("Zero the least important weights (masks) or remove whole neurons and channels, fine-tune, and see "
           "what it really saves.")
common.use_few_threads()

settings, right = st.columns([1, 2], gap="large")
with settings:
    dataset, label_column, model, hidden = common.data_and_model(P)
    from compress_core.models.text_data import takes_text

    text_model = takes_text(model)  # a transformer: heads/FFN when structured; embeddings/head selectable
    method = st.radio("Method", PRUNE_METHODS, key="prune_method", horizontal=True,
                      captions=[METHODS[m][1] for m in PRUNE_METHODS])
    structured = method == "structured"
    if structured:
        importance = st.radio("Channel importance", ("l1", "l2"), key="prune_importance", horizontal=True,
                              help="norm of each channel group's weights; the weakest channels go")
        scope, schedule, steps = "global", "oneshot", 10
        st.caption("Structured pruning removes the same share of channels in every layer, in one shot.")
    else:
        importance = "l1"
        scope = st.radio("Scope", PRUNE_SCOPES, key="prune_scope", horizontal=True,
                         captions=["one threshold for all layers", "same share in every layer"])
        schedule = st.radio("Schedule", PRUNE_SCHEDULES, key="prune_schedule", horizontal=True,
                            captions=["prune once, then fine-tune", "gradually during fine-tuning (AGP)"])
        steps = st.slider("AGP pruning steps", 1, 50, 10, key="prune_steps") if schedule == "agp" else 10
    include = {}
    if text_model and not structured:
        st.caption("Transformers: the attention and feed-forward projections are pruned; embeddings and the "
                   "classification head only when ticked.")
        c = st.columns(2)
        include = {"include_embeddings": c[0].checkbox("Also the embeddings", key="prune_include_embeddings"),
                   "include_head": c[1].checkbox("Also the head (pooler, classifier)", key="prune_include_head")}
    epochs = st.number_input("Fine-tuning epochs", 0, 200, 3, key="prune_epochs")
    seed, baseline_epochs = common.seed_and_baseline_epochs(P)
    device = device_select(P)  # auto | cpu | cuda:N, with each GPU's name and free memory


def build_spec(amount_pct: int) -> PruneSpec:
    return PruneSpec(model=model, hidden=hidden, dataset=dataset, label_column=label_column, method=method,
                     scope=scope, schedule=schedule, steps=int(steps), amount=amount_pct / 100,
                     finetune_epochs=int(epochs), seed=int(seed), importance=importance,
                     baseline_epochs=int(baseline_epochs) or None, **include, **common.source_options(P), **device)


spec = common.spec_or_stop(lambda: build_spec(st.session_state.get("prune_amount", 50)))


@st.fragment
@instant.builds_after
@profile.timed("prune")
def preview_panel(base) -> None:
    """The amount slider and what one-shot pruning of the baseline does; reruns alone when the slider moves."""
    amount = st.slider("Amount to prune", 0, 99, 50, 1, format="%d%%", key="prune_amount",
                       help="share of weights (masks) or of channels (structured) removed")
    profile.mark("slider")
    if base is None:
        return
    acc0 = base.info["accuracy"]
    if structured and text_model:
        text_head_plan(base, amount, acc0)
        return
    if structured:
        try:
            r = preview_cache.structured(preview_cache.key_of(base), base, amount / 100, importance)  # cached, bounded
        except CompressError as exc:
            common.show_error(exc)
            return
        common.preview_layout([
            ("Accuracy, one-shot", fmt.pct(r["accuracy"]), fmt.pp(r["accuracy"] - acc0),
             "top-1 test accuracy right after removal, before fine-tuning; change vs the baseline's "
             f"{fmt.pct(acc0, 2)}"),
            ("Parameters kept", fmt.pct(r["param_ratio"]), f"{fmt.count(r['params_total'])} of "
                                                           f"{fmt.count(r['params_before'])}", None),
            ("FLOPs per sample", fmt.flops(r["flops"]), f"baseline {fmt.flops(r['flops_before'])}",
             "FlopCounterMode, 2 FLOPs per multiply-add; the smaller dense layers really compute less"),
            ("fp32 size", fmt.size(r["size_fp32_bytes"]), None, "torch.save of the smaller dense state dict"),
        ], plots.layer_params(r["layers"]), key="prune_preview_layers")
        st.caption(f"Baseline: {fmt.pct(acc0, 2)} top-1 test accuracy. Physical removal: smaller dense tensors, so "
                   f"a real speed-up is possible. Inner layers lose channels on both sides and keep about "
                   f"(1 − {amount / 100:g})² of their weights.")
        return
    if any(include.values()):  # embeddings / head ticked: the text model in that scope, previewed directly (not cached)
        from compress_core.present import preview
        from compress_core.present.preview_text import scoped

        model_in_scope = scoped(base.model, include["include_embeddings"], include["include_head"])
        edges, before = common.baseline_weights(f"{base.info['key']}|{sorted(k for k, v in include.items() if v)}",
                                                model_in_scope)
        r = preview.prune_preview(model_in_scope, base.data.x_test, base.data.y_test, method, scope, amount / 100,
                                  int(seed), edges, base.data.x_train)
        pending, binding = None, None
    else:
        edges, before = common.baseline_weights(base.info["key"], base.model)
        key = preview_cache.key_of(base)
        # cached, bounded; a slow model's accuracy (pending) arrives after its other numbers
        r, pending = preview_cache.prune_progressive(key, base, method, scope, amount / 100, int(seed), edges)
        # every amount drawn ahead in the browser (ui/instant.py); for a model slow to evaluate only global L1, whose
        # numbers come without an evaluation (the table's accuracy reads "measuring…" until the server's run fills it)
        slow = preview_cache.progressive(key, base) and (method, scope) != ("l1", "global")
        binding = None if slow else instant.bind(
            "prune_amount", (key, method, scope, int(seed), schedule, int(steps)), amount)
    profile.mark("engine")
    fig = histogram(edges, before, r) if any(include.values()) else shared_histogram(key, amount, edges, before, r)
    profile.mark("figure")
    draw_cards = common.preview_layout(masked_cards(r, acc0), fig, key="prune_preview_hist", tag=instant.tag(binding))
    profile.mark("draw")
    if schedule == "agp":
        common.chart(agp_figure(amount), key="prune_preview_agp", tag=instant.tag(binding))
    if pending is not None:  # the same cards, now with the accuracy; a newer move ends this run at once instead
        evaluated = preview_cache.wait(pending)
        if evaluated is not None:
            draw_cards(masked_cards({**r, **evaluated}, acc0))
        profile.mark("accuracy")
    instant.offer(binding, range(0, 100), lambda a: masked_entry(base, a, edges, before, binding))


def histogram(edges, before, r: dict):
    """The preview's weight histogram: the baseline's weights, those kept, and the threshold(s)."""
    series = {"baseline weights": (before, plots.color_of("baseline")),
              "kept after pruning (zeros not shown)": (r["kept_counts"], plots.color_of(method))}
    thresholds = r["thresholds"]
    if scope == "global" and thresholds:  # one cut for all layers
        thresholds = {"all layers": max(thresholds.values())}
    title = ("Weight histogram and the L1 threshold" if method == "l1" else "Weight histogram: random pruning "
             "removes weights of every size" if method == "random" else f"Weight histogram: {METHODS[method][0]}")
    return plots.weight_histogram(edges, series, thresholds, title)


def shared_histogram(key: str, amount: int, edges, before, r: dict):
    """`histogram`, shared by every session (the setting names it: ui/figure_cache.py)."""
    return figure_cache.shared(("prune", key, method, scope, amount, int(seed)), lambda: histogram(edges, before, r))


def agp_figure(amount: int):
    from compress_core.methods.prune import agp_schedule

    return plots.agp_schedule(agp_schedule(0.0, amount / 100, int(steps)))


def masked_entry(base, amount: int, edges, before, binding) -> dict:
    """What the masked preview draws at `amount` (ui/instant.py's table entry), from the same caches as a move."""
    key = preview_cache.key_of(base)
    r, _ = preview_cache.prune_progressive(key, base, method, scope, amount / 100, int(seed), edges)
    tag = binding.tag_at(amount)
    slot = common.preview_slot("prune_preview_hist")
    charts = {"prune_preview_hist": shared_histogram(key, amount, edges, before, r)}
    if schedule == "agp":
        charts["prune_preview_agp"] = agp_figure(amount)
    return {"slots": {slot: cards.block_html(masked_cards(r, base.info["accuracy"]), slot=slot, tag=tag)},
            "charts": charts}


def masked_cards(r: dict, acc0: float) -> list[tuple]:
    """The masked-pruning preview's cards; the accuracy reads "measuring…" while its evaluation runs."""
    known = r["accuracy"] is not None
    return [
        ("Accuracy, one-shot", fmt.pct(r["accuracy"]) if known else preview_cache.MEASURING,
         fmt.pp(r["accuracy"] - acc0) if known else None,
         f"top-1 test accuracy right after pruning, before fine-tuning; change vs the baseline's {fmt.pct(acc0, 2)}"),
        ("Sparsity", fmt.pct(r["sparsity"]), None, "share of Linear/Conv weights that are zero"),
        ("Non-zero parameters", fmt.count(r["params_nonzero"]), f"of {fmt.count(r['params_total'])}",
         f"compression ratio {fmt.ratio(r['param_compression_ratio'])} (total / non-zero)"),
        ("Sparse size", fmt.size(r["size_sparse_bytes"]), f"dense fp32 {fmt.size(r['size_fp32_bytes'])}",
         "bitmap of non-zeros + their values; the dense fp32 checkpoint does not shrink"),
    ]


def text_head_plan(base, amount: int, acc0: float) -> None:
    """Structured pruning of a transformer: which heads go (and the FFN width left), before fine-tuning."""
    from compress_core.present import plots_text, preview_text

    r = preview_text.head_plan(base.model, base.data.x_test, base.data.y_test, amount / 100, importance)
    kept = [row["ffn_kept"] for row in r["rows"]]
    common.preview_layout([
        ("Accuracy, one-shot", fmt.pct(r["accuracy"]), fmt.pp(r["accuracy"] - acc0),
         f"top-1 test accuracy right after removal, before fine-tuning; change vs the baseline's {fmt.pct(acc0, 2)}"),
        ("Heads removed", str(sum(len(h) for h in r["removed"])),
         f"of {sum(row['heads_before'] for row in r['rows'])}", "per layer, the heads with the smallest norm"),
        ("FFN channels kept", f"{kept[0]}" if len(set(kept)) == 1 else ", ".join(map(str, kept)),
         f"of {r['rows'][0]['ffn_before']} per layer", None),
        ("Parameters kept", fmt.pct(r["params_total"] / max(r["params_before"], 1)),
         f"{fmt.count(r['params_total'])} of {fmt.count(r['params_before'])}", "embeddings are not pruned"),
    ], plots_text.head_plan(r["scores"], r["removed"]), key="prune_preview_heads")


with right:
    # What does not move with the slider is drawn once per page run, outside the fragment (issue 19: a move sends
    # only what changed): the preview's heading above the slider, the baseline's caption below the preview.
    base = common.baseline(spec.baseline_spec(), P)
    if base is not None:
        st.markdown(f"**Instant preview**: one-shot, no fine-tuning, {METHODS[method][0]}")
    preview_panel(base)
    if base is not None and (text_model or not structured):
        st.caption(f"Baseline: {fmt.pct(base.info['accuracy'], 2)} top-1 test accuracy. " + (
            "Heads and FFN channels are removed physically (smaller Q/K/V, output and FFN matrices), so a real "
            "speed-up is possible." if structured else f"{MASKED_NOTE.capitalize()}."))

common.run_button("Run: prune and fine-tune", "prune_run", lambda: build_spec(st.session_state["prune_amount"]), P)


def draw_result(run: dict) -> None:
    m, spec, base = run["metrics"], run["spec"], run.get("baseline") or {}
    masked = spec["method"] != "structured"
    threads = f"median of timed calls after warm-up, {m.get('threads')} CPU threads"
    before = ("Accuracy before fine-tuning", fmt.pct(m["accuracy_before_finetune"]), None,
              "right after one-shot pruning") if "accuracy_before_finetune" in m else \
        ("Accuracy before fine-tuning", "n/a", None, "AGP prunes during fine-tuning: there is no 'before'")
    if masked:
        shrink = [("Compression ratio", fmt.ratio(m["param_compression_ratio"]), None,
                   f"parameters total / non-zero: {fmt.count(m['params_total'])} / {fmt.count(m['params_nonzero'])}"),
                  ("Sparsity (zero weights)", fmt.pct(m["sparsity"]), None,
                   "share of Linear/Conv weights that are zero"),
                  ("Parameters (non-zero)", fmt.count(m["params_nonzero"]), f"of {fmt.count(m['params_total'])}", None)]
    else:  # nothing is zeroed: the tensors themselves are smaller
        shrink = [("Compression ratio", fmt.ratio(base.get("params_total", 0) / max(m["params_total"], 1)), None,
                   "baseline parameters / parameters left after removing channels"),
                  ("Channels removed", fmt.pct(m["channel_ratio"], 0), None, "share of each layer's output channels"),
                  ("Parameters", fmt.count(m["params_total"]), f"of {fmt.count(base.get('params_total'))} in the "
                                                               "baseline", f"parameter ratio {m['param_ratio']:.3f}")]
    common.metric_grid([
        ("Accuracy (top-1, test)", fmt.pct(m["accuracy"]), f"{fmt.pp(m['accuracy_change'])} vs baseline",
         "after fine-tuning; the baseline was measured in the same run"),
        ("Baseline accuracy", fmt.pct(m["baseline_accuracy"]), None, "the dense model this run started from"),
        before, *shrink,
        ("Size: dense fp32 checkpoint", fmt.size(m["size_fp32_bytes"]),
         f"baseline {fmt.size(base.get('size_fp32_bytes'))}", "torch.save of the state dict"),
        *([("Size: sparse encoding", fmt.size(m["size_sparse_bytes"]), None,
            "bitmap of non-zeros + their values (dense where that is smaller)")] if masked else []),
        ("FLOPs per sample, effective", fmt.flops(m["flops_effective"]), f"dense {fmt.flops(m['flops_dense'])}",
         "FlopCounterMode, 2 FLOPs per multiply-add; effective = each layer scaled by its weight density"),
        ("Theoretical speed-up", fmt.ratio(m["theoretical_speedup"]), None, "baseline dense FLOPs / effective FLOPs"),
        ("Latency, batch 1", fmt.ms(m["latency_ms_b1"]), f"{fmt.ratio(m['speedup_b1'])} measured speed-up", threads),
        ("Latency, batch 64", fmt.ms(m["latency_ms_b64"]), f"{fmt.ratio(m['speedup_b64'])} measured speed-up", threads),
    ])
    if masked:
        st.info(f"{MASKED_NOTE}: measured speed-ups near 1× are timing noise. The effective FLOPs and the sparse "
                "encoding show what a sparse kernel or format could gain.", icon="ℹ️")
    color = plots.color_of(plots.method_of("prune", spec))
    left, right_col = st.columns(2)
    with left:
        if masked:
            common.chart(plots.layer_sparsity(run["layers"], color), key="prune_result_layers")
        else:
            common.chart(plots.layer_params(run["layers"]), key="prune_result_layers")
    with right_col:
        histogram = result_histogram(run)
        if histogram is not None:
            common.chart(histogram, key="prune_result_hist")
    left, right_col = st.columns(2)
    with left:
        common.chart(plots.training_curve(run["history"], {"finetune": color}), key="prune_result_curve")
    with right_col:
        points = plots.run_points(common.similar_runs("prune", spec, "finished"))
        common.chart(plots.accuracy_vs_removed(points, m["baseline_accuracy"],
                                               f"Accuracy vs sparsity: all pruning runs of {spec['model']}"),
                     key="prune_result_tradeoff")


def result_histogram(run: dict):
    """Weights before (the cached baseline) and after (the run's saved weights), on shared bins."""
    import os

    import numpy as np

    from compress_core.present import preview
    from compress_core.methods.registry import spec_from_dict

    path = (run.get("artifacts") or {}).get("weights")
    if not path or not os.path.exists(path):
        return None
    base = common.baseline(spec_from_dict(run["spec"]).baseline_spec(), f"{P}_result", train=False)
    if base is None:
        return None
    before = np.concatenate(list(preview.prunable_weights(base.model).values()))
    after = np.concatenate(list(preview.weight_state(common.load_weights(path, os.path.getmtime(path)),
                                                     [r["name"] for r in run["layers"]]).values()))
    edges = preview.histogram_edges(np.concatenate([before, after]))  # fine-tuning may widen the range
    series = {"before (baseline)": (preview.histogram(before, edges), plots.color_of("baseline")),
              "after fine-tuning (zeros not shown)": (preview.histogram(after, edges, skip_zeros=True),
                                                      plots.color_of(run["spec"]["method"]))}
    return plots.weight_histogram(edges, series, None, "Weight histograms before and after")


common.show_run(common.current_run(P, "prune"), P, draw_result)
instant.finish(page_end=True)  # the instant preview's table, once the rest of the page is drawn
