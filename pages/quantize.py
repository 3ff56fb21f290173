"""Quantize: see a layer's weights on the k-bit grid at once, then measure fake k-bit and real int8 models."""
import pandas as pd
import streamlit as st

from compress_core import fmt
from compress_core.present import plots
from ui import access, cards, common, figure_cache, instant, preview_cache, profile
from ui.device import device_select

common.ensure_navigation()

P = "quantize"
SCHEMES = ("fake", "int8", "bf16", "fp16")
HALF = ("bf16", "fp16")
# The preview a visit starts with (the warm-up computes the same one ahead: ui/preview_cache.QUANTIZE_FIRST).
FIRST_BITS, FIRST_GRANULARITY, FIRST_CHANNEL = preview_cache.QUANTIZE_FIRST
GRANULARITIES = (FIRST_GRANULARITY, *(g for g in ("channel", "tensor") if g != FIRST_GRANULARITY))
SCHEME_CAPTIONS = ["simulated 2–8-bit weights, fp32 compute: the accuracy cost of k bits",
                   "a real int8 .onnx (ONNX Runtime, CPU): the deployable file, its size and latency",
                   "the model stored and run in bfloat16: half the bytes; faster only where the CPU has bf16 kernels",
                   "the model stored and run in float16: half the bytes; fast on GPUs, rarely on CPUs"]

def follow_scheme_default() -> None:
    """Switching scheme picks that scheme's default granularity (the engine's: per-tensor for int8,
    whose per-channel scales cost 16 bytes a channel in torch's format; per-channel for fake k-bit)."""
    st.session_state["quantize_granularity"] = "tensor" if st.session_state["quantize_scheme"] == "int8" else "channel"


st.title("Quantize")
st.caption("Round every weight to a symmetric grid of 2^k − 1 values (one scale per tensor or per output channel). "
           "Fake quantization measures what k bits cost in accuracy; int8 builds a real int8 model and times it.")
common.use_few_threads()

settings, right = st.columns([1, 2], gap="large")
with settings:
    dataset, label_column, model, hidden = common.data_and_model(P)
    scheme = st.radio("Scheme", SCHEMES, key="quantize_scheme", captions=SCHEME_CAPTIONS,
                      on_change=follow_scheme_default)
    granularity = st.radio("Granularity", GRANULARITIES, key="quantize_granularity", horizontal=True,
                           captions=["one scale per output channel", "one scale per tensor"],
                           disabled=scheme in HALF, help="bf16/fp16 are float formats: no grid, no scales")
    seed, baseline_epochs = common.seed_and_baseline_epochs(P)
    device = device_select(P)  # auto | cpu | cuda:N, with each GPU's name and free memory


def build_spec(bits: int):
    from compress_core.methods.quantize import QuantizeSpec

    return QuantizeSpec(model=model, hidden=hidden, dataset=dataset, label_column=label_column, scheme=scheme,
                        bits=16 if scheme in HALF else 8 if scheme == "int8" else int(bits),
                        granularity="tensor" if scheme in HALF else granularity, seed=int(seed),
                        baseline_epochs=int(baseline_epochs) or None, **common.source_options(P), **device)


spec = common.spec_or_stop(lambda: build_spec(st.session_state.get("quantize_bits", FIRST_BITS)))


@st.fragment
@instant.builds_after
@profile.timed("quantize")
def preview_panel(base) -> None:
    """Bits slider, layer choice, and that layer's weights on the k-bit grid with the error it causes."""
    from compress_core.models.zoo import prunable_layers

    bits = st.slider("Bits per weight", 2, 8, FIRST_BITS, key="quantize_bits", disabled=scheme != "fake",
                     help="int8 always stores 8 bits, bf16/fp16 16; the slider sets the bits of fake quantization")
    bits = 8 if scheme == "int8" else bits
    if base is None:
        return
    if scheme in HALF:
        st.info(f"{scheme}: every weight keeps its float format with fewer mantissa bits (bf16: 8 exponent, 7 "
                "mantissa; fp16: 5 exponent, 10 mantissa), so there is no grid to preview. Run it to measure its "
                "accuracy, size and latency against fp32, or time all precisions below.", icon="ℹ️")
        return
    layers = [name for name, _ in prunable_layers(base.model)]
    c = st.columns(2)
    layer = c[0].selectbox("Layer shown", layers, key="quantize_layer")
    channel = 0
    if granularity == "channel":
        channels = dict(prunable_layers(base.model))[layer].weight.shape[0]
        channel = c[1].number_input(f"Output channel (0–{channels - 1}; each has its own grid)", 0, channels - 1,
                                    FIRST_CHANNEL, key="quantize_channel")
    profile.mark("widgets")
    key = preview_cache.key_of(base)
    # cached; a slow model's accuracy (pending) arrives after its other numbers
    r, pending = preview_cache.quantize_progressive(key, base, layer, bits, granularity, int(channel))
    profile.mark("engine")
    acc0 = base.info["accuracy"]
    # every bit width drawn ahead in the browser (ui/instant.py); for a model slow to evaluate the table's accuracy
    # reads "measuring…" until the server's run fills it in (its other numbers need no evaluation)
    binding = None if scheme != "fake" else instant.bind("quantize_bits", (key, layer, granularity, int(channel)), bits)
    tag = instant.tag(binding)
    cards.line("Instant preview", heading(bits), slot=LINE, tag=tag)
    fig = grid_figure(key, r, layer, bits, int(channel))
    profile.mark("figure")
    draw_cards = common.preview_layout(grid_cards(r, acc0, bits, layer), fig, key="quantize_preview_grid", tag=tag)
    profile.mark("draw")
    if pending is not None:  # the same cards, now with the accuracy; a newer move ends this run at once instead
        evaluated = preview_cache.wait(pending)
        if evaluated is not None:
            draw_cards(grid_cards({**r, **evaluated}, acc0, bits, layer))
        profile.mark("accuracy")
    instant.offer(binding, range(2, 9), lambda b: grid_entry(base, key, layer, b, int(channel), binding))


LINE = "quantize_preview_line"  # the instant preview's heading line (its slot)


def heading(bits: int) -> str:
    return f"every weight fake-quantized to {bits} bits, one scale per {granularity}"


def grid_figure(key: str, r: dict, layer: str, bits: int, channel: int):
    """The layer's weights on the k-bit grid, shared by every session (the setting names it)."""
    title = f"{layer}" + (f", channel {r['channel']}" if r["channel"] is not None else "") + \
        f": {bits}-bit grid ({len(r['levels'])} values)"
    return figure_cache.shared(("quantize", key, layer, bits, granularity, channel),
                               lambda: plots.quantization_grid(r["edges"], r["counts"], r["levels"], bits, layer, title))


def grid_entry(base, key: str, layer: str, bits: int, channel: int, binding) -> dict:
    """What the preview draws at `bits` (ui/instant.py's table entry), from the same caches as a move."""
    r, _ = preview_cache.quantize_progressive(key, base, layer, bits, granularity, channel)
    tag = binding.tag_at(bits)
    slot = common.preview_slot("quantize_preview_grid")
    return {"slots": {LINE: cards.line_html("Instant preview", heading(bits), LINE, tag),
                      slot: cards.block_html(grid_cards(r, base.info["accuracy"], bits, layer), slot=slot, tag=tag)},
            "charts": {"quantize_preview_grid": grid_figure(key, r, layer, bits, channel)}}


def grid_cards(r: dict, acc0: float, bits: int, layer: str) -> list[tuple]:
    """The fake-quantization preview's cards; the accuracy reads "measuring…" while its evaluation runs."""
    known = r["accuracy"] is not None
    return [
        (f"Accuracy at {bits} bits", fmt.pct(r["accuracy"]) if known else preview_cache.MEASURING,
         fmt.pp(r["accuracy"] - acc0) if known else None,
         f"top-1 test accuracy with every weight rounded (compute in fp32); change vs the fp32 baseline's "
         f"{fmt.pct(acc0, 2)}"),
        ("Signal-to-noise", f"{r['error']['sqnr_db']:.1f} dB", layer,
         "SQNR = 10·log10(Σw² / Σ(w − q(w))²) over the whole layer"),
        ("Largest error", f"{r['shown_error']['max_abs']:.2g}", f"grid step {r['grid_step']:.2g}",
         "max |w − q(w)| over the weights drawn below (one grid): at most half a grid step"),
        ("Packed size", fmt.size(r["size_packed_bytes"]), f"fp32 {fmt.size(r['size_fp32_bytes'])}",
         f"counted, not serialized: {bits} bits per weight, fp32 scales and biases"),
    ]


def int8_sizes_panel(model) -> None:
    """Transformers: what int8 weights save in each Linear layer (attention, FFN, pooler, head)."""
    from compress_core.present import plots_text, preview_text

    rows = preview_text.int8_layer_sizes(model, granularity)
    rest = preview_text.fp32_rest_bytes(model)
    fp32, int8 = sum(r["fp32_bytes"] for r in rows), sum(r["int8_bytes"] for r in rows)
    common.chart(plots_text.int8_sizes(rows, rest), key="quantize_preview_int8_layers")
    st.caption(f"Linear layers: {fmt.size(fp32)} in fp32, {fmt.size(int8)} with int8 weights (one byte each plus fp32 "
               f"scales per {granularity} and biases; counted, not serialized). Embeddings and LayerNorms "
               f"({fmt.size(rest)}) stay fp32 in dynamic int8; the int8 run measures the real .onnx file.")


with right:
    base = common.baseline(spec.baseline_spec(), P)
    preview_panel(base)
    if base is not None and scheme not in HALF:  # does not move with the bits: outside the fragment (issue 19)
        st.caption(f"Baseline: {fmt.pct(base.info['accuracy'], 2)} top-1 test accuracy (fp32). Fake quantization: "
                   "weights on the grid, compute still fp32, so no speed-up; the int8 scheme measures real size and "
                   "latency.")
    if base is not None and scheme not in HALF and getattr(base.model, "is_text_model", False):
        int8_sizes_panel(base.model)  # bits do not change it: outside the fragment, not redrawn per slider move

c = st.columns([1, 2])
common.run_button("Run: quantize and measure", "quantize_run",
                  lambda: build_spec(st.session_state.get("quantize_bits", FIRST_BITS)), P, where=c[0])
if c[1].button("Sweep 2–8 bits (fake, this granularity) for the accuracy-vs-bits curve", key="quantize_sweep",
               disabled=not access.can_operate()):
    done = {(r["spec"]["bits"], r["spec"]["granularity"]) for r in common.similar_runs("quantize", spec.to_dict())
            if r["spec"]["scheme"] == "fake" and r["status"] in ("queued", "running", "finished")}
    for bits in range(2, 9):
        if (bits, granularity) not in done:
            common.submit(build_spec(bits).replace(scheme="fake", bits=bits), P)


@st.fragment
def precision_panel() -> None:
    """fp32, bf16, fp16 and int8 of the chosen model timed side by side on this machine, on demand."""
    from compress_core.measure.speed import model_speed
    from compress_core.present import speed as speed_present

    with st.expander("Which precision is fastest on this machine? fp32 · bf16 · fp16 · int8 side by side"):
        st.caption("The chosen architecture (its weights do not change the speed) timed in torch eager fp32, bf16 "
                   "and fp16, and in ONNX Runtime fp32 and int8, at batch 1 and 64 with calls alternated. The gain "
                   "depends on the processor: bf16 needs AMX or AVX-512 BF16, fp16 AMX-FP16 or AVX-512 FP16.")
        if st.button("Time the precisions (a few seconds)", key="quantize_precisions"):
            try:
                st.session_state["quantize_precision_result"] = model_speed(
                    model, dataset, hidden, home=common.home(), batches=(1, 64), repeats=10, break_even_batch=None)
            except Exception as exc:  # a model the zoo cannot build here: one line
                common.show_error(exc)
        result = st.session_state.get("quantize_precision_result")
        if result and result.get("model") == model:
            st.caption(speed_present.cpu_line((result.get("environment") or {}).get("cpu")))
            for v in speed_present.verdicts(result):
                st.markdown(f"**{v['form']}** (against {v['against']}): {v['verdict']}")
            common.chart(speed_present.latency_figure(result, title="Latency vs batch size, per precision"),
                         key="quantize_precision_figure")


def draw_result(run: dict) -> None:
    m, spec_d, base_m = run["metrics"], run["spec"], run.get("baseline") or {}
    real = spec_d["scheme"] == "int8"
    half = spec_d["scheme"] in HALF
    size_help = ("the int8 .onnx file's bytes, against the fp32 .onnx file" if real else
                 f"torch.save of the {spec_d['scheme']} state dict" if half else
                 f"packed {spec_d['bits']}-bit estimate: counted, not serialized")
    common.metric_grid([
        ("Accuracy (top-1, test)", fmt.pct(m["accuracy"]), f"{fmt.pp(m['accuracy_change'])} vs baseline",
         f"{'int8' if real else spec_d['scheme'] if half else str(spec_d['bits']) + '-bit fake-quantized'} model; "
         "baseline measured in the same run"),
        ("Baseline accuracy (fp32)", fmt.pct(m["baseline_accuracy"]), None, "the model before quantization"),
        ("Size quantized", fmt.size(m["size_bytes"]),
         f"fp32 {fmt.size(m.get('size_fp32_onnx_bytes') or base_m.get('size_fp32_bytes'))}",
         size_help),
        ("Smaller by", fmt.ratio(m["compression_ratio"]), None, "fp32 checkpoint size / quantized size"),
        ("Latency, batch 1", fmt.ms(m["latency_ms_b1"]), f"fp32 {fmt.ms(base_m.get('latency_ms_b1'))}",
         f"median of timed calls after warm-up, {m.get('threads')} CPU threads"),
        ("Latency, batch 64", fmt.ms(m["latency_ms_b64"]), f"fp32 {fmt.ms(base_m.get('latency_ms_b64'))}",
         f"median of timed calls after warm-up, {m.get('threads')} CPU threads"),
        ("Speed-up, batch 1", fmt.ratio(m["speedup_b1"]), None, "measured: fp32 latency / quantized latency"),
        ("Speed-up, batch 64", fmt.ratio(m["speedup_b64"]), None, "measured: fp32 latency / quantized latency"),
    ])
    if real and m.get("runtime"):
        st.caption(f"Latency and speed-ups: the int8 file against the fp32 model in the same runtime ({m['runtime']}). "
                   f"Changing runtime alone (ONNX Runtime fp32 over torch eager fp32): "
                   f"{fmt.ratio(m.get('runtime_gain_b1'))} at batch 1, {fmt.ratio(m.get('runtime_gain_b64'))} at batch 64.")
    if half:
        accelerated = m.get("half_accelerated")
        st.info(f"{spec_d['scheme']}: the model is stored and computed in 16 bits. This processor "
                f"{'has' if accelerated else 'has NO'} native {spec_d['scheme']} matrix kernels"
                f"{'' if accelerated else ', so a slow-down is expected'}; the latencies above are measured, not "
                "assumed.", icon="ℹ️")
    elif not real:
        st.info("Fake quantization still stores and computes dense fp32: latency is unchanged (speed-ups near 1× are "
                "timing noise); only the accuracy and the packed size reflect the bits.", icon="ℹ️")
    left, right_col = st.columns(2)
    with left:
        rows = [{"bits": r["metrics"].get("bits"), "accuracy": r["metrics"]["accuracy"],
                 "label": f"{r['spec']['scheme']}, per {r['spec']['granularity']}"}
                for r in common.similar_runs("quantize", spec_d, "finished")]
        common.chart(plots.accuracy_vs_bits(pd.DataFrame(rows), m["baseline_accuracy"],
                                            f"Accuracy vs bits: quantize runs of {spec_d['model']} on "
                                            f"{spec_d['dataset']}"), key="quantize_result_bits")
    with right_col:
        names = ["fp32 baseline", f"{'int8' if real else spec_d['scheme'] if half else str(spec_d['bits']) + '-bit packed'}"]
        colors = [plots.color_of("baseline"), plots.color_of("quantize")]
        sizes = [base_m.get("size_fp32_bytes"), m["size_bytes"]]
        common.chart(plots.bars(names, [s / 1000 for s in sizes], colors, "Size: quantized vs fp32", "size (kB)",
                                [fmt.size(s) for s in sizes]), key="quantize_result_size")
    left, right_col = st.columns(2)
    for col, batch in ((left, "b1"), (right_col, "b64")):
        latency = [base_m.get(f"latency_ms_{batch}"), m[f"latency_ms_{batch}"]]
        with col:
            common.chart(plots.bars(names, latency, colors, f"Latency at batch {batch[1:]}: quantized vs fp32 (CPU)",
                                    "milliseconds per call", [fmt.ms(v) for v in latency]),
                         key=f"quantize_result_latency_{batch}")


precision_panel()
common.show_run(common.current_run(P, "quantize"), P, draw_result)
instant.finish(page_end=True)  # the instant preview's table, once the rest of the page is drawn
