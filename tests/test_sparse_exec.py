"""Sparse execution of pruned models (compress_core.methods.sparse_exec): same outputs, measured choices."""
from __future__ import annotations

import torch
from torch import nn

from compress_core import api
from compress_core.methods import sparse_exec
from compress_core.methods.prune import make_permanent, prune_to
from compress_core.methods.sparse_exec import SparseLinear, choose_layers, sparse_form, to_sparse


def _pruned_mlp(amount=0.9, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    prune_to(model, "l1", "global", amount)
    return make_permanent(model).eval()


def test_sparse_linear_matches_the_masked_layer():
    model = _pruned_mlp()
    layer = model[1]
    x = torch.randn(33, 64)
    sparse = SparseLinear(layer)
    assert sparse.weight_csr.layout == torch.sparse_csr
    assert sparse.weight_csr.values().numel() == int(torch.count_nonzero(layer.weight))
    assert (sparse(x) - layer(x)).abs().max() <= 1e-4
    assert (sparse(x[:1]) - layer(x[:1])).abs().max() <= 1e-4


def test_sparse_form_of_a_whole_model_gives_the_masked_outputs():
    model = _pruned_mlp(0.95)
    sparse = to_sparse(model, ["1", "3", "5"])
    assert all(isinstance(sparse[i], SparseLinear) for i in (1, 3, 5))
    x = torch.randn(64, 1, 8, 8)
    with torch.no_grad():
        assert (sparse(x) - model(x)).abs().max() <= 1e-4
    assert isinstance(model[1], nn.Linear)  # the original is left untouched


def test_layers_go_sparse_only_where_measured_faster(monkeypatch):
    model = _pruned_mlp()
    model[5].weight.data.fill_(1.0)  # dense: never timed, never sparse
    rows = choose_layers(model, 8, repeats=3)
    assert [r["name"] for r in rows] == ["1", "3", "5"]
    assert rows[2]["sparsity"] == 0 and not rows[2]["sparse"] and "speedup" not in rows[2]
    for row in rows[:2]:
        assert row["sparse"] == (row["speedup"] >= sparse_exec.MIN_GAIN)
    # With the gain bar out of reach nothing goes sparse, and the form is the dense model.
    monkeypatch.setattr(sparse_exec, "MIN_GAIN", float("inf"))
    form, rows = sparse_form(model, 8, repeats=3)
    assert not any(r["sparse"] for r in rows) and not any(isinstance(m, SparseLinear) for m in form.modules())


def test_no_sparse_kernel_is_not_available_not_an_error(monkeypatch):
    def no_kernel(self, x):
        raise NotImplementedError("Could not run 'aten::addmm' with arguments from the 'SparseCsrCPU' backend")

    monkeypatch.setattr(SparseLinear, "forward", no_kernel)
    measures = sparse_exec.sparse_measures(_pruned_mlp(), (1, 8, 8), repeats=5)
    assert measures["sparse_speedup_b64"] is None and measures["sparse_layers"] == []
    assert measures["sparse_kernel"].startswith("not available here: Could not run")


def test_prune_run_reports_the_sparse_form(lab_home):
    result = api.run({"kind": "prune", "model": "lenet300", "dataset": "digits", "amount": 0.95,
                      "baseline_epochs": 2, "finetune_epochs": 0}, home=lab_home)
    m = result.metrics
    for key in ("sparse_speedup_b1", "sparse_speedup_b64"):
        assert m[key] > 0
    names = {r["name"] for r in result.layers}
    assert set(m["sparse_layers"]) <= names and set(m["sparse_layers_b1"]) <= names
    if not m["sparse_layers"]:
        assert m["sparse_speedup_b64"] == 1.0
    assert any(n.startswith("sparse form:") for n in result.notes)
