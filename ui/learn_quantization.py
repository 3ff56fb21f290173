"""The Learn page's quantization lesson, second half: zero-points, activation calibration, int8 speed.

Called from `pages/learn.py`'s `quantization_lesson` (below the bits fragment, not inside it). The numbers come
from `compress_core.present.teach_quant` on the lesson model, cached per baseline across
sessions; this module only reads widgets, calls those functions and draws what they return.
"""
from __future__ import annotations

import streamlit as st

from compress_core import fmt
from compress_core.errors import CompressError
from compress_core.present import teach, teach_quant
from ui import common, preview_cache

P = "learn_q"
PERCENTILES = (99.0, 99.9, 99.99)
TENSORS = {"activations": "activations after net.2 (ReLU: never negative)",
           "weights": "weights of net.3 (centred on zero)"}


@st.cache_data(show_spinner=False, max_entries=8, ttl=3600)
def tensor_values(key: str, _base, tensor: str):
    """The values of the lesson's two example tensors: post-ReLU activations on the calibration inputs,
    or a weight matrix."""
    if tensor == "activations":
        return teach_quant.activations(_base.model, "net.2", teach_quant.calibration_inputs(_base.data.x_train))
    return teach.layer_weight(_base.model, "net.3").numpy().ravel()


@st.cache_data(show_spinner=False, max_entries=8, ttl=3600)
def test_activations(key: str, _base, layer: str):
    return teach_quant.activations(_base.model, layer, _base.data.x_test)


@st.cache_data(show_spinner=False, max_entries=128, ttl=3600)
def calibration(key: str, _base, layer: str, bits: int, percentile: float):
    with preview_cache.slot():
        return teach_quant.calibration_table(_base.model, _base.data, layer, bits, percentile)


@st.cache_data(show_spinner="Timing fp32 and int8 in torch and ONNX Runtime…", max_entries=2)
def int8_here(key: str, _base) -> dict:
    """The int8 timings measured on this machine (about half a minute), cached per baseline."""
    found = teach_quant.int8_lesson(_base.model, _base.data.input_shape)
    return {**found, "model": found["model"].to_dict("records"), "widths": found["widths"].to_dict("records")}


def section(base, accuracy0: float) -> None:
    """The three parts, one after the other; each is a fragment of its own, so its controls rerun only that part
    (and a move of the lesson's bits slider above reruns none of them)."""
    key = preview_cache.key_of(base)
    with st.container(key=f"{P}_zero_point"):
        zero_point(base, key)
    st.divider()
    with st.container(key=f"{P}_calibration"):
        calibration_part(base, key, accuracy0)
    st.divider()
    with st.container(key=f"{P}_int8_speed"):
        int8_speed(base, key)


def sse(value: float) -> str:
    """A sum of squared errors as the cards show it: one decimal from 1 up, 3 significant digits below."""
    return f"{value:,.1f}" if value >= 1 else f"{value:.3g}"


# ---------------------------------------------------------------- symmetric vs asymmetric
@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def scheme_table(key: str, _base, tensor: str, bits: int):
    """`teach_quant.compare_schemes` of one example tensor at `bits`, cached per baseline."""
    return teach_quant.compare_schemes(tensor_values(key, _base, tensor), bits)


@st.fragment
def zero_point(base, key: str) -> None:
    st.subheader("Symmetric or asymmetric: the zero-point")
    st.markdown("The grid above is **symmetric**: zero in the middle, as many values below as above. That suits "
                "weights, which are centred on zero. A ReLU's output is never negative, so a symmetric grid wastes "
                "its negative half on it. An **asymmetric** grid maps the range [min, max] onto the integers "
                "0 … 2^k − 1 and remembers which integer stands for 0: the **zero-point** z.")
    st.latex(r"s = \frac{\max - \min}{2^k - 1},\qquad z = \mathrm{round}\!\left(-\frac{\min}{s}\right),\qquad "
             r"q = \mathrm{clamp}\!\left(\mathrm{round}(x / s) + z,\ 0,\ 2^k - 1\right),\qquad \hat x = s\,(q - z)")
    st.caption("The range is first widened to hold 0 (min ≤ 0 ≤ max), so that 0 is exactly on the grid "
               "(padding and ReLU zeros stay exact). Symmetric is the special case z = 0 with "
               "s = max|x| / (2^(k−1) − 1) and q in −(2^(k−1) − 1) … 2^(k−1) − 1.")
    c = st.columns([2, 1, 1])
    tensor = c[0].radio("Tensor", tuple(TENSORS), key=f"{P}a_tensor", format_func=TENSORS.get)
    bits = c[1].slider("Bits k", 2, 8, 4, key=f"{P}a_bits")
    scheme = c[2].radio("Grid", tuple(teach_quant.SCHEMES), key=f"{P}a_scheme",
                        format_func=lambda s: s.capitalize())
    values = tensor_values(key, base, tensor)
    table = scheme_table(key, base, tensor, bits).set_index("scheme")
    row, other = table.loc[scheme], table.loc[[s for s in table.index if s != scheme][0]]
    lo, hi = float(values.min()), float(values.max())
    if scheme == "asymmetric":
        scale_help = (f"(max − min) / (2^{bits} − 1) = ({max(hi, 0):.4g} − ({min(lo, 0):.4g})) / {row.qmax} "
                      f"= {row.scale:.4g}")
        zero_help = f"round(−min / s) = round({-min(lo, 0):.4g} / {row.scale:.4g}): the integer that stands for 0.0"
    else:
        scale_help = f"max|x| / (2^{bits - 1} − 1) = {max(abs(lo), abs(hi)):.4g} / {row.qmax} = {row.scale:.4g}"
        zero_help = "symmetric grids put 0.0 at the integer 0"
    common.metric_grid([
        ("Scale s", f"{row.scale:.4g}", None, scale_help),
        ("Zero-point z", f"{int(row.zero_point)}", None, zero_help),
        ("Integer grid", f"{int(row.qmin)} … {int(row.qmax)}", f"{int(row.codes_used)} of {int(row.grid_size)} used",
         "the integers q the values land on; the values span "
         f"{lo:.3g} … {hi:.3g}"),
        ("Signal-to-noise on this grid", f"{row.sqnr_db:.1f} dB", f"{row.sqnr_db - other.sqnr_db:+.1f} dB vs {other.name}",
         f"10·log10(Σx² / Σ(x − x̂)²) over the {len(values):,} values; MSE {row.mse:.3g} "
         f"({other.name}: {other.mse:.3g})"),
    ], per_row=4)
    common.chart(teach_quant.scheme_figure(values, bits, scheme, TENSORS[tensor]), key=f"{P}a_grid")
    asym, sym = table.loc["asymmetric"], table.loc["symmetric"]
    gain = asym.sqnr_db - sym.sqnr_db
    st.caption(f"On these {len(values):,} values at {bits} bits the symmetric grid uses {int(sym.codes_used)} of its "
               f"{int(sym.grid_size)} integers and the asymmetric one {int(asym.codes_used)} of {int(asym.grid_size)}: "
               f"asymmetric is {abs(gain):.1f} dB {'better' if gain >= 0 else 'worse'} "
               f"(MSE {asym.mse:.3g} against {sym.mse:.3g}). "
               + ("A tensor that is never negative gets twice the resolution from the zero-point."
                  if tensor == "activations" else
                  "On a tensor centred on zero the two grids are close: the zero-point buys little, and symmetric "
                  "grids need no zero-point arithmetic in the integer matmul, which is why weights use them."))


# ---------------------------------------------------------------- calibration
@st.fragment
def calibration_part(base, key: str, accuracy0: float) -> None:
    st.subheader("Activations and calibration: where to clip")
    st.markdown("Weights are known before inference; activations are not. An int8 model needs each activation's "
                "range in advance, so it runs a few hundred training inputs through the model and picks one "
                "(**calibration**). **Min-max** keeps every value seen, but a few large outliers stretch the grid "
                "and every other value is rounded more coarsely. A **percentile** or the **MSE-optimal** clip cuts "
                "the outliers: they get a *clipping* error, everything else a smaller *rounding* error.")
    st.latex(r"\sum_i (x_i - \hat x_i)^2 = \underbrace{\sum_{x_i \text{ beyond the grid}} (x_i - \hat x_i)^2}"
             r"_{\text{clipping}} + \underbrace{\sum_{x_i \text{ inside}} (x_i - \hat x_i)^2}"
             r"_{\text{rounding, each} \,\le\, s^2/4}")
    points = teach_quant.activation_points(base.model)
    c = st.columns(3)
    layer = c[0].selectbox("Activation", points, key=f"{P}c_layer", format_func=lambda n: f"after {n} (ReLU)")
    bits = c[1].slider("Bits for the activations", 2, 8, 4, key=f"{P}c_bits")
    percentile = c[2].select_slider("Percentile", PERCENTILES, 99.9, key=f"{P}c_percentile",
                                    format_func=lambda p: f"{p:g}")
    try:
        table = calibration(key, base, layer, bits, percentile)
    except CompressError as exc:
        common.show_error(exc)
        return
    common.metric_grid([(f"Accuracy, {row.label}", fmt.pct(row.accuracy), fmt.pp(row.accuracy - accuracy0),
                         f"test accuracy with every ReLU output on its {bits}-bit asymmetric grid, range calibrated "
                         f"by {row.label} on {teach_quant.CALIBRATION_SAMPLES} training inputs; weights fp32 "
                         f"(fp32 model: {fmt.pct(accuracy0, 2)})") for row in table.itertuples()], per_row=3)
    common.metric_grid([(f"Error, {row.label}", sse(row.total_sse),
                         f"clipping {sse(row.clip_sse)} + rounding {sse(row.round_sse)}",
                         f"sum of squared errors of the {layer} activations on the test digits; range "
                         f"[{row.lo:.3g}, {row.hi:.3g}], {fmt.pct(row.clipped_share, 2)} of the values clipped")
                        for row in table.itertuples()], per_row=3)
    left, right = st.columns(2)
    with left:
        common.chart(teach_quant.calibration_figure(test_activations(key, base, layer), table, layer),
                     key=f"{P}c_hist")
    with right:
        common.chart(teach_quant.error_split_figure(table), key=f"{P}c_split")
    rows = {r.method: r for r in table.itertuples()}
    best = min(table.itertuples(), key=lambda r: r.total_sse)
    tests = len(base.data.y_test)
    spread = round((table["accuracy"].max() - table["accuracy"].min()) * tests)
    st.caption(f"Measured on this model: at {bits} bits min-max keeps every value (clipping 0) but rounds with step "
               f"{rows['minmax'].scale:.3g}; {best.label} has the least total error here ({sse(best.total_sse)}). "
               "The ranges are fitted on training inputs and graded on the test digits, so a clip can lose on "
               "values it never saw. Fewer bits make coarse rounding costlier and clipping pays more; at 8 bits "
               "the grid is fine enough that min-max is usually as good. This small network tolerates coarse "
               f"activations well: the three accuracies differ by {spread} of {tests} test digits"
               + (" (within noise)" if spread <= 3 else "") + ". Ranges: "
               + "; ".join(f"{r.label} [{r.lo:.3g}, {r.hi:.3g}]" for r in table.itertuples()) + ".")


# ---------------------------------------------------------------- int8 speed
@st.fragment
def int8_speed(base, key: str) -> None:
    st.subheader("Why dynamic int8 can be slower than fp32 on a small model")
    st.markdown("*Dynamic* int8 stores the weights in int8 and quantizes the activations on every call: for each "
                "layer it finds the input's min and max, converts it to int8, multiplies in integers and converts "
                "the result back to float. That work is paid per call and per layer, whatever the layer's size. "
                "LeNet-300-100 does about 50,000 multiply-adds per image, a few microseconds of fp32 compute, so at "
                "batch 1 the conversions cost as much as the saving. Wider layers and bigger batches have more "
                "multiply-adds per conversion, and int8 (a quarter of the memory traffic, 4× more values per "
                "vector instruction) pulls ahead.")
    measured = st.session_state.get(f"{P}i_measured")
    if st.button("Measure on this machine (about half a minute)", key=f"{P}i_measure"):
        try:
            measured = int8_here(key, base)
        except CompressError as exc:
            common.show_error(exc)
            return
        st.session_state[f"{P}i_measured"] = measured
    found = measured or teach_quant.DOC_INT8
    source = (f"measured just now, {found['threads']} thread" if measured else
              f"measured on the lab's 2-core machine, 1 thread, load average {found['load']:g}")
    model, widths = teach_quant.int8_tables(found)
    by = {(r.runtime, r.batch): r for r in model.itertuples()}
    common.metric_grid([(f"{runtime}, batch {batch}", fmt.ratio(r.speedup), f"fp32 {r.fp32_ms:.3f} ms / int8 "
                         f"{r.int8_ms:.3f} ms", f"{teach_quant.RUNTIMES[runtime]}: median of paired, alternated calls "
                         f"after warm-up, fp32 time / int8 time (below 1×: int8 is slower); {source}")
                        for (runtime, batch), r in by.items()], per_row=4)
    left, right = st.columns(2)
    with left:
        common.chart(teach_quant.int8_figure(model, source), key=f"{P}i_model")
    with right:
        common.chart(teach_quant.width_figure(widths, source), key=f"{P}i_widths")
    torch1 = by.get(("torch", 1))
    pays = widths[(widths["speedup"] > 1.05)].groupby(["runtime", "batch"])["width"].min()
    st.caption(f"Both charts: {source}; median of paired, alternated calls after warm-up.")
    st.caption((f"At batch 1 in torch the int8 call takes {torch1.extra_ms * 1000:.0f} µs more than fp32 "
                f"({fmt.ratio(torch1.speedup)} the fp32 speed): that is the per-call quantize/dequantize work. "
                if torch1 is not None else "")
               + "Where int8 is more than 5 % faster in the sweep: "
               + "; ".join(f"{r}, batch {b}: from width {int(w)}" for (r, b), w in pays.items())
               + ". The Quantize page's int8 run measures the deployable ONNX Runtime file against its fp32 file "
                 "on your model.")
