"""Export of finished runs: ONNX checked in onnxruntime, TorchScript, safetensors and state dicts."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from compress_core.cli import main as cli

from compress_core.runs import jobs
from compress_core.errors import CompressError
from compress_core.runs.export import export_run, load_run_model

ATOL = 1e-4  # ONNX vs PyTorch, fp32 on CPU
SPECS = {
    "lenet5_l1": {"kind": "prune", "model": "lenet5", "dataset": "digits", "amount": 0.8, "baseline_epochs": 1,
                  "finetune_epochs": 1},
    "mlp_structured": {"kind": "prune", "model": "mlp", "hidden": [32], "dataset": "digits", "method": "structured",
                       "amount": 0.5, "baseline_epochs": 2, "finetune_epochs": 1},
    "mlp_int8": {"kind": "quantize", "model": "mlp", "hidden": [32], "dataset": "digits", "scheme": "int8",
                 "baseline_epochs": 2},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("export_home")


@pytest.fixture(scope="module")
def runs(home):
    return {name: jobs.record_foreground(spec, home=home)["id"] for name, spec in SPECS.items()}


def _inputs(run_id, home):
    model, data, _ = load_run_model(run_id, home)
    return model, data.x_test[:64]


def test_onnx_matches_pytorch_in_onnxruntime(runs, home, tmp_path):
    import onnxruntime

    info = export_run(runs["lenet5_l1"], "onnx", tmp_path / "m.onnx", home)
    assert info["max_abs_diff"] <= ATOL and info["bytes"] > 0
    model, x = _inputs(runs["lenet5_l1"], home)
    session = onnxruntime.InferenceSession(info["path"], providers=["CPUExecutionProvider"])
    for batch in (x, x[:1]):  # the batch dimension is dynamic
        got = session.run(None, {"input": batch.numpy()})[0]
        with torch.no_grad():
            want = model(batch).numpy()
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load is deprecated in torch 2.13
def test_torchscript_reloads_with_the_same_outputs(runs, home, tmp_path):
    info = export_run(runs["lenet5_l1"], "torchscript", tmp_path / "m.pt", home)
    model, x = _inputs(runs["lenet5_l1"], home)
    loaded = torch.jit.load(info["path"])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_weight_files_are_plain_pruned_tensors(runs, home, tmp_path):
    from safetensors.torch import load_file

    run = jobs.get(runs["lenet5_l1"], home)
    model, x = _inputs(run["id"], home)
    tensors = load_file(export_run(run["id"], "safetensors", tmp_path / "m.safetensors", home)["path"])
    plain = torch.load(export_run(run["id"], "state_dict", tmp_path / "m.pt", home)["path"], weights_only=True)
    for state in (tensors, plain):
        assert not any(k.endswith(("_orig", "_mask")) for k in state)
        assert set(state) == set(model.state_dict())
        weights = [v for k, v in state.items() if k.endswith("weight")]
        zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
        assert zeros == pytest.approx(run["metrics"]["sparsity"], abs=1e-3)
        fresh = type(model)((1, 8, 8), 10)
        fresh.load_state_dict(state)
        with torch.no_grad():
            torch.testing.assert_close(fresh.eval()(x), model(x))


def test_structured_exports_keep_the_smaller_shapes(runs, home, tmp_path):
    from safetensors.torch import load_file

    info = export_run(runs["mlp_structured"], "onnx", tmp_path / "s.onnx", home)
    assert info["max_abs_diff"] <= ATOL
    tensors = load_file(export_run(runs["mlp_structured"], "safetensors", tmp_path / "s.safetensors", home)["path"])
    assert tensors["net.1.weight"].shape == (16, 64) and tensors["net.3.weight"].shape == (10, 16)


def test_int8_exports_its_onnx_runtime_file_only(runs, home, tmp_path):
    import onnxruntime

    run = jobs.get(runs["mlp_int8"], home)
    info = export_run(runs["mlp_int8"], "onnx", tmp_path / "q.onnx", home)
    assert info["int8"] and info["bytes"] == run["metrics"]["size_int8_bytes"] and info["input_shape"] == [1, 8, 8]
    assert open(info["path"], "rb").read() == open(run["artifacts"]["int8_onnx"], "rb").read()
    assert info["accuracy_onnxruntime"] == run["metrics"]["accuracy"] and "equals the accuracy" in info["note"]
    session = onnxruntime.InferenceSession(info["path"], providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": np.zeros((3, 1, 8, 8), np.float32)})[0].shape == (3, 10)
    for fmt in ("torchscript", "safetensors", "state_dict"):
        with pytest.raises(CompressError, match="exports as onnx only"):
            export_run(runs["mlp_int8"], fmt, tmp_path / f"q.{fmt}", home)


def test_default_path_is_named_by_run_id(runs, home):
    info = export_run(runs["mlp_structured"], "onnx", None, home)
    assert info["path"].endswith(f"artifacts/{runs['mlp_structured']}/export/model.onnx")


def test_cli_export(runs, home, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert cli.main(["export", runs["lenet5_l1"], "--format", "onnx", "--out", str(out), "--home", str(home),
                     "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["path"] == str(out) and out.stat().st_size == info["bytes"]
    for argv, message in ((["--format", "tflite"], "export format must be one of onnx, torchscript"),
                          (["--format", "onnx", "--id-typo"], "unrecognized arguments")):
        assert cli.main(["export", runs["lenet5_l1"], "--out", str(out), "--home", str(home), *argv]) == 2
        assert message in capsys.readouterr().err
    assert cli.main(["export", "r20250101-120000-0a1b2c3d", "--format", "onnx", "--out", str(out),
                     "--home", str(home)]) == 2
    assert "no run with id" in capsys.readouterr().err
