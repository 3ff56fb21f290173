"""Deep Compression (Han, Mao & Dally 2016) as one run kind: prune -> weight sharing -> Huffman coding.

1. **Pruning**: the lab's one pruning procedure (`prune.prune_and_finetune`: magnitude or any
   criterion, global, per layer or per-layer amounts), fine-tuned with the masks fixed.
2. **Trained quantization by weight sharing** (`weight_sharing`): per-layer k-means of the
   surviving weights into 2^b centroids (b per layer kind: `conv_bits`, `fc_bits`), linear
   initialisation, then centroid fine-tuning from grouped gradients; pruned weights stay zero.
3. **Huffman coding** (`measure.storage_codec`): centroid indices and relative positions
   Huffman coded, with codebooks, tables, biases and a header, in one file.

Every stage's size is the length of a real file that decodes to that stage's weights (the
pruning stage: fp32 values and packed relative indices; weight sharing: packed centroid indices;
Huffman: the final file). The final model is the one decoded from the final file, so its
accuracy, size and `compression_ratio` (baseline fp32 checkpoint / file length) all describe the
file. Deep Compression gains nothing at run time on a dense kernel: latency is measured and
shown as it is.
"""
from __future__ import annotations

import copy
import gzip
import io
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.measure.assess import assess_against
from compress_core.measure.metrics import clean_state_dict
from compress_core.measure.storage_codec import PARTS, decode, encode
from compress_core.methods.criteria import CRITERIA
from compress_core.methods.prune import MASK_NOTE, make_permanent, prune_and_finetune
from compress_core.methods.labels import describe_deep_compression
from compress_core.methods.registry import Method, SweepParam, register_method
from compress_core.methods.weight_sharing import (MAX_BITS, MIN_BITS, check_bits, codebooks, finetune_centroids,
                                                  is_conv, share_weights)
from compress_core.models.zoo import prunable_layers
from compress_core.options import add_common, base_fields, integer, layer_amounts, ratio
from compress_core.progress import emit
from compress_core.results import RunResult
from compress_core.specs import BaseSpec, PruneSpec, check_choice, check_range
from compress_core.training.baseline import finetune_config, get_baseline
from compress_core.training.loop import evaluate

KIND = "deep-compression"
SCOPES = ("global", "layer")
FILE_NAME = "model.cldc"
STAGES = ("pruning", "+ weight sharing", "+ Huffman")
MIN_INDEX_BITS, MAX_INDEX_BITS = 1, 8


@dataclass(frozen=True)
class DeepCompressionSpec(BaseSpec):
    """Prune the cached baseline, share weights per layer (k-means, trained centroids), Huffman-code the result."""

    KIND: ClassVar[str] = KIND
    amount: float = 0.9  # share of prunable weights removed (ignored per layer when layer_amounts is given)
    method: str = "l1"  # pruning criterion (l1 magnitude as in the paper, random control, wanda, ...)
    scope: str = "global"  # global: one threshold for all layers; layer: the same share from each layer
    layer_amounts: Optional[dict] = None  # layer name -> share removed (the paper's per-layer rates)
    finetune_epochs: int = 3  # retraining after pruning, masks fixed
    finetune_lr: Optional[float] = None  # None: the lab's fine-tuning default for the data set
    conv_bits: int = 8  # codebook bits of convolutions (2^b centroids); the paper: 8 on AlexNet and LeNet-5
    fc_bits: int = 5  # codebook bits of fully connected layers; the paper: 5 on AlexNet, 6 on LeNet-300-100
    centroid_epochs: int = 3  # fine-tuning of the shared centroids
    centroid_lr: Optional[float] = None  # None: a tenth of the pruning fine-tune's learning rate
    conv_index_bits: int = 8  # width of a relative index in convolutions (the paper: 8)
    fc_index_bits: int = 5  # width of a relative index in fully connected layers (the paper: 5)
    baseline_epochs: Optional[int] = None  # None: the data set's default (same baseline as prune runs)

    def __post_init__(self):
        super().__post_init__()
        check_choice("method", self.method, CRITERIA.names())
        check_choice("scope", self.scope, SCOPES)
        check_range("amount", self.amount, 0, 1, high_open=True)
        check_bits("conv_bits", self.conv_bits)
        check_bits("fc_bits", self.fc_bits)
        check_range("conv_index_bits", self.conv_index_bits, MIN_INDEX_BITS, MAX_INDEX_BITS, integer=True)
        check_range("fc_index_bits", self.fc_index_bits, MIN_INDEX_BITS, MAX_INDEX_BITS, integer=True)
        check_range("finetune_epochs", self.finetune_epochs, 0, 10_000, integer=True)
        check_range("centroid_epochs", self.centroid_epochs, 0, 10_000, integer=True)
        for name in ("finetune_lr", "centroid_lr"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), 0, 10, low_open=True)
        if self.baseline_epochs is not None:
            check_range("baseline_epochs", self.baseline_epochs, 1, 10_000, integer=True)
        if self.layer_amounts is not None:
            self.prune_spec()  # the prune spec's checks of the per-layer amounts, with its one-line errors

    baseline_spec = PruneSpec.baseline_spec

    def prune_spec(self) -> PruneSpec:
        """The pruning stage as a prune spec (one-shot, masked)."""
        return PruneSpec(model=self.model, dataset=self.dataset, hidden=self.hidden, seed=self.seed,
                         label_column=self.label_column, lr=self.lr, batch_size=self.batch_size,
                         method=self.method, scope=self.scope, amount=self.amount, layer_amounts=self.layer_amounts,
                         finetune_epochs=self.finetune_epochs, finetune_lr=self.finetune_lr,
                         baseline_epochs=self.baseline_epochs, text_column=self.text_column,
                         max_length=self.max_length, weights=self.weights, normalize=self.normalize,
                         resize=self.resize)


def index_bits(model: nn.Module, conv_bits: int, fc_bits: int) -> dict[str, int]:
    """{state-dict key of every prunable weight: its relative-index width} by layer kind."""
    return {(f"{name}.weight" if name else "weight"): conv_bits if is_conv(m) else fc_bits
            for name, m in prunable_layers(model)}


def _weights_state(model: nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in clean_state_dict(model).items()}


def dense_gzip_size(model: nn.Module) -> int:
    """Bytes of gzip (level 9) of the model's dense fp32 checkpoint (`torch.save`): a general-purpose reference."""
    buffer = io.BytesIO()
    torch.save(_weights_state(model), buffer)
    return len(gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0))


def _stage(name: str, size: int, accuracy: float, base_size: float) -> dict:
    return {"stage": name, "bytes": size, "compression_ratio": base_size / max(size, 1), "accuracy": accuracy}


def run_deep_compression(spec: DeepCompressionSpec, ctx) -> RunResult:
    """Prune, share weights, Huffman-code; the final model is decoded from the file it is measured by."""
    base = get_baseline(spec.baseline_spec(), ctx)
    data = base.data
    if not prunable_layers(base.model):
        raise CompressError(f"model {spec.model!r} has no prunable layer (Linear or Conv2d): deep compression "
                            "prunes and shares the weights of those layers")
    model = copy.deepcopy(base.model)
    widths = index_bits(model, spec.conv_index_bits, spec.fc_index_bits)

    # 1. pruning (masks fixed while fine-tuning), then folded in
    config = finetune_config(spec.finetune_epochs, spec.finetune_lr, data, base.spec.batch_size, spec.seed)
    history, extra, notes = prune_and_finetune(model, spec.prune_spec(), data, config, ctx)
    make_permanent(model)
    accuracy_pruned, _ = evaluate(model, data.x_test, data.y_test, ctx.device)
    pruned_file = encode(_weights_state(model), widths, huffman=False)

    # 2. weight sharing: k-means with linear initialisation, then centroid fine-tuning
    emit(ctx.on_progress, "cluster", 0, 1, f"k-means: {spec.conv_bits}-bit conv, {spec.fc_bits}-bit fc codebooks")
    layers = share_weights(model, spec.conv_bits, spec.fc_bits, spec.seed)
    accuracy_clustered, _ = evaluate(model, data.x_test, data.y_test, ctx.device)
    centroid_lr = spec.centroid_lr if spec.centroid_lr is not None else config.lr / 10
    centroid_config = finetune_config(spec.centroid_epochs, centroid_lr, data, base.spec.batch_size, spec.seed)
    history += finetune_centroids(model, layers, data, centroid_config, on_progress=ctx.on_progress,
                                  device=ctx.device) if spec.centroid_epochs else []
    accuracy_shared, _ = evaluate(model, data.x_test, data.y_test, ctx.device)
    books = codebooks(layers)
    shared_file = encode(_weights_state(model), widths, books, huffman=False)

    # 3. Huffman coding; the measured model is the file decoded
    emit(ctx.on_progress, "huffman", 0, 1, "Huffman coding indices and relative positions")
    final_file = encode(_weights_state(model), widths, books, huffman=True)
    final = copy.deepcopy(base.model).cpu()
    final.load_state_dict(decode(final_file.data))
    encoded = _weights_state(model)
    if any(not torch.equal(v, encoded[k]) for k, v in clean_state_dict(final).items()):
        raise RuntimeError("the storage file did not decode to the weights it encoded")  # an engine bug, never input
    final.to(ctx.device)  # measured where the baseline is

    emit(ctx.on_progress, "measure", 0, 1, "measuring the decoded model against the baseline")
    metrics, base_metrics, rows = assess_against(final, base.model, data, ctx)
    base_size = base_metrics["size_fp32_bytes"]
    by_key = {layer.key: layer for layer in layers}
    for row in rows:
        layer = by_key.get(f"{row['name']}.weight")
        if layer is not None:
            row.update(bits=layer.bits, centroids=int(len(layer.codebook)), index_bits=widths[layer.key],
                       encoded_bytes=final_file.per_tensor[layer.key])
    metrics.update(extra)
    metrics.update(
        size_encoded_bytes=len(final_file),
        **{f"storage_{part}_bytes": final_file.breakdown[part] for part in PARTS},
        size_dense_gzip_bytes=dense_gzip_size(final),
        size_pruned_encoded_bytes=len(pruned_file), size_shared_encoded_bytes=len(shared_file),
        accuracy_pruned=accuracy_pruned, accuracy_clustered=accuracy_clustered, accuracy_shared=accuracy_shared,
        conv_bits=spec.conv_bits, fc_bits=spec.fc_bits,
        stages=[_stage(STAGES[0], len(pruned_file), accuracy_pruned, base_size),
                _stage(STAGES[1], len(shared_file), accuracy_shared, base_size),
                _stage(STAGES[2], len(final_file), metrics["accuracy"], base_size)])
    artifacts = {}
    if ctx.artifacts_dir is not None:
        from compress_core.runs.artifacts import write_bytes

        artifacts = ctx.save_weights(final)
        artifacts["encoded"] = str(write_bytes(ctx.artifacts_dir / FILE_NAME, final_file.data))
    notes = [n for n in notes if n != MASK_NOTE] + [
        "size_encoded_bytes is the length of the Huffman-coded file (artifact 'encoded'), which decodes to the "
        "measured model; compression_ratio = the baseline's fp32 checkpoint / that length",
        "each stage's bytes are the length of a file that decodes to that stage's weights: pruning stores fp32 "
        "values and packed relative indices; weight sharing packed centroid indices (a layer that needs padding "
        "zeros spends one more bit per value on the padding symbol); Huffman codes both",
        "the model computes with dense fp32 weights (decoded from the file), so latency is unchanged; Deep "
        "Compression saves storage and memory traffic, not multiplies on a dense kernel"]
    return RunResult(id="", kind=KIND, status="finished", spec=spec.to_dict(), metrics=metrics, layers=rows,
                     history=base.info["history"] + history, baseline=base_metrics, artifacts=artifacts, notes=notes)


def load_encoded(path) -> dict[str, torch.Tensor]:
    """The state dict stored in a run's encoded file (artifact 'encoded')."""
    from pathlib import Path

    return decode(Path(path).read_bytes())


# --- command line -------------------------------------------------------------------------

def _args(p) -> None:
    add_common(p)
    p.add_argument("--amount", type=ratio, default=0.9, help="share of weights pruned, in [0, 1) (default: 0.9)")
    p.add_argument("--method", default="l1", help=f"pruning criterion: {', '.join(CRITERIA.names())} (default: l1)")
    p.add_argument("--scope", default="global", help="global or layer (default: global)")
    p.add_argument("--layer-amounts", type=layer_amounts,
                   help="per-layer shares pruned, e.g. net.1=0.92,net.3=0.91,net.5=0.74 (replaces --amount)")
    p.add_argument("--finetune-epochs", type=integer, default=3, help="fine-tuning epochs after pruning (default: 3)")
    p.add_argument("--finetune-lr", type=ratio, help="fine-tuning learning rate after pruning (default: the lab's)")
    p.add_argument("--conv-bits", type=integer, default=8,
                   help=f"codebook bits of conv layers, {MIN_BITS}..{MAX_BITS} (2^b shared weights; default: 8)")
    p.add_argument("--fc-bits", type=integer, default=5,
                   help=f"codebook bits of fully connected layers, {MIN_BITS}..{MAX_BITS} (default: 5)")
    p.add_argument("--centroid-epochs", type=integer, default=3, help="centroid fine-tuning epochs (default: 3)")
    p.add_argument("--centroid-lr", type=ratio, help="centroid fine-tuning learning rate (default: a tenth of the "
                                                     "pruning fine-tune's)")
    p.add_argument("--conv-index-bits", type=integer, default=8,
                   help=f"relative index width in conv layers, {MIN_INDEX_BITS}..{MAX_INDEX_BITS} (default: 8)")
    p.add_argument("--fc-index-bits", type=integer, default=5,
                   help=f"relative index width in fully connected layers, {MIN_INDEX_BITS}..{MAX_INDEX_BITS} "
                        "(default: 5)")
    p.add_argument("--baseline-epochs", type=integer, help="epochs of the baseline (default: the data set's default)")


def _spec(args) -> DeepCompressionSpec:
    return DeepCompressionSpec(
        **base_fields(args), amount=args.amount, method=args.method, scope=args.scope,
        layer_amounts=args.layer_amounts, finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr,
        conv_bits=args.conv_bits, fc_bits=args.fc_bits, centroid_epochs=args.centroid_epochs,
        centroid_lr=args.centroid_lr, conv_index_bits=args.conv_index_bits, fc_index_bits=args.fc_index_bits,
        baseline_epochs=args.baseline_epochs)


_describe = describe_deep_compression  # torch-free, in methods/labels.py: run lists label runs without importing this module


register_method(Method(
    kind=KIND, spec=DeepCompressionSpec, run=run_deep_compression, label="deep compression", colour="#393b79",
    help="Deep Compression (Han et al. 2016): prune, share weights by k-means (trained centroids), Huffman-code; "
         "the size is the decodable file's length",
    add_arguments=_args, spec_from_args=_spec,
    sweep={"amount": SweepParam("amount", "0.8,0.9,0.95", "share of weights pruned, in [0, 1)"),
           "fc_bits": SweepParam("fc_bits", "2,3,4,5,6,8", "codebook bits of fully connected layers, 1 to 8",
                                 integer=True),
           "conv_bits": SweepParam("conv_bits", "2,4,6,8", "codebook bits of conv layers, 1 to 8", integer=True)},
    report_settings=("amount", "conv_bits", "fc_bits", "finetune_epochs", "centroid_epochs"), describe=_describe,
    page="pages/deep_compression.py", order=45))
