"""Device selection: auto picks CUDA only when present, bad devices are refused in one line, specs carry the setting."""
import subprocess
import sys

import pytest
import torch
from torch import nn

from compress_core.devices import (check_device_text, check_precision_on, cuda_count, describe_devices,
                                   gpu_peak_memory, resolve_device)
from compress_core.errors import CompressError
from compress_core.specs import PruneSpec, TrainSpec
from compress_core.training.precision import autocast, grad_scaler, resident

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")


@pytest.mark.parametrize("text,expected", [("auto", "auto"), ("CPU", "cpu"), (" cuda ", "cuda"), ("cuda:1", "cuda:1")])
def test_device_text_forms(text, expected):
    assert check_device_text(text) == expected


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "mps", "", None, 3])
def test_bad_device_text_is_one_line(text):
    with pytest.raises(CompressError) as err:
        check_device_text(text)
    assert "\n" not in str(err.value) and "auto, cpu, cuda or cuda:N" in str(err.value)


@no_cuda
def test_auto_is_the_cpu_here_and_cuda_is_refused(monkeypatch):
    monkeypatch.delenv("COMPRESS_LAB_DEVICE", raising=False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for text in ("cuda", "cuda:0", "cuda:7"):
        with pytest.raises(CompressError) as err:
            resolve_device(text)
        assert "\n" not in str(err.value) and "no CUDA GPU" in str(err.value) and repr(text) in str(err.value)
    assert [row["value"] for row in describe_devices()] == ["auto", "cpu"]
    assert describe_devices()[0]["label"] == "auto (cpu)"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_gpu_index_that_does_not_exist_is_refused():
    with pytest.raises(CompressError, match="does not exist"):
        resolve_device(f"cuda:{cuda_count()}")


def test_fp16_training_is_a_cuda_option():
    check_precision_on("fp32", torch.device("cpu"))
    check_precision_on("bf16", torch.device("cpu"))  # autocast bf16 runs on CPUs too
    with pytest.raises(CompressError, match="precision fp16 trains on a CUDA device only"):
        check_precision_on("fp16", torch.device("cpu"))
    with pytest.raises(CompressError, match="precision must be one of"):
        TrainSpec(precision="int4")


def test_specs_carry_device_and_precision():
    spec = PruneSpec(device="CUDA:0", precision="bf16", amount=0.5)
    assert spec.device == "cuda:0" and spec.to_dict()["device"] == "cuda:0" and spec.to_dict()["precision"] == "bf16"
    assert TrainSpec().device == "auto" and TrainSpec().precision == "fp32"
    with pytest.raises(CompressError, match="device must be"):
        TrainSpec(device="tpu")


def test_precision_contexts_and_data_placement_on_the_cpu():
    cpu = torch.device("cpu")
    with autocast("fp32", cpu):
        out = nn.Linear(4, 4)(torch.randn(2, 4))
    assert out.dtype == torch.float32 and grad_scaler("bf16", cpu) is None and grad_scaler("fp32", cpu) is None
    with autocast("bf16", cpu):
        assert nn.Linear(4, 4)(torch.randn(2, 4)).dtype == torch.bfloat16  # autocast on the CPU is real
    x = torch.randn(3, 2)
    assert resident(x, cpu) is x
    with gpu_peak_memory(cpu) as peak:
        pass
    assert peak == {}


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cli_refuses_cuda_without_it_in_one_line(tmp_path, device):
    out = subprocess.run([sys.executable, "-m", "compress_core", "train", "--model", "mlp", "--hidden", "8",
                          "--device", device, "--home", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: device") and out.stderr.strip().count("\n") == 0
    assert "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir()), "refused before anything is recorded"


@no_cuda
def test_gpu_tests_are_skipped_not_failed_without_cuda():
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                          "tests/test_gpu.py"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:]
    assert "skipped" in out.stdout and "failed" not in out.stdout and " passed" not in out.stdout
