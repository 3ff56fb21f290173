"""Classic: Deep Compression on LeNet-300-100 and LeNet-5 (Han, Mao & Dally 2016, Tables 1-3).

The paper's per-layer pruning rates and bits, run as an ordinary `deep-compression` run; its
rows stage by stage (dense, pruning, + weight sharing, + Huffman) beside ours.
"""
from __future__ import annotations

from typing import Mapping

from compress_core.classics.registry import Classic, register_classic
from compress_core.methods.deep_compression import STAGES, DeepCompressionSpec

DENSE = "dense (reference)"

# Share of weights pruned per layer: the paper's kept shares (Tables 2 and 3), on the lab's layer names.
# Our LeNet-5 (LeCun's 6/16 filters, 120-84 classifier) has one fully connected layer more than the paper's
# Caffe LeNet-5 (20/50 filters, 500 hidden): that middle layer gets the rate of the paper's last one.
LAYER_AMOUNTS = {
    "lenet300": {"net.1": 0.92, "net.3": 0.91, "net.5": 0.74},
    "lenet5": {"features.0": 0.34, "features.3": 0.88, "classifier.1": 0.92, "classifier.3": 0.81,
               "classifier.5": 0.81},
}
# Codebook bits and relative-index widths (Tables 2 and 3): LeNet-300-100 6-bit, LeNet-5 8-bit conv / 5-bit fc;
# 5-bit relative indices in every layer of both.
BITS = {"lenet300": {"conv_bits": 8, "fc_bits": 6}, "lenet5": {"conv_bits": 8, "fc_bits": 5}}
INDEX_BITS = {"conv_index_bits": 5, "fc_index_bits": 5}

# (compression, top-1 error %) per stage. Compression: Deep Compression Tables 2 and 3 (pruning 12x,
# + quantization 32x / 33x, + Huffman 40x / 39x); errors: Table 1 (dense and final) and Han et al. 2015
# ("Learning both weights and connections", Table 1) for the pruned network; none is reported after
# weight sharing alone.
PAPER = {
    "lenet300": [(DENSE, 1.0, 1.64), (STAGES[0], 12.0, 1.59), (STAGES[1], 32.0, None), (STAGES[2], 40.0, 1.58)],
    "lenet5": [(DENSE, 1.0, 0.80), (STAGES[0], 12.0, 0.77), (STAGES[1], 33.0, None), (STAGES[2], 39.0, 0.74)],
}


def make_spec(model: str | None = None, dataset: str | None = None, seed: int = 0,
              quick: bool = False) -> DeepCompressionSpec:
    """The paper's rates and bits on `model`; epochs scaled to a CPU (digits: a few minutes; `quick`: seconds)."""
    model = model or "lenet300"
    dataset = dataset or "digits"
    if quick:
        epochs = {"baseline_epochs": 2, "finetune_epochs": 1, "centroid_epochs": 1}
    elif dataset == "digits":
        epochs = {"finetune_epochs": 10, "centroid_epochs": 5}
    else:
        epochs = {"finetune_epochs": 5, "centroid_epochs": 3}
    return DeepCompressionSpec(model=model, dataset=dataset, seed=seed, layer_amounts=dict(LAYER_AMOUNTS[model]),
                               **BITS[model], **INDEX_BITS, **epochs)


def paper_rows(model: str) -> list[dict]:
    return [{"stage": stage, "compression": ratio, "error_pct": error} for stage, ratio, error in PAPER[model]]


def our_rows(result: Mapping) -> list[dict]:
    """Dense, then every stage of a finished run: compression against the baseline's fp32 checkpoint, error in %."""
    metrics = result.get("metrics") or {}
    rows = [{"stage": DENSE, "compression": 1.0, "error_pct": 100 * (1 - metrics["baseline_accuracy"])}]
    for stage in metrics.get("stages") or []:
        rows.append({"stage": stage["stage"], "compression": stage["compression_ratio"],
                     "error_pct": 100 * (1 - stage["accuracy"])})
    return rows


register_classic(Classic(
    name="deep-compression",
    label="Deep Compression (Han et al. 2016)",
    citation="Han, Mao & Dally, Deep Compression: Compressing Deep Neural Networks with Pruning, Trained "
             "Quantization and Huffman Coding, ICLR 2016, Tables 1-3 (pruned errors: Han et al., NIPS 2015, Table 1)",
    make_spec=make_spec, paper_rows=paper_rows, our_rows=our_rows,
    differs="The paper trains on MNIST (28x28, 60,000 images) for many epochs; offline we use scikit-learn's digits "
            "(8x8, 1,347 training images) and a few epochs, so LeNet-300-100's first layer has 64 inputs instead of "
            "784 and fp32 biases and the file header weigh far more in a much smaller model. Our LeNet-5 is LeCun's "
            "(6/16 filters, 120-84 classifier), not Caffe's (20/50 filters, 500 hidden), and our ratios divide the "
            "fp32 torch.save checkpoint by the length of a file that decodes, header and biases included.",
    default_model="lenet300", models=("lenet300", "lenet5"), default_dataset="digits", order=10))
