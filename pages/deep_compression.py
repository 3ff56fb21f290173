"""Deep Compression: prune, share weights (k-means), Huffman-code; the size is the length of a file that decodes."""
import pandas as pd
import streamlit as st

from compress_core import fmt
from compress_core.present import storage
from ui import common

common.ensure_navigation()

P = "deepc"

st.title("Deep Compression")
st.caption("Han, Mao & Dally (2016): prune the small weights and retrain, cluster each layer's surviving weights into "
           "2^b shared values (k-means, linear initialisation) and fine-tune those centroids, then Huffman-code the "
           "centroid indices and the relative positions. The size shown is the length of the file written, which "
           "decodes to the model measured.")
common.use_few_threads()

settings, right = st.columns([1, 2], gap="large")
with settings:
    dataset, label_column, model, hidden = common.data_and_model(P)
    amount = st.slider("Share of weights pruned", 0.0, 0.99, 0.9, 0.01, key="deepc_amount")
    c = st.columns(2)
    conv_bits = c[0].slider("Conv bits (2^b centroids)", 1, 8, 8, key="deepc_conv_bits")
    fc_bits = c[1].slider("Fully connected bits", 1, 8, 5, key="deepc_fc_bits")
    c = st.columns(2)
    finetune_epochs = c[0].number_input("Retraining epochs after pruning", 0, 200, 3, key="deepc_finetune_epochs")
    centroid_epochs = c[1].number_input("Centroid fine-tuning epochs", 0, 200, 3, key="deepc_centroid_epochs")
    seed, baseline_epochs = common.seed_and_baseline_epochs(P)


def build_spec():
    from compress_core.methods.deep_compression import DeepCompressionSpec

    return DeepCompressionSpec(model=model, hidden=hidden, dataset=dataset, label_column=label_column,
                               amount=float(amount), conv_bits=int(conv_bits), fc_bits=int(fc_bits),
                               finetune_epochs=int(finetune_epochs), centroid_epochs=int(centroid_epochs),
                               seed=int(seed), baseline_epochs=int(baseline_epochs) or None,
                               **common.source_options(P))


with right:
    st.markdown("**Stages**: 1. magnitude pruning and retraining with the masks fixed; 2. per-layer k-means of the "
                "surviving weights into 2^b centroids, the centroids fine-tuned from the summed gradients of the "
                "weights that share them; 3. Huffman coding of the centroid indices and of the relative positions "
                "(fixed-width relative indices, with padding zeros where a gap is longer).")
    st.caption("The paper: LeNet-300-100 40× and LeNet-5 39× smaller on MNIST with no loss of accuracy (6-bit / "
               "8-bit conv and 5-bit fc codebooks, 5-bit relative indices).")
    common.run_button("Run: deep compression", "deepc_run", build_spec, P)


def draw_result(run: dict) -> None:
    m, base_m = run["metrics"], run.get("baseline") or {}
    common.metric_grid([
        ("Accuracy (top-1, test)", fmt.pct(m["accuracy"]), f"{fmt.pp(m['accuracy_change'])} vs baseline",
         "the model decoded from the encoded file; baseline measured in the same run"),
        ("Baseline accuracy (fp32)", fmt.pct(m["baseline_accuracy"]), None, "the dense model before compression"),
        ("Encoded file", fmt.size(m["size_encoded_bytes"]), f"fp32 {fmt.size(base_m.get('size_fp32_bytes'))}",
         "length of the file written (it decodes to the measured model)"),
        ("Smaller by", fmt.ratio(m["compression_ratio"]), f"gzip of dense fp32: {fmt.size(m.get('size_dense_gzip_bytes'))}",
         "the baseline's fp32 checkpoint / the encoded file's length"),
    ])
    table = storage.stage_table(m, base_m)
    shown = pd.DataFrame({"form": table["form"], "size": [fmt.size(b) for b in table["bytes"]],
                          "smaller by": [fmt.ratio(r) for r in table["compression_ratio"]],
                          "accuracy": [fmt.pct(a, 2) if a is not None else "" for a in table["accuracy"]]})
    st.dataframe(shown, hide_index=True, key="deepc_stages")
    left, right_col = st.columns(2)
    with left:
        common.chart(storage.sizes_figure(m, base_m), key="deepc_sizes")
    with right_col:
        common.chart(storage.breakdown_figure(m), key="deepc_breakdown")
    layers = pd.DataFrame(run.get("layers") or [])
    if not layers.empty:
        st.dataframe(layers, hide_index=True, key="deepc_layers")


common.show_run(common.current_run(P, "deep-compression"), P, draw_result)
