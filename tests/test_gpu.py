"""CUDA checks: run by `scripts/gpu_check.sh` on a machine with a GPU; skipped (not failed) elsewhere.

They run the real engine on the GPU: device selection, data kept on the device, mixed precision,
synchronised timing with peak memory, and the 2:4 semi-structured kernels (Ampere or newer).
"""
import copy

import pytest
import torch
from torch import nn

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none here)")]

import compress_core  # noqa: E402
from compress_core.devices import describe_devices, resolve_device  # noqa: E402
from compress_core.errors import CompressError  # noqa: E402
from compress_core.measure.runtimes import time_forms, torch_form  # noqa: E402
from compress_core.methods.nm_sparsity import (  # noqa: E402
    apply_nm,
    follows_pattern,
    semi_structured_measures,
    semi_structured_support,
    to_semi_structured,
)
from compress_core.methods.prune import make_permanent  # noqa: E402
from compress_core.specs import PruneSpec, TrainSpec  # noqa: E402

needs_sparse_kernels = pytest.mark.skipif(
    not torch.cuda.is_available() or semi_structured_support() is not None,
    reason="2:4 kernels need compute capability >= 8.0")


def test_auto_picks_cuda_and_the_select_box_shows_the_gpu(monkeypatch):
    monkeypatch.delenv("COMPRESS_LAB_DEVICE", raising=False)
    assert resolve_device("auto").type == "cuda"
    rows = describe_devices()
    gpu = next(r for r in rows if r["value"] == "cuda:0")
    assert gpu["name"] and gpu["free_bytes"] > 0 and "GiB free" in gpu["label"]
    with pytest.raises(CompressError, match="does not exist"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_a_run_on_cuda_reports_its_device_and_peak_memory(tmp_path):
    result = compress_core.run(TrainSpec(model="mlp", hidden=(64,), epochs=6, device="cuda"), home=tmp_path)
    assert result.environment["device"].startswith("cuda") and result.environment["gpu"]
    assert result.metrics["gpu_peak_memory_bytes"] > 0
    assert result.metrics["accuracy"] > 0.8


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_learns(tmp_path, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("no bf16 on this GPU")
    result = compress_core.run(TrainSpec(model="mlp", hidden=(64,), epochs=6, device="cuda", precision=precision),
                               home=tmp_path)
    assert result.metrics["accuracy"] > 0.8


def test_cuda_timing_reports_peak_memory():
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).cuda()
    timed = time_forms([torch_form("m", model)], (256,), 64, repeats=5, warmup=2)
    assert timed["m"]["available"] and timed["m"]["peak_memory_bytes"] > 0 and timed["m"]["median_ms"] > 0


@needs_sparse_kernels
def test_2_4_form_matches_dense_fp16_and_lists_what_stays_dense():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    apply_nm(model, 2, 4)
    make_permanent(model)
    assert all(follows_pattern(m.weight, 2, 4) for m in (model[0], model[2], model[4]))
    device = torch.device("cuda", 0)
    sparse, converted, dense = to_semi_structured(model, device)
    assert converted == ["0", "2"]
    assert dense and dense[0][0] == "4" and "multiple of 32" in dense[0][1]  # 10 output rows
    x = torch.randn(64, 256, device=device, dtype=torch.float16)
    reference = copy.deepcopy(model).to(device).half()(x)
    assert torch.allclose(sparse(x).float(), reference.float(), atol=5e-2, rtol=5e-2)


@needs_sparse_kernels
def test_semi_structured_measures_time_model_and_layers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024))
    apply_nm(model, 2, 4)
    make_permanent(model)
    report = semi_structured_measures(model, (1024,), batches=(1, 256), repeats=5)
    assert report.metrics["semi_layers"] == 2
    assert report.metrics["semi_speedup_b1"] > 0 and report.metrics["semi_speedup_b256"] > 0
    assert {row["batch"] for row in report.layer_rows} == {1, 256}


@needs_sparse_kernels
def test_prune_run_with_2_4_on_cuda(tmp_path):
    spec = PruneSpec(model="mlp", hidden=(256,), pattern="2:4", method="l1", finetune_epochs=2, baseline_epochs=3,
                     device="cuda")
    result = compress_core.run(spec, home=tmp_path, artifacts_dir=tmp_path / "art")
    m = result.metrics
    assert m["semi_layers"] >= 1 and "semi_speedup_b1" in m
    assert abs(m["semi_accuracy"] - m["accuracy"]) < 0.02  # fp16 kernels, same weights
    assert (tmp_path / "art" / "semi_structured.json").exists()
