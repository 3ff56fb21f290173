"""The Learn page's section "Compressing attention" (heads, layer dropping, int8 of Linear layers).

Its own module so the rest of the Learn page can change without touching it: `pages/learn.py`
draws `section()` as its last tab (drawn only when open, like every lesson there). Figures and
numbers come from `compress_core.present.teach_attention` (pure functions) on the built-in tinybert
trained on the bundled text set, cached per baseline. The section never trains on its own: until the
small transformer's baseline is cached, it offers a button that trains it here (about 15 s on 2 threads).
"""
from __future__ import annotations

import streamlit as st

from compress_core import fmt
from compress_core.context import RunContext
from compress_core.errors import CompressError
from compress_core.present import plots_text, teach_attention
from ui import access, common

P = "learn_attention"


def _baseline():
    """The cached tinybert baseline, or None with a button that trains it in the page."""
    from compress_core.training.baseline import get_baseline

    spec = teach_attention.ATTENTION_SPEC
    base = common.baseline(spec, P, train=False)
    if base is not None:
        return base
    st.info("This section's figures are computed on the built-in small transformer (tinybert: 2 layers, 4 heads "
            "each) trained on the bundled text set. It is not trained yet in this lab.")
    if not access.can_operate() or not st.button("Train the small transformer for this section (about 15 s)",
                                                 key="learn_attention_train"):
        return None
    bar = st.progress(0.0, text="Training tinybert on text-demo")

    def on_progress(event) -> None:
        if event.total:
            bar.progress(min(1.0, event.step / event.total), text=f"Training tinybert: epoch {event.step} of {event.total}")

    try:
        get_baseline(spec, RunContext.create(home=common.home(), on_progress=on_progress))
    except CompressError as exc:
        common.show_error(exc)
        return None
    bar.empty()
    return common.baseline(spec, P, train=False)


@st.cache_data(show_spinner="Removing heads one at a time…", max_entries=4)
def _ablation(key: str, _base) -> dict:
    return teach_attention.head_ablation(_base.model, _base.data.x_test, _base.data.y_test)


@st.cache_data(show_spinner=False, max_entries=4)
def _curves(key: str, _base) -> tuple:
    x, y = _base.data.x_test, _base.data.y_test
    return (teach_attention.heads_curve(_base.model, x, y), teach_attention.layer_drop(_base.model, x, y),
            teach_attention.int8_linear(_base.model, x, y))


def _try(label: str, page: str, settings: dict, key: str) -> None:
    if st.button(f"Try it on a real run: {label}", key=key, icon=":material/science:"):
        for name, value in settings.items():
            st.session_state[name] = value
        st.switch_page(page)


def section() -> None:
    """Draw the section (a heading, three short lessons with a figure each): the Learn page's last tab."""
    st.subheader("Compressing attention")
    st.caption("Transformer encoders spend their compute in a few Linear layers per block: the query, key, value and "
               "output projections of attention and the two feed-forward layers. Three ways to make them cheaper, "
               "each measured on the built-in tinybert (no fine-tuning here, so the numbers show what the edit itself "
               "costs).")
    base = _baseline()
    if base is None:
        return
    key = base.info["key"]
    acc0 = base.info["accuracy"]
    ablation = _ablation(key, base)
    heads, layers, int8 = _curves(key, base)
    tabs = st.tabs(["Attention heads", "Layer dropping", "int8 of Linear layers"])
    with tabs[0]:
        st.markdown("Each layer splits attention into *h* heads that attend independently; head *i* owns a slice of "
                    "the Q, K, V rows and of the output projection's columns. Removing a head deletes that slice: "
                    "the matrices really shrink, so the model computes less. Heads are far from equally important: "
                    "remove each one alone and see what it costs.")
        st.latex(r"\mathrm{MHA}(x) = \sum_{i \in \text{kept heads}} \mathrm{softmax}\!\left(\tfrac{x W_Q^i (x W_K^i)^\top}"
                 r"{\sqrt{d}}\right) x W_V^i\, W_O^i")
        common.chart(plots_text.head_ablation(ablation["drop"], ablation["norms"]), key="learn_att_ablation")
        common.chart(plots_text.heads_curve(heads), key="learn_att_heads")
        st.caption(f"tinybert's test accuracy with every head: {fmt.pct(acc0, 2)}. A structured run removes the heads "
                   "with the smallest weight norm in every layer, together with feed-forward channels, then fine-tunes.")
        _try("remove half the heads and FFN channels", "pages/prune.py",
             {"prune_dataset": "text-demo", "prune_method": "structured", "prune_amount": 50},
             key="learn_att_try_heads")
    with tabs[1]:
        st.markdown("A shallower model runs fewer blocks one after another, so latency drops about in proportion. "
                    "Cutting layers out of a trained model breaks it (below); DistilBERT's recipe keeps every k-th "
                    "layer as the student's starting point and distils the teacher's outputs into it.")
        common.chart(plots_text.layer_drop(layers), key="learn_att_layers")
        st.caption("Accuracy right after the cut, before any training; the Distill page trains such a student from "
                   "the teacher's soft targets (optionally also its hidden states) beside the same student trained "
                   "from labels alone.")
        _try("a 1-layer student", "pages/distill.py",
             {"distill_dataset": "text-demo", "distill_student_layers": 1}, key="learn_att_try_layers")
    with tabs[2]:
        st.markdown("Dynamic int8 stores every Linear weight as one byte plus a scale, and quantizes activations on "
                    "the fly; integer matrix products then run faster on CPUs. Embeddings and LayerNorms stay fp32.")
        st.latex(r"q = \mathrm{round}(w / s),\quad s = \max|w| / 127,\quad \hat w = s\,q")
        common.metric_grid([
            ("Accuracy, int8 weights", fmt.pct(int8["accuracy_int8"]), fmt.pp(int8["accuracy_int8"] - int8["accuracy_fp32"]),
             "every Linear weight on its per-tensor int8 grid, compute in fp32 (the rounding dynamic int8 stores)"),
            ("Lowest SQNR", f"{min(r['sqnr_db'] for r in int8['rows']):.1f} dB", None,
             "signal-to-noise of the rounded weights, worst Linear layer"),
        ], per_row=2)
        common.chart(plots_text.int8_sizes(int8["rows"], int8["rest_bytes"]), key="learn_att_int8")
        st.caption("Sizes counted, not serialized. The Quantize page's int8 scheme builds the real ONNX Runtime file "
                   "and times it against fp32 in the same runtime.")
        _try("dynamic int8", "pages/quantize.py", {"quantize_dataset": "text-demo", "quantize_scheme": "int8",
                                                  "quantize_granularity": "tensor"}, key="learn_att_try_int8")
