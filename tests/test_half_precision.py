"""bf16/fp16 as a quantization scheme and bf16 autocast as a training precision (issue 20)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from compress_core.data.datasets import load_dataset
from compress_core.errors import CompressError
from compress_core.measure.metrics import clean_state_dict, serialized_size, sparse_decode, sparse_encode
from compress_core.methods.half_precision import (half_scheme_of, precision_support, sparse_half_size_bytes,
                                                  to_half)
from compress_core.methods.pipeline import PipelineSpec
from compress_core.methods.quantize import QuantizeSpec
from compress_core.models.text import build_tinybert
from compress_core.models.zoo import build_model
from compress_core.runs import jobs
from compress_core.runs.export import export_run
from compress_core.specs import TrainSpec
from compress_core.training.loop import FitConfig, cross_entropy_loss, fit
from compress_core.training.precision import choose_precision

EPOCHS = 3
# bf16 keeps 8 significant bits (relative rounding 2^-8), fp16 11: logits of these small models stay within
# a few hundredths of fp32's; measured max |diff| 0.0015 (bf16) and 0.0001 (fp16) on LeNet-300-100.
TOLERANCE = {"bf16": 0.05, "fp16": 0.01}


@pytest.mark.parametrize("scheme", ["bf16", "fp16"])
@pytest.mark.parametrize("name", ["mlp", "lenet5"])
def test_half_model_is_stored_in_16_bits_and_close_to_fp32(name, scheme):
    torch.manual_seed(0)
    model = build_model(name, (1, 8, 8), 10, (32,) if name == "mlp" else None).eval()
    half = to_half(model, scheme)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[scheme]
    assert all(p.dtype == dtype for p in half.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the original is untouched
    x = torch.randn(16, 1, 8, 8)
    with torch.no_grad():
        out, ref = half(x), model(x)
    assert out.dtype == torch.float32  # logits leave in fp32
    assert (out - ref).abs().max().item() < TOLERANCE[scheme]
    ratio = serialized_size(clean_state_dict(half)) / serialized_size(clean_state_dict(model))
    assert 0.45 < ratio < 0.6  # half the bytes, plus the container's fixed overhead


def test_tinybert_in_bf16_takes_token_ids():
    torch.manual_seed(0)
    model = build_tinybert((12,), 3).eval()
    half = to_half(model, "bf16")
    ids = model.example_input(4, 12, torch.device("cpu"))
    assert ids.dtype == torch.long  # token ids pass the input cast untouched
    with torch.no_grad():
        diff = (half(ids) - model(ids)).abs().max().item()
    assert diff < 0.1
    assert callable(getattr(half, "example_input", None))  # timed and counted like the fp32 text model


def test_sparse_encoding_round_trips_bf16():
    w = torch.randn(40, 30).to(torch.bfloat16)
    w[w.abs() < 1] = 0
    decoded = sparse_decode(sparse_encode({"w": w}))["w"]
    assert decoded.dtype == torch.bfloat16 and torch.equal(decoded, w)


def test_sparse_half_size_counts_bitmap_and_nonzeros():
    layer = torch.nn.Linear(64, 32, bias=False)
    with torch.no_grad():
        layer.weight[:, 16:] = 0  # 75 % zeros
    half = to_half(torch.nn.Sequential(layer), "bf16")
    assert sparse_half_size_bytes(half) == 64 * 32 // 8 + 32 * 16 * 2


def test_bf16_quantize_run_halves_the_file(lab_home):
    result = jobs.get(jobs.record_foreground(QuantizeSpec(model="lenet300", scheme="bf16", baseline_epochs=EPOCHS).to_dict(),
                                             home=lab_home)["id"], lab_home)
    m = result["metrics"]
    assert result["spec"]["bits"] == 16 and m["scheme"] == "bf16"
    assert m["size_form"] == "bf16" and m["size_bytes"] == m["size_half_bytes"]
    assert 1.8 < m["compression_ratio"] < 2.1
    assert abs(m["accuracy"] - m["baseline_accuracy"]) <= 0.01
    assert m["half_accelerated"] == precision_support("bf16")["accelerated"]
    assert any("accelerated here" in note for note in result["notes"])
    saved = torch.load(result["artifacts"]["weights"], weights_only=True)
    assert all(t.dtype == torch.bfloat16 for t in saved.values() if t.is_floating_point())
    for key in ("latency_ms_b1", "latency_ms_b64", "speedup_b1", "speedup_b64"):
        assert m[key] > 0  # measured beside the fp32 baseline, whichever is faster


def test_pruned_then_bf16_pipeline_stores_sparse_16_bit(lab_home, tmp_path):
    spec = PipelineSpec(model="lenet300", baseline_epochs=EPOCHS, steps=(
        {"kind": "prune", "amount": 0.8, "finetune_epochs": 1}, {"kind": "quantize", "scheme": "bf16"}))
    result = jobs.get(jobs.record_foreground(spec.to_dict(), home=lab_home)["id"], lab_home)
    m = result["metrics"]
    assert m["size_form"] == "sparse bf16" and m["size_bytes"] < m["size_half_bytes"]
    assert half_scheme_of(result) == "bf16"
    info = export_run(result["id"], "safetensors", tmp_path / "m.safetensors", home=lab_home)
    assert info["dtype"] == "bf16"
    from safetensors.torch import load_file

    assert all(t.dtype == torch.bfloat16 for t in load_file(info["path"]).values())


def test_bf16_training_keeps_fp32_master_weights_and_records_precision():
    data = load_dataset("digits", None)
    accuracy = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = build_model("mlp", data.input_shape, data.num_classes, (32,))
        history = fit(model, data, FitConfig(epochs=3, batch_size=32, seed=0, precision=precision),
                      device=torch.device("cpu"))
        assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
        assert history[-1].get("precision", "fp32") == precision
        accuracy[precision] = history[-1]["test_accuracy"]
    assert accuracy["fp32"] > 0.85 and abs(accuracy["bf16"] - accuracy["fp32"]) < 0.03


def test_auto_precision_measures_and_says_why():
    model = build_model("mlp", (1, 8, 8), 10, (32,))
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    choice, measured = choose_precision(model, x, y, cross_entropy_loss, torch.arange(32))
    assert choice in ("fp32", "bf16")
    assert measured["fp32_step_ms"] > 0 and measured["bf16_step_ms"] > 0
    assert (choice == "bf16") == (measured["bf16_gain"] >= 1.15)


def test_precision_is_part_of_the_baseline_cache_key(lab_home):
    from compress_core.training.baseline import cache_key

    base = TrainSpec(model="lenet300", epochs=EPOCHS, batch_size=32)
    assert cache_key(base) != cache_key(base.replace(precision="bf16"))
    assert cache_key(base) == cache_key(TrainSpec(model="lenet300", epochs=EPOCHS, batch_size=32, precision="fp32"))


@pytest.mark.parametrize("make, message", [
    (lambda: QuantizeSpec(scheme="bf8"), "scheme must be one of fake, int8, bf16, fp16; got 'bf8'"),
    (lambda: QuantizeSpec(scheme="bf16", bits=4), "stores 16-bit floats, so bits must be 16"),
    (lambda: TrainSpec(precision="fp8"), "precision must be one of fp32, bf16, fp16, auto; got 'fp8'"),
])
def test_bad_schemes_and_precisions_are_one_line(make, message):
    with pytest.raises(CompressError, match=message):
        make()


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 training is refused on CPU-only machines")
def test_fp16_training_on_cpu_says_why_not(lab_home):
    out = subprocess.run([sys.executable, "-m", "compress_core", "train", "--model", "lenet300", "--precision", "fp16",
                          "--home", str(lab_home)], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == ("error: precision fp16 trains on a CUDA GPU only (fp16 gradients need loss scaling "
                                  "and this CPU has no fp16 training kernels); use bf16 (autocast with fp32 master "
                                  "weights) or fp32")


def test_cli_quantize_fp16_json(lab_home):
    out = subprocess.run([sys.executable, "-m", "compress_core", "quantize", "--model", "lenet300", "--scheme", "fp16",
                          "--baseline-epochs", str(EPOCHS), "--json", "--home", str(lab_home)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)["metrics"]
    assert m["scheme"] == "fp16" and m["size_form"] == "fp16" and m["bits"] == 16
