"""One catalogue of every metric a run reports: key, label, unit, which direction is better, format.

The CLI tables, sweeps, figures, pages and the report read labels, units and formats here,
so a new metric is one `_add(...)` line (plus the code that measures it) and a metric reads
the same way everywhere. `CORE_KEYS` is the set every finished run of every kind reports
(`measure.core.complete_result` derives the last few when a run finishes); kind-specific
keys sit beside them.

Runs stored by older versions used other keys; `upgrade_metrics`/`upgrade_record` map them
on read (the run store calls them), so old runs still open and display.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from compress_core import fmt
from compress_core.measure.core import FP32_SHAPE_KEYS, core_metrics, present


def _seconds(x) -> str:
    return "n/a" if not present(x) else f"{x:.3g} s"


def _number(x) -> str:
    if not present(x):
        return "n/a"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _text(x) -> str:
    return "n/a" if x is None else str(x)


@dataclass(frozen=True)
class Metric:
    """One metric. `unit` is the unit of the stored value ("share" is a fraction in [0, 1]);
    `fmt` turns a stored value into text with its display unit; `better` is "higher",
    "lower" or None (no direction: a setting or a count of examples). `axis_unit` and
    `axis_scale` are the unit and factor a figure's axis uses (kB for bytes, % for shares)."""

    key: str
    label: str
    unit: str
    better: str | None
    fmt: Callable[[object], str]
    axis_unit: str = ""
    axis_scale: float = 1.0
    numeric: bool = True
    short: str = ""  # a compact label for table headers; the label when empty
    description: str = ""  # how it is measured, for tooltips; the label when empty

    def format(self, value) -> str:
        return self.fmt(value)

    @property
    def column_title(self) -> str:
        """'accuracy (%)': the short label with the axis unit, for table headers (values scaled by `axis_scale`)."""
        name = self.short or self.label
        return f"{name} ({self.axis_unit})" if self.axis_unit else name

    @property
    def help(self) -> str:
        return self.description or self.label

    @property
    def axis_title(self) -> str:
        """'test accuracy (%)': the label with the axis unit, for figures."""
        return f"{self.label} ({self.axis_unit})" if self.axis_unit else self.label


CATALOGUE: dict[str, Metric] = {}


def _add(key, label, unit, better, format_, axis_unit="", axis_scale=1.0, numeric=True, short="",
         description="") -> None:
    CATALOGUE[key] = Metric(key, label, unit, better, format_, axis_unit, axis_scale, numeric, short, description)


def _pct2(x) -> str:
    return fmt.pct(x, 2)


def _pp2(x) -> str:
    return fmt.pp(x, 2)


# ---- the core set: every finished run of every kind reports these ----------------------------
_add("accuracy", "test accuracy", "share", "higher", _pct2, "%", 100.0, short="accuracy")
_add("baseline_accuracy", "baseline test accuracy", "share", "higher", _pct2, "%", 100.0, short="baseline accuracy")
_add("accuracy_change", "accuracy change vs the baseline", "share", "higher", _pp2, "pp", 100.0, short="vs baseline")
_add("params_total", "parameters", "count", "lower", fmt.count, short="parameters")
_add("params_nonzero", "non-zero parameters", "count", "lower", fmt.count, short="non-zero parameters")
_add("sparsity", "sparsity", "share", None, fmt.pct, "%", 100.0, short="sparsity")
_add("size_fp32_bytes", "dense fp32 checkpoint", "bytes", "lower", fmt.size, "kB", 1e-3, short="fp32 size")
_add("size_bytes", "deployed size", "bytes", "lower", fmt.size, "kB", 1e-3, short="smallest size",
     description="the model as it would be deployed, in the smallest form the run has: int8 file, packed k-bit "
                 "weights, sparse encoding or the dense fp32 file (see size_form)")
_add("size_form", "deployed form", "", None, _text, numeric=False, short="encoding")
_add("compression_ratio", "compression ratio", "ratio", "higher", fmt.ratio, "×", short="smaller by",
     description="the baseline's dense fp32 checkpoint size / this run's deployed size")
_add("flops_dense", "dense FLOPs per sample", "FLOPs", "lower", fmt.flops, "kFLOPs", 1e-3, short="dense FLOPs")
_add("flops_effective", "effective FLOPs per sample", "FLOPs", "lower", fmt.flops, "kFLOPs", 1e-3,
     short="effective FLOPs", description="FlopCounterMode (2 FLOPs per multiply-add), each layer scaled by its "
                                          "weight density: what an ideal sparse kernel would do")
_add("latency_ms_b1", "latency at batch 1", "ms", "lower", fmt.ms, "ms", short="latency b1",
     description="median wall time of timed forward calls after warm-up, at batch 1")
_add("latency_ms_b64", "latency at batch 64", "ms", "lower", fmt.ms, "ms", short="latency b64",
     description="median wall time of timed forward calls after warm-up, at batch 64")
_add("speedup_b1", "measured speed-up at batch 1", "ratio", "higher", fmt.ratio, "×", short="speed-up b1",
     description="the baseline's latency / this run's, both timed in alternation in the same process")
_add("speedup_b64", "measured speed-up at batch 64", "ratio", "higher", fmt.ratio, "×", short="speed-up b64",
     description="the baseline's latency / this run's, both timed in alternation in the same process")
_add("threads", "CPU threads", "count", None, _number, short="threads")
_add("duration_s", "run time", "s", None, _seconds, "s", short="run time")

CORE_KEYS: tuple[str, ...] = tuple(CATALOGUE)

# ---- measured for most runs, beside the core set ---------------------------------------------
_add("loss", "test loss", "nats", "lower", _number)
_add("baseline_loss", "baseline test loss", "nats", "lower", _number)
_add("param_compression_ratio", "parameter compression ratio", "ratio", "higher", fmt.ratio, "×",
     description="parameters total / non-zero (ShrinkBench's compression ratio)",
     short="total/non-zero")
_add("size_sparse_bytes", "sparse encoding", "bytes", "lower", fmt.size, "kB", 1e-3, short="sparse size",
     description="bitmap of non-zeros plus their values (dense where that is smaller)")
_add("flops_nonzero", "non-zero FLOPs per sample", "FLOPs", "lower", fmt.flops, "kFLOPs", 1e-3, short="non-zero FLOPs",
     description="torch's dense count less 2 FLOPs per multiply-add of a zero weight (non-zero weights x output "
                 "positions per Linear/Conv layer, counted by hand in measure/flops.py)")
_add("theoretical_speedup", "theoretical speed-up", "ratio", "higher", fmt.ratio, "×", short="FLOPs speed-up",
     description="baseline dense FLOPs / effective FLOPs")
_add("size_ratio_fp32", "dense fp32 size / the baseline's", "ratio", "lower", fmt.ratio, "×")
# ---- train ----
_add("cached", "baseline from the cache", "", None, _text, numeric=False)
# ---- prune ----
_add("accuracy_before_finetune", "test accuracy before fine-tuning", "share", "higher", _pct2, "%", 100.0)
_add("channel_ratio", "share of channels removed", "share", None, fmt.pct, "%", 100.0)
_add("param_ratio", "share of parameters kept", "share", None, fmt.pct, "%", 100.0)
# ---- distill ----
_add("teacher_accuracy", "teacher test accuracy", "share", "higher", _pct2, "%", 100.0)
_add("scratch_accuracy", "student from scratch: test accuracy", "share", "higher", _pct2, "%", 100.0)
_add("gain_vs_scratch", "gain of distillation over the scratch student", "share", "higher", _pp2, "pp", 100.0)
_add("test_examples", "test examples", "count", None, fmt.count,
     description="how many held-out examples the accuracy was measured on (its 95 % interval depends on it)")
_add("agreement", "agreement with the teacher", "share", "higher", fmt.pct, "%", 100.0,
     description="share of test inputs where student and teacher pick the same class")
_add("scratch_agreement", "scratch student's agreement with the teacher", "share", "higher", fmt.pct, "%", 100.0)
_add("labeled_examples", "labelled training examples", "count", None, fmt.count)
_add("kd_examples", "examples the distillation term sees", "count", None, fmt.count)
_add("student_epochs", "student epochs", "count", None, fmt.count)
_add("scratch_epochs", "scratch student epochs", "count", None, fmt.count)
# transformer students (methods/distill.py, models/text_students.py, methods/distill_hidden.py)
_add("student_layers", "student encoder layers", "count", None, fmt.count)
_add("teacher_layers", "teacher encoder layers", "count", None, fmt.count)
_add("student_hidden_size", "student hidden size", "count", None, fmt.count)
_add("student_intermediate_size", "student FFN width", "count", None, fmt.count)
_add("student_heads", "student attention heads", "count", None, fmt.count)
_add("hidden_weight", "weight of the hidden-state term", "", None, _number)
_add("hidden_mse", "hidden-state MSE, student vs teacher (test)", "", "lower", _number,
     description="mean over student layers of the MSE between its (projected) output and its teacher layer's, "
                 "over real tokens of the test texts")
_add("hidden_layer_map", "teacher layer of each student layer", "", None, _text, numeric=False)
# ---- quantize ----
_add("scheme", "quantization scheme", "", None, _text, numeric=False)
_add("bits", "bits per weight", "bits", None, _number)
_add("granularity", "quantization scales", "", None, _text, numeric=False)
_add("size_packed_bytes", "packed k-bit size", "bytes", "lower", fmt.size, "kB", 1e-3, short="packed size",
     description="k bits per weight, fp32 scales and the other tensors: counted, not serialized")
_add("size_int8_bytes", "int8 file", "bytes", "lower", fmt.size, "kB", 1e-3, short="int8 size",
     description="torch.save of the int8 state dict")
_add("size_half_bytes", "16-bit (bf16/fp16) file", "bytes", "lower", fmt.size, "kB", 1e-3, short="16-bit size",
     description="torch.save of the state dict converted to bf16 or fp16")
_add("half_accelerated", "16-bit kernels accelerated here", "", None, _text, numeric=False,
     description="whether this processor has native bf16/fp16 matrix products (AMX, AVX-512 BF16/FP16, tensor cores)")
_add("size_sparse_quantized_bytes", "sparse packed k-bit size", "bytes", "lower", fmt.size, "kB", 1e-3,
     short="sparse packed size",
     description="per weight tensor the smaller of packed codes and a bitmap plus packed non-zero codes: counted")
_add("size_ratio_quantized", "quantized size / the baseline's fp32 size", "ratio", "lower", fmt.ratio, "×")
_add("int8_method", "int8 method", "", None, _text, numeric=False)
_add("int8_engine", "int8 engine", "", None, _text, numeric=False)
_add("int8_layers", "layers in int8", "count", None, fmt.count)
_add("fp32_layers", "layers left in fp32", "count", None, fmt.count)
_add("runtime", "runtime of the timed form", "", None, _text, numeric=False)
_add("size_fp32_onnx_bytes", "fp32 .onnx file", "bytes", "lower", fmt.size, "kB", 1e-3, short="fp32 onnx size")
_add("fp32_onnx_accuracy", "fp32 .onnx test accuracy (ONNX Runtime)", "share", "higher", _pct2, "%", 100.0)
_add("fp32_onnx_loss", "fp32 .onnx test loss (ONNX Runtime)", "nats", "lower", _number)
_add("torch_latency_ms_b1", "torch eager fp32 latency at batch 1", "ms", "lower", fmt.ms, "ms")
_add("torch_latency_ms_b64", "torch eager fp32 latency at batch 64", "ms", "lower", fmt.ms, "ms")
_add("runtime_gain_b1", "ONNX Runtime fp32 over torch eager at batch 1", "ratio", "higher", fmt.ratio, "×")
_add("runtime_gain_b64", "ONNX Runtime fp32 over torch eager at batch 64", "ratio", "higher", fmt.ratio, "×")
_add("sparse_speedup_b1", "sparse form over dense at batch 1 (torch)", "ratio", "higher", fmt.ratio, "×",
     short="sparse speed-up b1")
_add("sparse_speedup_b64", "sparse form over dense at batch 64 (torch)", "ratio", "higher", fmt.ratio, "×",
     short="sparse speed-up b64")
_add("sparse_latency_ms_b1", "sparse form latency at batch 1", "ms", "lower", fmt.ms, "ms")
_add("sparse_latency_ms_b64", "sparse form latency at batch 64", "ms", "lower", fmt.ms, "ms")
_add("sparse_layers", "layers run as CSR at batch 64", "", None, _text, numeric=False)
_add("sparse_layers_b1", "layers run as CSR at batch 1", "", None, _text, numeric=False)
_add("sparse_kernel", "sparse kernel", "", None, _text, numeric=False)
_add("latency_iqr_ms_b1", "latency spread (IQR) at batch 1", "ms", None, fmt.ms, "ms")
_add("latency_iqr_ms_b64", "latency spread (IQR) at batch 64", "ms", None, fmt.ms, "ms")
# ---- plan (methods/plan.py): predicted beside realized ----
_add("bits_label", "bit widths", "", None, _text, numeric=False, description="the bit width(s) of the weights; "
     "'mixed 4/8/fp32-bit' when a plan gives layers different widths")
_add("plan", "per-layer plan", "", None, lambda rows: "n/a" if not rows else f"{len(rows)} layers", numeric=False,
     description="per layer: sparsity, bits, params and the predicted accuracy drop")
_add("predicted_accuracy", "predicted test accuracy", "share", "higher", _pct2, "%", 100.0, short="predicted accuracy",
     description="baseline accuracy minus the summed one-shot per-layer drops, shifted by the mean gap "
                 "(realized - predicted) of earlier plans of the same model and data set")
_add("predicted_accuracy_uncorrected", "predicted test accuracy (uncorrected)", "share", "higher", _pct2, "%", 100.0)
_add("predicted_drop_uncorrected", "predicted one-shot drop", "share", "lower", _pp2, "pp", 100.0)
_add("prediction_correction", "shift of the prediction by earlier plans' mean gap", "share", None, _pp2, "pp", 100.0)
_add("prediction_history_runs", "earlier plans used for the correction", "count", None, fmt.count)
_add("prediction_gap", "realized - predicted accuracy", "share", None, _pp2, "pp", 100.0, short="prediction gap")
_add("predicted_size", "predicted deployed size", "bytes", "lower", fmt.size, "kB", 1e-3, short="predicted size",
     description="the planned model before fine-tuning, measured in the form the run reports (size_bytes)")
_add("predicted_flops", "predicted effective FLOPs", "FLOPs", "lower", fmt.flops, "kFLOPs", 1e-3)
_add("target_size", "size budget", "bytes", None, fmt.size, "kB", 1e-3)
_add("target_flops", "FLOPs budget", "FLOPs", None, fmt.flops, "kFLOPs", 1e-3)
_add("target_latency_ms", "latency target", "ms", None, fmt.ms, "ms")
_add("target_batch", "batch of the latency target", "count", None, _number)
_add("meets_budget", "meets the budget", "", None, _text, numeric=False)
_add("meets_latency", "meets the latency target", "", None, _text, numeric=False)
_add("latency_ms_at_batch", "latency at the target batch", "ms", "lower", fmt.ms, "ms")
_add("baseline_latency_ms_at_batch", "baseline latency at the target batch", "ms", "lower", fmt.ms, "ms")
# ---- GPUs and N:M semi-structured sparsity (devices.py, methods/nm_sparsity.py) -----------------
_add("gpu_peak_memory_bytes", "peak GPU memory of the run", "bytes", "lower", fmt.size, "MB", 1e-6,
     short="GPU peak memory", description="torch.cuda.max_memory_allocated over the whole run (CUDA runs only)")
_add("nm_pattern", "N:M sparsity pattern", "", None, _text, numeric=False)
_add("nm_dense_layers", "layers the N:M pattern left dense", "", None, _text, numeric=False)
_add("semi_structured", "2:4 sparse kernels", "", None, _text, numeric=False)
_add("semi_layers", "Linear layers run by 2:4 kernels", "count", None, fmt.count)
_add("semi_dense_layers", "Linear layers the 2:4 kernels left dense", "", None, _text, numeric=False)
for _batch in (1, 16, 64, 256, 1024):
    _add(f"semi_speedup_b{_batch}", f"2:4 fp16 over dense fp16 at batch {_batch} (CUDA)", "ratio", "higher",
         fmt.ratio, "×", description="whole model, sparse tensor-core kernels against dense fp16, timed in alternation "
                                     "between torch.cuda.synchronize() calls")
_add("semi_accuracy", "test accuracy of the 2:4 fp16 form", "share", "higher", _pct2, "%", 100.0)
_add("semi_dense_fp16_accuracy", "test accuracy of the dense fp16 form", "share", "higher", _pct2, "%", 100.0)
# ---- deep compression (methods/deep_compression.py, measure/storage_codec.py) ----
def _stages(x) -> str:
    if not isinstance(x, (list, tuple)):
        return _text(x)
    return "; ".join(f"{s.get('stage')} {fmt.ratio(s.get('compression_ratio'))} at {fmt.pct(s.get('accuracy'), 2)}"
                     for s in x if isinstance(s, Mapping))


_add("size_encoded_bytes", "Huffman-coded file", "bytes", "lower", fmt.size, "kB", 1e-3, short="encoded size",
     description="length of the Deep Compression file (codebooks, Huffman-coded indices and relative positions, "
                 "tables, biases, header), which decodes to the measured model")
for _part, _what in (("header", "header"), ("codebooks", "codebooks"), ("huffman_tables", "Huffman tables"),
                     ("values", "weight values (centroid indices)"), ("indices", "relative positions"),
                     ("biases", "biases and other tensors")):
    _add(f"storage_{_part}_bytes", f"encoded file: {_what}", "bytes", "lower", fmt.size, "kB", 1e-3,
         short=_what, description=f"bytes of the encoded file spent on {_what}")
_add("size_dense_gzip_bytes", "gzip of the dense fp32 checkpoint", "bytes", "lower", fmt.size, "kB", 1e-3,
     short="gzip fp32", description="gzip -9 of torch.save of the same weights, dense fp32: a general-purpose reference")
_add("size_pruned_encoded_bytes", "pruning stage file", "bytes", "lower", fmt.size, "kB", 1e-3, short="pruned size",
     description="fp32 values and packed relative indices of the pruned weights: a file that decodes")
_add("size_shared_encoded_bytes", "weight sharing stage file", "bytes", "lower", fmt.size, "kB", 1e-3,
     short="shared size", description="codebooks and packed centroid indices and relative indices: a file that decodes")
_add("accuracy_pruned", "test accuracy after pruning", "share", "higher", _pct2, "%", 100.0)
_add("accuracy_clustered", "test accuracy after k-means, before centroid fine-tuning", "share", "higher", _pct2, "%",
     100.0)
_add("accuracy_shared", "test accuracy after centroid fine-tuning", "share", "higher", _pct2, "%", 100.0)
_add("conv_bits", "codebook bits of conv layers", "bits", None, _number)
_add("fc_bits", "codebook bits of fully connected layers", "bits", None, _number)
_add("stages", "size and accuracy by stage", "", None, _stages, numeric=False,
     description="each stage's file length, compression ratio against the baseline's fp32 checkpoint, and accuracy")
# ---- lottery ----
_add("remaining_fraction", "share of prunable weights remaining", "share", None, fmt.pct, "%", 100.0,
     short="weights left")
_add("reinit_accuracy", "same mask, random re-initialisation: test accuracy", "share", "higher", _pct2, "%", 100.0,
     short="re-init accuracy")
_add("random_mask_accuracy", "random mask at the same sparsity: test accuracy", "share", "higher", _pct2, "%", 100.0,
     short="random-mask accuracy")
_add("rounds", "lottery rounds", "", None, lambda x: f"{len(x)} rounds" if isinstance(x, list) else _text(x),
     numeric=False, description="per round: remaining weights, ticket, re-init and random-mask accuracy")

# Old key -> new key, for runs stored by older versions (see `upgrade_metrics`, which also maps
# `size_quantized_bytes` by the run's scheme and the old `compression_ratio`).
RENAMED = {"times_smaller": "compression_ratio", "size_reduction": "compression_ratio"}


# ---- look-ups ----------------------------------------------------------------------------------
def metric(key: str) -> Metric:
    """The catalogue entry of `key`; KeyError naming the known keys for an unknown one."""
    try:
        return CATALOGUE[key]
    except KeyError:
        raise KeyError(f"unknown metric {key!r}; the catalogue has: {', '.join(CATALOGUE)}") from None


def known(key: str) -> bool:
    return key in CATALOGUE


def label(key: str) -> str:
    """The label of `key` (the key itself for a metric the catalogue does not know)."""
    return CATALOGUE[key].label if key in CATALOGUE else key


def axis_title(key: str) -> str:
    return CATALOGUE[key].axis_title if key in CATALOGUE else key


def axis_scale(key: str) -> float:
    return CATALOGUE[key].axis_scale if key in CATALOGUE else 1.0


def column_title(key: str) -> str:
    return CATALOGUE[key].column_title if key in CATALOGUE else key


def axis(key: str) -> tuple[str, float]:
    """(axis title with unit, factor from the stored value to the axis) of `key`."""
    return axis_title(key), axis_scale(key)


def format_value(key: str, value) -> str:
    """`value` of metric `key` as text with its unit ('97.5 %', '56.2 kB', '3.1×')."""
    if key in CATALOGUE:
        return CATALOGUE[key].fmt(value)
    return _number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _text(value)


def table_keys(*dicts: Mapping | None, core: bool = True, extra: bool = True, numeric: bool | None = None) -> list[str]:
    """Catalogue keys, in catalogue order (core set first), present in any of `dicts` (all keys when
    none is given). `core`/`extra` pick the core set and the rest; `numeric` keeps only numbers
    (True) or only text (False)."""
    chosen = [k for k in CATALOGUE if (core if k in CORE_KEYS else extra)]
    if numeric is not None:
        chosen = [k for k in chosen if CATALOGUE[k].numeric == numeric]
    given = [d for d in dicts if d is not None]
    if not given:
        return chosen
    return [k for k in chosen if any(k in d for d in given)]


def numeric_keys() -> list[str]:
    """Every metric that is a number (what a sweep or a figure can plot)."""
    return [k for k, m in CATALOGUE.items() if m.numeric]


# ---- runs stored by older versions -------------------------------------------------------------
def upgrade_metrics(metrics: Mapping | None, baseline: Mapping | None = None) -> dict:
    """A copy of a stored metrics dict with old keys mapped to today's and the derived core figures
    added; a dict that is already current comes back equal. `baseline` is the run's baseline dict.

    - `size_quantized_bytes` becomes `size_int8_bytes` (int8 runs: the serialized file) or
      `size_packed_bytes` (fake k-bit runs: the packed estimate);
    - `compression_ratio` meant total / non-zero parameters: it becomes `param_compression_ratio`,
      and `compression_ratio` is derived anew (baseline fp32 size / deployed size);
    - `times_smaller`/`size_reduction` (computed columns) were that new `compression_ratio`;
    - an int8 run stored without shape measures gets the baseline's (it was converted from it).
    """
    d = dict(metrics or {})
    if "size_quantized_bytes" in d:
        value = d.pop("size_quantized_bytes")
        d.setdefault("size_int8_bytes" if d.get("scheme") == "int8" else "size_packed_bytes", value)
    if "compression_ratio" in d and "param_compression_ratio" not in d and "size_bytes" not in d:
        d["param_compression_ratio"] = d.pop("compression_ratio")
    for old, new in RENAMED.items():
        if old in d:
            d.setdefault(new, d.pop(old))
    if d.get("scheme") == "int8" and baseline and "params_nonzero" not in d:
        for key, value in baseline.items():
            if key in FP32_SHAPE_KEYS:
                d.setdefault(key, value)
    if "size_bytes" not in d:  # derived sizes and ratios only: nothing else is invented for an old record
        for key, value in core_metrics(d, baseline, own_baseline=False).items():
            d.setdefault(key, value)
    return d


def upgrade_record(run: dict) -> dict:
    """Upgrade a stored run record in place: its metrics, its baseline and each pipeline step's metrics."""
    baseline = run.get("baseline") if isinstance(run.get("baseline"), dict) else None
    if baseline:
        run["baseline"] = baseline = upgrade_metrics(baseline)
    if isinstance(run.get("metrics"), dict):
        run["metrics"] = upgrade_metrics(run["metrics"], baseline)
    for step in run.get("steps") or []:
        if isinstance(step, dict) and isinstance(step.get("metrics"), dict):
            step["metrics"] = upgrade_metrics(step["metrics"], baseline)
    return run


def labels(keys: Iterable[str]) -> dict[str, str]:
    """{key: label} for `keys` (e.g. to rename DataFrame columns)."""
    return {k: label(k) for k in keys}
