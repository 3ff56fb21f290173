"""Sparse execution of unstructured-pruned models: CSR Linear layers where they are faster.

Masks leave dense kernels doing every multiply, so a pruned model is no faster. Here a
pruned Linear layer's weight is stored as a CSR matrix (`torch.sparse_csr`) and its
forward runs `torch.addmm(bias, W_csr, x^T)^T`, a real sparse kernel. Whether that beats
the dense GEMM depends on the sparsity, the layer's shape, the batch size and the
machine, so each layer is converted only where it is *measured* faster at the batch size
asked (dense and sparse layer timed in alternation on the same inputs).

Convolutions stay dense: PyTorch has no CPU sparse convolution kernel.

Note:
    CSR indices are int64 in PyTorch, so the CSR form is larger than the dense weight
    below ~67 % sparsity; `size_sparse_bytes` (bitmap encoding) is the storage figure.
"""
from __future__ import annotations

import copy
import warnings
from typing import Optional, Sequence

import torch
from torch import nn

from compress_core.measure.runtimes import Form, speedup, time_forms, torch_form

SPARSE_NOTE = ("sparse form: Linear layers stored as CSR and run with torch.addmm where measured at least 5 % faster "
               "at that batch size (sparse_layers at batch 64, sparse_layers_b1 at batch 1); sparse_speedup_b1/b64 "
               "time that whole form against the dense model in alternation, both torch eager (1.0: no layer won, "
               "the form is the dense model)")
MIN_GAIN = 1.05  # a layer goes sparse only when measured at least 5 % faster (timing noise is a few %)


class SparseLinear(nn.Module):
    """A Linear layer whose weight is a CSR matrix; same outputs as the dense layer (fp32 rounding aside)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach()
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state": torch developers' notice
            warnings.simplefilter("ignore", UserWarning)
            self.register_buffer("weight_csr", weight.to_sparse_csr())
        bias = linear.bias.detach() if linear.bias is not None else torch.zeros(weight.shape[0], dtype=weight.dtype,
                                                                                device=weight.device)
        self.register_buffer("bias_column", bias.reshape(-1, 1).clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        out = torch.addmm(self.bias_column, self.weight_csr, flat.t()).t()
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        nnz = self.weight_csr.values().numel()
        return f"in_features={self.in_features}, out_features={self.out_features}, nnz={nnz}, layout=CSR"


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def layer_sparsity(linear: nn.Linear) -> float:
    w = linear.weight.detach()
    return 1 - int(torch.count_nonzero(w)) / max(w.numel(), 1)


def choose_layers(model: nn.Module, batch: int, *, repeats: int = 20, threads: Optional[int] = None,
                  min_sparsity: float = 0.5) -> list[dict]:
    """One row per Linear layer: its sparsity, dense and CSR latency at `batch`, and whether it goes sparse.

    Layers under `min_sparsity` are not timed (CSR cannot win there). A layer goes sparse
    when the CSR form is at least `MIN_GAIN` times faster, timed in alternation.
    """
    rows = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        row = {"name": name, "shape": list(module.weight.shape), "sparsity": layer_sparsity(module), "sparse": False}
        if row["sparsity"] >= min_sparsity:
            sparse = SparseLinear(module)
            timed = time_forms([torch_form("dense", module), torch_form("csr", sparse, "torch-sparse")],
                               (module.in_features,), batch, repeats=repeats, threads=threads)
            gain = speedup(timed["dense"], timed["csr"])
            row.update(dense_ms=timed["dense"].get("median_ms"), sparse_ms=timed["csr"].get("median_ms"),
                       speedup=gain, sparse=gain is not None and gain >= MIN_GAIN)
            if gain is None:
                row["reason"] = timed["csr"]["reason"]
        rows.append(row)
    return rows


def to_sparse(model: nn.Module, layers: Sequence[str]) -> nn.Module:
    """A copy of `model` (masks folded in) whose Linear layers named in `layers` use CSR weights."""
    sparse = copy.deepcopy(model).eval()
    for name in layers:
        _set(sparse, name, SparseLinear(sparse.get_submodule(name)))
    return sparse


def sparse_form(model: nn.Module, batch: int, *, repeats: int = 20, threads: Optional[int] = None) -> tuple[nn.Module, list[dict]]:
    """(the model with CSR layers where measured faster at `batch`, the per-layer rows behind the choice)."""
    rows = choose_layers(model, batch, repeats=repeats, threads=threads)
    return to_sparse(model, [r["name"] for r in rows if r["sparse"]]), rows


def sparse_measures(model: nn.Module, input_shape: Sequence[int], repeats: int = 30) -> dict:
    """What a pruned model's sparse form gains, for a prune run's metrics.

    Per batch size (1 and 64) the layers are chosen at that batch, then the whole sparse
    form is timed against the dense model in alternation (torch eager, same inputs):
    `sparse_speedup_b1`/`sparse_speedup_b64` (dense / sparse latency; exactly 1.0 when no
    layer won, as the form then *is* the dense model), `sparse_layers` (the layers chosen at
    batch 64) and `sparse_layers_b1`.
    """
    model = model.eval()
    out: dict = {}
    for batch in (1, 64):
        calls = repeats if batch == 1 else max(5, repeats // 3)
        sparse, rows = sparse_form(model, batch, repeats=max(5, calls // 2))
        chosen = [r["name"] for r in rows if r["sparse"]]
        if chosen:
            timed = time_forms([torch_form("dense", model), torch_form("sparse", sparse, "torch-sparse")],
                               input_shape, batch, repeats=calls)
            gain = speedup(timed["dense"], timed["sparse"])
            out[f"sparse_latency_ms_b{batch}"] = timed["sparse"].get("median_ms")
        else:
            gain = 1.0
        out[f"sparse_speedup_b{batch}"] = gain
        out["sparse_layers" if batch == 64 else "sparse_layers_b1"] = chosen
        missing = sorted({r["reason"] for r in rows if r.get("reason")})
        if missing:  # no sparse kernel on this machine: say so, claim nothing
            out[f"sparse_speedup_b{batch}"] = None
            out["sparse_kernel"] = missing[0]
    return out


def form(name: str, model: nn.Module, batch: int, *, repeats: int = 10, threads: Optional[int] = None) -> Form:
    """A `runtimes.Form` of `model`'s sparse form chosen at `batch` (for the speed table)."""
    sparse, rows = sparse_form(model, batch, repeats=repeats, threads=threads)
    if not any(r["sparse"] for r in rows):
        reasons = {r.get("reason") for r in rows if r.get("reason")}
        if reasons:
            return Form(name, "torch-sparse", unavailable=sorted(reasons)[0])
    return torch_form(name, sparse, "torch-sparse")
