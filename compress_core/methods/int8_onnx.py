"""Real int8 with ONNX Runtime: the deployable `.onnx` file, evaluated and timed where it runs.

`torch.ao.quantization` is deprecated and scheduled for removal (pytorch/ao #2259), and
torchao's CPU int8 was slower here (see methods/quantize.py). ONNX Runtime's quantizer is
maintained, and its int8 kernels are what a CPU deployment runs:

- Linear-only models: `quantize_dynamic` (int8 weights, activations quantized per batch,
  no calibration) -> MatMulInteger / DynamicQuantizeLinear.
- Models with convolutions: `quantize_static` in QDQ format, activation ranges calibrated
  (MinMax) on `CALIBRATION_SAMPLES` training inputs fed by a `CalibrationDataReader`.

Weights use a 7-bit range (`reduce_range=True`, ONNX Runtime's advice for CPUs without VNNI) in both: on an
AVX2-only x86 CPU ONNX Runtime multiplies uint8 activations by int8 weights with VPMADDUBSW, whose 16-bit pair
sums saturate. Measured on an AVX2-only AMD EPYC, LeNet-5 static int8 on digits: 78.4 % in ONNX Runtime's
integer kernels against 80.0 % for the same file with graph optimisations off (float QDQ emulation), baseline
80.4 %; with the 7-bit range 79.6 %. The same file is then accurate on every x86 CPU it is deployed on, and the
file does not depend on the machine that built it.

Everything reported is measured on the files: accuracy and loss on the test split in
ONNX Runtime, size = bytes of the `.onnx` file, latency of the int8 file against the fp32
file in the same runtime (the like-with-like speed-up), and separately the runtime gain of
ONNX Runtime fp32 over torch eager.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.measure.assess import assess
from compress_core.measure.metrics import compare_to_baseline, latency_plan
from compress_core.measure.runtimes import ort_form, ort_session, speedup, time_forms, torch_form
from compress_core.models.zoo import prunable_layers
from compress_core.progress import emit
from compress_core.results import RunResult

CALIBRATION_SAMPLES = 512
EVAL_BATCH = 1024
RUNTIME = "onnxruntime"


def int8_method(model: nn.Module) -> str:
    """"static" (calibrated QDQ) for models with convolutions, else "dynamic"; a model may name its own
    (`int8_method`, e.g. a ViT: its compute is in Linear layers, the patch convolution stays fp32)."""
    own = getattr(model, "int8_method", None)
    if own in ("static", "dynamic"):
        return own
    return "static" if any(isinstance(m, nn.Conv2d) for m in model.modules()) else "dynamic"


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the legacy exporter's deprecation notices and the quantizer's info logging
    (they address library developers; users cannot act on them)."""
    import warnings

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            yield
    finally:
        root.setLevel(level)


def export_fp32(model: nn.Module, input_shape, path: str | Path) -> Path:
    """Write `model` (CPU, eval) as an fp32 `.onnx` with a dynamic batch dimension."""
    model = model.to("cpu").eval()
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}}
    example = torch.zeros(1, *input_shape)
    if callable(getattr(model, "example_input", None)):  # a text model: token ids, any batch and length
        example = model.example_input(1, int(input_shape[0]))
        axes["input"][1] = "tokens"
        model = model.export_module() if callable(getattr(model, "export_module", None)) else model
    with _quiet(), torch.no_grad():
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes=axes)
    return Path(path)


def calibration_inputs(x_train: torch.Tensor, seed: int, samples: int = CALIBRATION_SAMPLES) -> np.ndarray:
    """A seeded random subset of training inputs (float32 numpy) for static calibration."""
    index = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:samples]
    return x_train[index].float().numpy()


def _reader(calibration: np.ndarray, batch: int = 64):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        """Feeds the calibration inputs in batches of `batch` to the observers."""

        def __init__(self):
            self.batches = iter([{"input": calibration[i:i + batch]} for i in range(0, len(calibration), batch)])

        def get_next(self):
            return next(self.batches, None)
    return Reader()


def quantize_file(fp32_path: str | Path, int8_path: str | Path, method: str, granularity: str = "tensor",
                  calibration: Optional[np.ndarray] = None) -> Path:
    """Quantize an fp32 `.onnx` file to int8 (`dynamic`, or `static` QDQ calibrated on `calibration`)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    per_channel = granularity == "channel"
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        if method == "dynamic":
            quantize_dynamic(str(prepared), str(int8_path), weight_type=QuantType.QInt8, per_channel=per_channel,
                             reduce_range=True)
        else:
            if calibration is None:
                raise CompressError("static int8 quantization needs calibration inputs")
            quantize_static(str(prepared), str(int8_path), _reader(calibration), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                            reduce_range=True)
    return Path(int8_path)


def compact(path: str | Path) -> Path:
    """Rewrite an `.onnx` file with short internal names and no shape annotations, in place.

    The quantizer names every tensor and node after the original plus suffixes
    (`/features/features.4/Relu_output_0_QuantizeLinear`); in a small model those strings
    are a third of the file. Renaming internal tensors (graph inputs and outputs keep
    their names) and dropping `value_info` (ONNX Runtime infers shapes itself) changes no
    output. Hand-written: onnx has no helper that shortens names.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    del graph.value_info[:]
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        return name if name == "" or name in keep else names.setdefault(name, f"t{len(names)}")
    for init in graph.initializer:
        init.name = short(init.name)
    for node in graph.node:
        node.name, node.doc_string = "", ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    onnx.save(model, str(path))
    return Path(path)


def quantized_weights(path: str | Path) -> set[str]:
    """Names of the fp32 weights that the int8 file stores as int8 (before `compact`)."""
    import onnx

    suffix = "_quantized"
    names = {init.name[: -len(suffix)] for init in onnx.load(str(path)).graph.initializer
             if init.name.endswith(suffix) and init.data_type == onnx.TensorProto.INT8}
    return {n[: -len("_Transposed")] if n.endswith("_Transposed") else n for n in names}  # dynamic Gemm -> MatMul


def evaluate_onnx(path: str | Path, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(top-1 accuracy, mean cross-entropy loss) of an `.onnx` classifier in ONNX Runtime."""
    session = ort_session(path)
    name = session.get_inputs()[0].name
    as_input = (lambda t: t.float().numpy()) if x.is_floating_point() else (lambda t: t.numpy())  # token ids stay ints
    logits = np.concatenate([session.run(None, {name: as_input(x[i:i + EVAL_BATCH])})[0]
                             for i in range(0, len(x), EVAL_BATCH)])
    loss = torch.nn.functional.cross_entropy(torch.from_numpy(logits).float(), y.long())
    return float((logits.argmax(1) == y.numpy()).mean()), float(loss)


def int8_node_counts(path: str | Path) -> dict:
    """How many nodes of the int8 graph compute in int8 and how many stay float."""
    import onnx

    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    integer = {"MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul", "DynamicQuantizeLinear",
               "QuantizeLinear", "DequantizeLinear", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}
    heavy = ("Gemm", "MatMul", "Conv")
    return {"int8_nodes": sum(op in integer for op in ops), "float_matmul_nodes": sum(op in heavy for op in ops),
            "ops": sorted(set(ops))}


def build_int8(fp32: nn.Module, data, folder: str | Path, *, granularity: str = "tensor", seed: int = 0,
               method: Optional[str] = None, model_name: Optional[str] = None) -> dict:
    """Export `fp32` and quantize it in ONNX Runtime; evaluate both files on the test split.

    Returns paths (`fp32_path`, `int8_path`), `method`, file bytes, accuracies and losses of
    both files in ONNX Runtime. A graph the quantizer cannot handle becomes a CompressError.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise CompressError("scheme 'int8' needs onnxruntime, which is not available here; "
                            "use scheme 'fake' to simulate 8-bit weights") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    method = method or int8_method(fp32)
    fp32_path, int8_path = folder / "model_fp32.onnx", folder / "model_int8.onnx"
    try:
        export_fp32(fp32, data.input_shape, fp32_path)
        calibration = calibration_inputs(data.x_train, seed) if method == "static" else None
        quantize_file(fp32_path, int8_path, method, granularity, calibration)
        int8_weights = quantized_weights(int8_path)
        compact(int8_path)
        accuracy, loss = evaluate_onnx(int8_path, data.x_test, data.y_test)
        fp32_accuracy, fp32_loss = evaluate_onnx(fp32_path, data.x_test, data.y_test)
    except CompressError:
        raise
    except Exception as exc:  # the exporter and quantizer raise many types; name the step, one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        of_model = f" of model {model_name!r}" if model_name else ""
        raise CompressError(f"{method} int8 quantization{of_model} failed in ONNX Runtime ({first[:200]}); "
                            "use scheme 'fake' to simulate 8-bit weights instead") from exc
    return {"fp32_path": fp32_path, "int8_path": int8_path, "method": method, "granularity": granularity,
            "size_int8_bytes": int8_path.stat().st_size, "size_fp32_onnx_bytes": fp32_path.stat().st_size,
            "accuracy": accuracy, "loss": loss, "fp32_onnx_accuracy": fp32_accuracy, "fp32_onnx_loss": fp32_loss,
            "int8_weights": int8_weights,
            **{k: v for k, v in int8_node_counts(int8_path).items() if k != "ops"}}


def time_int8(fp32: nn.Module, built: dict, input_shape, repeats: int) -> dict:
    """Latency of torch eager fp32, ORT fp32 and ORT int8 at batch 1 and 64, paired and alternated.

    Returns `latency_ms_b*` of the int8 file, `baseline_latency_ms_b*` of the ORT fp32 file,
    `torch_latency_ms_b*` of torch eager, `speedup_b*` (ORT fp32 / ORT int8, same runtime) and
    `runtime_gain_b*` (torch eager / ORT fp32: what changing runtime alone gives).
    """

    torch_fp32 = torch_form("torch", fp32)
    forms = [torch_fp32, ort_form("fp32", built["fp32_path"], torch_fp32.example),
             ort_form("int8", built["int8_path"], torch_fp32.example)]
    out = {}
    for batch, calls in latency_plan(repeats):
        timed = time_forms(forms, input_shape, batch, repeats=calls)
        out[f"latency_ms_b{batch}"] = timed["int8"].get("median_ms")
        out[f"latency_iqr_ms_b{batch}"] = timed["int8"].get("iqr_ms")
        out[f"baseline_latency_ms_b{batch}"] = timed["fp32"].get("median_ms")
        out[f"torch_latency_ms_b{batch}"] = timed["torch"].get("median_ms")
        out[f"speedup_b{batch}"] = speedup(timed["fp32"], timed["int8"])
        out[f"runtime_gain_b{batch}"] = speedup(timed["torch"], timed["fp32"])
    return out


def layer_rows(fp32: nn.Module, int8_weights: set[str], fp32_path: str | Path | None = None) -> list[dict]:
    """One row per Linear/Conv2d of the fp32 model: whether the int8 file stores its weight in int8.

    The exporter keeps parameter names where a weight is used as is; a traced `x @ W.T` (as in
    transformers) stores W.T under a generated name, so those are matched by value in the fp32 file.
    """

    layers = prunable_layers(fp32)
    int8 = {name: f"{name}.weight" in int8_weights for name, _ in layers}
    generated = {n for n in int8_weights if n.startswith("onnx::")}
    if generated and fp32_path is not None and not all(int8.values()):
        import onnx
        from onnx import numpy_helper

        stored = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(fp32_path)).graph.initializer
                  if i.name in generated}
        for name, module in layers:
            if int8[name]:
                continue
            w = module.weight.detach().cpu().numpy()
            int8[name] = any(a.shape == w.T.shape and np.array_equal(a, w.T) or
                             a.shape == w.shape and np.array_equal(a, w) for a in stored.values())
    return [{"name": name, "type": type(m).__name__, "shape": list(m.weight.shape), "params": m.weight.numel(),
             "int8": int8[name]} for name, m in layers]


@contextmanager
def workdir(ctx) -> Iterator[Path]:
    """The run's artifacts folder (files kept), or a temporary folder without one."""
    if ctx.artifacts_dir is not None:
        ctx.artifacts_dir.mkdir(parents=True, exist_ok=True)
        yield Path(ctx.artifacts_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="compress_lab_int8_") as tmp:
            yield Path(tmp)


def measure_int8(fp32: nn.Module, data, ctx, folder: Path, *, granularity: str, seed: int,
                 model_name: Optional[str] = None, reference: Optional[nn.Module] = None) -> tuple[dict, dict, list, dict]:
    """(int8 metrics, baseline metrics, layer rows, artifacts) of `fp32` quantized in ONNX Runtime.

    The baseline is `reference` (default: `fp32` itself; a pipeline passes the original
    baseline): accuracy in torch, latency of its fp32 `.onnx` in ONNX Runtime, so `speedup_b*`
    compares like with like. Shape measures (params, sparsity, FLOPs) are those of `fp32`,
    which the int8 file was converted from; accuracy, loss, size and latency are the file's.
    """

    cpu = torch.device("cpu")
    cpu_ctx = dataclasses.replace(ctx, device=cpu)
    fp32 = fp32.to(cpu).eval()
    built = build_int8(fp32, data, folder, granularity=granularity, seed=seed, model_name=model_name)
    if reference is None:
        reference, reference_path = fp32, built["fp32_path"]
        base = assess(fp32, data, cpu_ctx, latency=False)
        shape = dict(base)
    else:
        reference = copy.deepcopy(reference).to(cpu).eval()
        reference_path = export_fp32(reference, data.input_shape, Path(folder) / "baseline_fp32.onnx")
        base = assess(reference, data, cpu_ctx, latency=False)
        shape = assess(fp32, data, cpu_ctx, latency=False)
    timing = time_int8(reference, {**built, "fp32_path": reference_path}, data.input_shape, ctx.latency_repeats)
    for b in (1, 64):
        base[f"latency_ms_b{b}"] = timing.pop(f"baseline_latency_ms_b{b}")
        base[f"torch_latency_ms_b{b}"] = timing[f"torch_latency_ms_b{b}"]
    base.update(runtime=RUNTIME, theoretical_speedup=1.0, speedup_b1=1.0, speedup_b64=1.0, size_ratio_fp32=1.0,
                size_fp32_onnx_bytes=Path(reference_path).stat().st_size)
    layers = layer_rows(fp32, built["int8_weights"], built["fp32_path"])
    size = built["size_int8_bytes"]
    metrics = {**{k: v for k, v in shape.items() if not k.startswith("latency_ms")},
               **{k: v for k, v in compare_to_baseline(shape, base).items() if not k.startswith("speedup")},
               "accuracy": built["accuracy"], "loss": built["loss"], "baseline_accuracy": base["accuracy"],
               "baseline_loss": base["loss"], "accuracy_change": built["accuracy"] - base["accuracy"],
               "scheme": "int8", "bits": 8, "granularity": granularity, "int8_method": built["method"],
               "runtime": RUNTIME,
               "int8_layers": sum(r["int8"] for r in layers), "fp32_layers": sum(not r["int8"] for r in layers),
               "size_int8_bytes": size, "size_fp32_onnx_bytes": base["size_fp32_onnx_bytes"],
               "size_ratio_quantized": size / max(base["size_fp32_onnx_bytes"], 1),
               "fp32_onnx_accuracy": built["fp32_onnx_accuracy"], **timing, "threads": torch.get_num_threads()}
    artifacts = {"int8_onnx": str(built["int8_path"]), "fp32_onnx": str(reference_path)}
    return metrics, base, layers, artifacts


def notes(method: str, n_train: int, left: list[str]) -> list[str]:
    """What the int8 figures mean, for the run's notes."""
    how = ("dynamic int8 (ONNX Runtime quantize_dynamic): Linear weights stored int8, activations quantized per "
           "batch; no calibration data" if method == "dynamic" else
           "static int8 (ONNX Runtime quantize_static, QDQ format): conv/linear weights and activations int8, "
           f"activation ranges calibrated (MinMax) on {min(CALIBRATION_SAMPLES, n_train)} training inputs")
    how += ("; weights in a 7-bit range (reduce_range), so that CPUs without VNNI (AVX2 only) do not saturate the "
            "int8 products")
    out = [how,
           "accuracy and loss are the int8 .onnx file's, evaluated in ONNX Runtime; size_int8_bytes is that "
           "file's size and size_ratio_quantized divides it by the fp32 .onnx file's (size_fp32_onnx_bytes)",
           "speedup_b1/speedup_b64 compare the int8 file with the fp32 model in the same runtime (ONNX Runtime, "
           f"CPU, {torch.get_num_threads()} threads); runtime_gain_b1/b64 is ONNX Runtime fp32 over torch eager fp32, "
           "shown apart"]
    if left:
        out.append(f"layers left in fp32 in the int8 file: {', '.join(left)}")
    return out


def run_int8(spec, base, ctx):
    """The int8 quantize run: the deployable `.onnx`, measured in ONNX Runtime against fp32."""
    data = base.data
    fp32 = copy.deepcopy(base.model).to("cpu").eval()
    method = int8_method(fp32)
    emit(ctx.on_progress, "quantize", 0, 1, f"int8 {method} quantization in ONNX Runtime (per-{spec.granularity} "
         "weights)" + (f", calibrating on {min(CALIBRATION_SAMPLES, len(data.x_train))} training inputs"
                       if method == "static" else ""))
    with workdir(ctx) as folder:
        metrics, base_metrics, layers, artifacts = measure_int8(fp32, data, ctx, folder, granularity=spec.granularity,
                                                                seed=spec.seed, model_name=spec.model)
    if ctx.artifacts_dir is None:
        artifacts = {}
    left = [r["name"] for r in layers if not r["int8"]]
    return RunResult(id="", kind="quantize", status="finished", spec=spec.to_dict(), metrics=metrics, layers=layers,
                     history=base.info["history"], baseline=base_metrics, artifacts=artifacts,
                     notes=notes(method, len(data.x_train), left))
