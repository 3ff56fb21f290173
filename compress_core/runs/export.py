"""Export the model of a finished run: ONNX, TorchScript, safetensors or a plain state dict.

The model is rebuilt from the run's spec and loaded from its saved weights, so an export
is exactly what the run measured. Pruned weights are already folded into plain tensors
(no `weight_orig`/`weight_mask`), and structured-pruned models keep their smaller shapes.
ONNX and TorchScript files are checked on export: they are run on test inputs and their
outputs compared with PyTorch's (max absolute difference at most `TOLERANCE`).

Int8 runs made with ONNX Runtime (quantize runs and pipelines ending in scheme int8) export
their `.onnx` file unchanged, as onnx only. Int8 runs made before with torch.ao hold packed
int8 weights that ONNX and safetensors cannot carry: they export as TorchScript or as a state
dict only. Fake-quantized runs export their k-bit values stored as fp32.

Note:
    ONNX uses PyTorch's TorchScript-based exporter (`dynamo=False`). PyTorch marks it
    deprecated in favour of the torch.export-based one, which needs the extra `onnxscript`
    package; the old one exports these models correctly and needs nothing more.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from compress_core import paths
from compress_core.data.datasets import load_dataset
from compress_core.errors import CompressError
from compress_core.methods.half_precision import half_scheme_of, to_half
from compress_core.methods.int8_onnx import evaluate_onnx, export_fp32
from compress_core.methods.quantize import int8_method, load_int8_model, quiet_torch_ao, to_int8
from compress_core.methods.registry import spec_from_dict
from compress_core.methods.structured import load_pruned
from compress_core.models.fit import model_and_data
from compress_core.models.text import is_text_model
from compress_core.models.text_data import match_data
from compress_core.models.text_students import rebuild_student
from compress_core.runs import jobs
from compress_core.runs.artifacts import atomic_write, load_state
from compress_core.runs.export_checks import (
    CHECK_ROWS,
    FORMATS,
    INT8_FORMATS,
    TOLERANCE,
    check_not_link,
    quiet_exporters,
)
from compress_core.runs.export_text import check_inputs, export_hf, fit_run_structure, graph_module, sync_heads

if TYPE_CHECKING:
    from compress_core.data.datasets import Dataset

CPU = torch.device("cpu")


def _finished_run(run_id: str | dict, home) -> dict:
    run = jobs.get(run_id, home) if isinstance(run_id, str) else run_id
    if run.get("status") != "finished":
        raise CompressError(f"run {run.get('id')} is {run.get('status')}; only finished runs can be exported")
    return run


def _weights(run: dict, key: str) -> dict[str, torch.Tensor] | None:
    path = (run.get("artifacts") or {}).get(key)
    if path is None:
        return None

    return load_state(path, f"the weights of run {run['id']}")


def run_data(spec, home=None, data_dir=None) -> "Dataset":
    """The run's data set as its baseline loaded it: text column, max length, and text encoded with the
    model's own tokenizer for an `hf:DIR` model (as `training.baseline.load_baseline_data` does)."""

    data = load_dataset(spec.dataset, paths.data_dir(home, data_dir), spec.label_column,
                        text_column=spec.text_column, max_length=spec.max_length)
    name = spec.teacher if str(spec.model).startswith("teacher-pruned:") else spec.model
    return match_data(name, data, spec.max_length)


def load_run_model(run_id: str | dict, home=None, data_dir=None) -> tuple[nn.Module, "Dataset", bool]:
    """(model in eval mode on CPU, its data set, is_int8) for a finished run.

    Rebuilt from the spec (`model`/`hidden`; for distill runs that is the student) and
    loaded with `structured.load_pruned`, which also fits models whose channels were removed.
    """

    run = _finished_run(run_id, home)
    spec = spec_from_dict(run["spec"])
    data = run_data(spec, home, data_dir)
    # The architecture (its run's weights load below) and the data as it was prepared for it;
    # a distillation's `weights` belong to its teacher, not to the exported student.
    student = {"model": spec.model, "hidden": spec.hidden} if run["kind"] == "distill" else {}
    if run["kind"] == "distill" and spec.model.startswith("teacher-pruned:"):  # the teacher's architecture,
        student = {"model": spec.teacher, "hidden": spec.teacher_hidden}  # resized to the student's tensors below
    source, data = model_and_data(spec, data, weights=False, **student)
    artifacts = run.get("artifacts") or {}
    if run["kind"] == "quantize" and "int8_weights" in artifacts:

        with quiet_torch_ao():
            return load_int8_model(artifacts["int8_weights"]).eval(), data, True
    state = _weights(run, "weights")
    if state is None:
        raise CompressError(f"run {run['id']} ({run['kind']}) saved no model weights, so there is nothing to export")

    fp32 = fit_run_structure(rebuild_student(spec, source.module), state)  # a text student with fewer
    # (or narrower: models/text_students.py) layers; others unchanged
    model = sync_heads(load_pruned(fp32, state)).to(CPU).eval()
    if "int8_weights" in artifacts:  # a pipeline ending in int8: rebuild the int8 structure, load its weights

        granularity = spec.steps[-1]["granularity"]
        with quiet_torch_ao():
            quantized = to_int8(model, int8_method(model), granularity, None, data.x_train[:1])
            quantized.load_state_dict(_weights(run, "int8_weights"))
        return quantized.eval(), data, True
    return model, data, False


def default_path(run_id: str, fmt: str, home=None) -> Path:
    """`<home>/artifacts/<run id>/export/model<ext>`: named by run id, never by user text."""
    folder = jobs.open_store(home).artifacts_dir(run_id) / "export"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"model{FORMATS[fmt]}"


def check_format(fmt: str, is_int8: bool = False) -> None:
    if fmt not in FORMATS:
        raise CompressError(f"export format must be one of {', '.join(FORMATS)} or hf (a Hugging Face folder, "
                            f"text models); got {fmt!r}")
    if is_int8 and fmt not in INT8_FORMATS:
        raise CompressError(f"an int8 model exports as {' or '.join(INT8_FORMATS)} only (its packed int8 weights "
                            f"have no {fmt} form); got {fmt!r}. Export a fake-quantized or unquantized run for {fmt}")


def _outputs(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).float().numpy()


def onnx_max_diff(path: str | Path, model: nn.Module, x: torch.Tensor) -> float:
    """Max |onnxruntime output - PyTorch output| on `x`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return float(np.abs(got - _outputs(model, x)).max())


def torchscript_max_diff(path: str | Path, model: nn.Module, x: torch.Tensor) -> float:
    """Max |reloaded TorchScript output - PyTorch output| on `x`."""
    with quiet_exporters():
        loaded = torch.jit.load(str(path), map_location="cpu")
    return float(np.abs(_outputs(loaded, x) - _outputs(model, x)).max())


def _write(model: nn.Module, fmt: str, out: Path, example: torch.Tensor, metadata: dict[str, str]) -> None:
    if fmt == "onnx" and is_text_model(model):  # token ids, dynamic batch and length: the int8 path's export

        export_fp32(model, (example.shape[1],), out)
    elif fmt == "onnx":
        with quiet_exporters():
            torch.onnx.export(model, (example,), str(out), dynamo=False, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    elif fmt == "torchscript":
        with quiet_exporters(), torch.no_grad():
            torch.jit.trace(graph_module(model), example).save(str(out))
    elif fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out), metadata=metadata)
    else:
        torch.save(model.state_dict(), out)


def _export_int8_onnx(run: dict, fmt: str, out_path, home, data_dir=None) -> dict:
    """An int8 run made with ONNX Runtime: its artifact already is the deployable `.onnx`; copy it as is,
    and check that the copy scores, in ONNX Runtime on the test split, the accuracy the run reported."""
    import shutil

    if fmt != "onnx":
        raise CompressError(f"this int8 model is an ONNX Runtime file, so it exports as onnx only; got {fmt!r}")
    source = Path(run["artifacts"]["int8_onnx"])
    if not source.exists():
        raise CompressError(f"the int8 file of run {run['id']} is missing ({source}); it may have been deleted")
    out = output_path(run, fmt, out_path, home)
    shutil.copyfile(source, out)

    spec = spec_from_dict(run["spec"])
    raw = run_data(spec, home, data_dir)
    _, data = model_and_data(spec, raw, weights=False)  # the data as the run prepared it for this model
    accuracy, _ = evaluate_onnx(out, data.x_test, data.y_test)
    reported = (run.get("metrics") or {}).get("accuracy")
    if reported is None or abs(accuracy - reported) > 1e-9:
        out.unlink()
        raise CompressError(f"the int8 file of run {run['id']} scores {accuracy:.4f} in ONNX Runtime, not the "
                            f"{reported} the run reported, so it was not kept")
    return {"run_id": run["id"], "format": fmt, "path": str(out), "bytes": out.stat().st_size,
            "input_shape": list(data.input_shape), "int8": True, "max_abs_diff": None, "tolerance": TOLERANCE,
            "accuracy_onnxruntime": accuracy,
            "note": f"the run's int8 .onnx, copied unchanged. Checked: its accuracy in ONNX Runtime on the "
                    f"{len(data.x_test)} test inputs, {accuracy:.2%}, equals the accuracy the run reported"}


def output_path(run: dict, fmt: str, out_path, home) -> Path:
    """The file an export writes: `out_path` (or the default under the run's artifacts), checked to be a
    plain file name in an existing folder and not a symbolic link."""
    out = Path(out_path) if out_path is not None else default_path(run["id"], fmt, home)
    if out.is_dir():
        raise CompressError(f"--out {str(out)!r} is a folder; give a file name, e.g. model{FORMATS[fmt]}")
    if not out.parent.exists():
        raise CompressError(f"the folder of {str(out)!r} does not exist")
    check_not_link(out)
    return out


def export_run(run_id: str, fmt: str, out_path: str | Path | None = None, home=None, data_dir=None) -> dict:
    """Write the model of finished run `run_id` as `fmt` and return what was written.

    Returns `{run_id, format, path, bytes, input_shape, max_abs_diff, tolerance}`;
    `max_abs_diff` is measured for onnx and torchscript (None for weight files), and an
    export that disagrees with PyTorch by more than `TOLERANCE` raises instead of being kept.
    `out_path` None writes to `default_path`.
    """
    if fmt == "hf":  # a folder, not a file: runs/export_text.py
        run = _finished_run(run_id, home)
        return export_hf(run, lambda: load_run_model(run, home, data_dir), out_path, home)
    check_format(fmt)
    run = _finished_run(run_id, home)
    if "int8_onnx" in (run.get("artifacts") or {}):
        return _export_int8_onnx(run, fmt, out_path, home, data_dir)
    model, data, is_int8 = load_run_model(run, home, data_dir)
    check_format(fmt, is_int8)
    half = half_scheme_of(run)  # a bf16/fp16 run's weight files keep its 16-bit dtype
    if half and fmt in ("safetensors", "state_dict"):
        model = to_half(model, half)
    out = output_path(run, fmt, out_path, home)
    x = data.x_test[:CHECK_ROWS].to(CPU)
    metadata = {"run_id": run["id"], "kind": run["kind"], "spec": json.dumps(run["spec"]),
                "producer": "compression-lab"}
    diff = None

    def write_and_check(tmp: Path) -> None:
        # written beside `out` and renamed over it once checked: a link planted at `out` is replaced,
        # never followed, and a failed check leaves nothing behind
        nonlocal diff
        _write(model, fmt, tmp, x[:2], metadata)
        if fmt in ("onnx", "torchscript"):

            check = onnx_max_diff if fmt == "onnx" else torchscript_max_diff
            diff = max(check(tmp, model, xi) for xi in check_inputs(model, x))  # text: a second length too
            if not diff <= TOLERANCE:
                raise CompressError(f"the {fmt} export of run {run['id']} disagrees with PyTorch by {diff:.3g} "
                                    f"(> {TOLERANCE:g}) on test inputs, so it was not kept")


    atomic_write(out, write_and_check)
    info = {"run_id": run["id"], "format": fmt, "path": str(out), "bytes": out.stat().st_size,
            "input_shape": list(data.input_shape), "int8": is_int8, "max_abs_diff": diff, "tolerance": TOLERANCE}
    if half:
        info["dtype"] = half if fmt in ("safetensors", "state_dict") else "float32"
        if fmt not in ("safetensors", "state_dict"):
            info["layout"] = f"fp32: the run's {half} weights widened to fp32 (exactly representable) for {fmt}"
    if (run.get("metrics") or {}).get("sparse_layers"):  # none of these formats holds CSR weights
        info["layout"] = ("dense: the file stores dense weights (zeros included); the run's sparse CSR form "
                          f"({', '.join(run['metrics']['sparse_layers'])}) is a torch runtime form, rebuilt with "
                          "compress_core.methods.sparse_exec.to_sparse")
    return info
