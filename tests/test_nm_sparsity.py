"""N:M semi-structured sparsity on the CPU: the mask, fine-tuning keeps it, layers left dense, the honest result."""
import json
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

import compress_core
from compress_core.data.datasets import Dataset
from compress_core.errors import CompressError
from compress_core.methods.nm_sparsity import (
    NEEDS_GPU,
    apply_nm,
    follows_pattern,
    kernel_shape_problem,
    largest_linears,
    nm_mask,
    parse_pattern,
    semi_structured_measures,
    split_layers,
)
from compress_core.methods.prune import make_permanent
from compress_core.specs import PruneSpec
from compress_core.training.loop import FitConfig, fit


def _groups(weight, m):
    """(out, groups, m) along the input dimension (a convolution's input channels at each kernel position)."""
    rows = weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1) if weight.dim() == 4 else weight
    return rows.reshape(rows.shape[0], -1, m)


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (1, 4)])
def test_mask_keeps_exactly_n_of_every_m_along_the_input_dimension(n, m):
    torch.manual_seed(0)
    scores = torch.randn(12, 32)
    mask = nm_mask(scores, n, m)
    assert mask.shape == scores.shape
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert (_groups(mask, m).sum(-1) == n).all()
    # the kept ones are the n largest |score| of their group
    kept = (_groups(scores.abs(), m) * _groups(mask, m)).masked_fill(_groups(mask, m) == 0, float("inf")).amin(-1)
    dropped = (_groups(scores.abs(), m) * (1 - _groups(mask, m))).amax(-1)
    assert (kept >= dropped).all()


def test_mask_groups_run_along_the_input_dimension_not_the_output():
    scores = torch.zeros(4, 8)
    scores[:, 0] = scores[:, 1] = 5.0  # the first two inputs of every row are largest
    mask = nm_mask(scores, 2, 4)
    assert mask[:, :2].all() and not mask[:, 2:4].any()  # group 1: columns 0-3
    assert (mask[:, 4:].sum(1) == 2).all()  # group 2: columns 4-7, its own two
    conv = torch.randn(6, 8, 3, 3)
    cmask = nm_mask(conv, 2, 4)
    assert (_groups(cmask, 4).sum(-1) == 2).all()  # each group = 4 input channels at one kernel position


def test_ties_still_keep_exactly_n():
    assert (_groups(nm_mask(torch.ones(3, 16), 2, 4), 4).sum(-1) == 2).all()


@pytest.mark.parametrize("text", ["2:2", "0:4", "5:4", "2/4", "2:64", "", None, "a:b"])
def test_bad_patterns_are_one_line(text):
    with pytest.raises(CompressError) as err:
        parse_pattern(text)
    assert "\n" not in str(err.value) and "N:M" in str(err.value)


def _odd_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def test_a_layer_whose_input_is_not_a_multiple_of_m_stays_dense_and_is_listed():
    model = _odd_model()
    before = model[0].weight.detach().clone()
    dense = apply_nm(model, 2, 4)
    assert dense == [("0", "input dimension 10 is not a multiple of 4")]
    assert torch.equal(model[0].weight, before)  # untouched (an all-ones mask, like every unpruned layer)
    assert follows_pattern(model[2].weight, 2, 4) and follows_pattern(model[4].weight, 2, 4)
    assert all(torch_prune.is_pruned(m) for m in (model[0], model[2], model[4]))
    with pytest.raises(CompressError, match="not a multiple of 8"):
        nm_mask(torch.ones(3, 12), 4, 8)
    eligible, dense8 = split_layers(model, 8)
    assert [name for name, _ in eligible] == ["2", "4"] and dense8[0][0] == "0"


def _tiny_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 16, generator=g)
    y = (x[:, :4].sum(1) > 0).long() + (x[:, 4:8].sum(1) > 0).long()
    return Dataset("tiny", x[:192], y[:192], x[192:], y[192:], (16,), ("a", "b", "c"), False)


@pytest.mark.parametrize("method", ["l1", "wanda"])
def test_fine_tuning_keeps_the_pattern(method):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))
    data = _tiny_data()
    apply_nm(model, 2, 4, method, calibration=data.x_train[:64])
    before = model[0].weight.detach().clone()
    fit(model, data, FitConfig(epochs=3, lr=1e-2), device=torch.device("cpu"))
    assert not torch.equal(model[0].weight, before), "fine-tuning changed the kept weights"
    make_permanent(model)
    for layer in (model[0], model[2]):
        assert follows_pattern(layer.weight, 2, 4)
        assert (_groups(layer.weight, 4) != 0).sum(-1).max() == 2


def test_kernel_shape_problems_are_named():
    assert "multiple of 64" in kernel_shape_problem(nn.Linear(60, 64))
    assert "multiple of 32" in kernel_shape_problem(nn.Linear(64, 40))
    ok = nn.Linear(64, 64)
    with torch.no_grad():
        ok.weight.mul_(nm_mask(ok.weight, 2, 4))
    assert kernel_shape_problem(ok) is None
    assert "2:4 pattern" in kernel_shape_problem(nn.Linear(64, 64))  # dense weights: not 2:4
    names = [n for n, _ in largest_linears(nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 64), nn.Linear(64, 8)), 2)]
    assert names == ["1", "2"] or names == ["2", "1"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU answer")
def test_without_a_gpu_nothing_is_timed_and_the_reason_is_given():
    model = nn.Sequential(nn.Linear(64, 64))
    report = semi_structured_measures(model, (64,))
    assert report.metrics["semi_structured"].startswith(NEEDS_GPU)
    assert not [k for k in report.metrics if k.startswith("semi_speedup")]
    assert report.model_rows == [] and report.layer_rows == []


def test_prune_spec_pattern_sets_the_amount_and_refuses_what_does_not_combine():
    assert PruneSpec(pattern="2:4").amount == 0.5
    assert PruneSpec(pattern="1:4", amount=0.75).amount == 0.75
    for bad in (dict(pattern="2:4", method="structured"), dict(pattern="2:4", schedule="agp"),
                dict(pattern="2:4", amount=0.9), dict(pattern="x")):
        with pytest.raises(CompressError) as err:
            PruneSpec(**bad)
        assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU answer")
def test_prune_run_with_pattern_on_cpu(tmp_path):
    spec = PruneSpec(model="mlp", hidden=(32,), dataset="digits", pattern="2:4", method="wanda", finetune_epochs=1,
                     baseline_epochs=2, device="cpu")
    result = compress_core.run(spec, home=tmp_path, artifacts_dir=tmp_path / "art")
    m = result.metrics
    assert m["nm_pattern"] == "2:4" and m["nm_dense_layers"] == "none"
    assert m["sparsity"] == pytest.approx(0.5, abs=0.01)  # both Linear layers (64 and 32 inputs) are 2:4
    assert m["semi_structured"].startswith(NEEDS_GPU)
    assert not [k for k in m if k.startswith("semi_speedup")]
    assert any("no faster" in note for note in result.notes)  # masks are never called a speed-up
    state = torch.load(result.artifacts["weights"], weights_only=True)
    assert follows_pattern(state["net.1.weight"], 2, 4) and follows_pattern(state["net.3.weight"], 2, 4)
    assert result.environment["device"] == "cpu" and "gpu_peak_memory_bytes" not in m


def test_cli_pattern_and_its_errors(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "compress_core", "prune", "--model", "mlp", "--hidden", "16",
                               "--home", str(tmp_path), *args], capture_output=True, text=True, timeout=600)

    bad = cli("--pattern", "3:3")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "pattern" in bad.stderr
    none = cli()
    assert none.returncode == 2 and "--pattern" in none.stderr
    ok = cli("--pattern", "4:8", "--method", "l1", "--finetune-epochs", "1", "--baseline-epochs", "1", "--json")
    assert ok.returncode == 0, ok.stderr
    metrics = json.loads(ok.stdout)["metrics"]
    assert metrics["nm_pattern"] == "4:8" and "masks only" in metrics["semi_structured"]
