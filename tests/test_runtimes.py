"""The one timing path (compress_core.measure.runtimes): paired forms, IQR, unavailable forms."""
from __future__ import annotations

import torch
from torch import nn

from compress_core.measure import runtimes
from compress_core.measure.metrics import paired_latencies
from compress_core.measure.runtimes import Form, ort_form, speedup, summarize, time_forms, torch_form


def test_summarize_gives_median_and_iqr_in_ms():
    s = summarize([0.001, 0.002, 0.003, 0.004, 0.005])
    assert s["median_ms"] == 3.0 and s["q1_ms"] == 2.0 and s["q3_ms"] == 4.0 and s["iqr_ms"] == 2.0
    assert s["calls"] == 5


def test_forms_are_called_in_alternation_on_the_same_inputs():
    order, seen = [], {}

    def recorder(name):
        def build(threads):
            def call(x):
                order.append(name)
                seen.setdefault(name, x.clone())
            return call
        return build
    timed = time_forms([Form("a", "torch", recorder("a")), Form("b", "torch", recorder("b"))], (3,), 2,
                       repeats=4, warmup=1)
    # The probing call and one warm-up round in order, then four timed rounds, each starting one form later.
    assert order == ["a", "b"] * 2 + ["a", "b", "b", "a"] * 2
    assert torch.equal(seen["a"], seen["b"])
    assert timed["a"]["calls"] == timed["b"]["calls"] == 4


def test_threads_are_applied_and_restored():
    before = torch.get_num_threads()
    inside = []
    form = Form("t", "torch", lambda threads: (lambda x: inside.append(torch.get_num_threads())))
    timed = time_forms([form], (2,), 1, threads=1, repeats=2, warmup=0)
    assert set(inside) == {1} and timed["t"]["threads"] == 1
    assert torch.get_num_threads() == before


def test_a_form_without_a_kernel_is_not_available_not_an_error():
    def no_kernel(threads):
        def call(x):
            raise NotImplementedError("no CSR kernel for this layout")
        return call
    model = nn.Linear(4, 2)
    timed = time_forms([torch_form("dense", model), Form("sparse", "torch-sparse", no_kernel),
                        Form("gone", "onnxruntime", unavailable="not available here: no runtime")], (4,), 8, repeats=3)
    assert timed["dense"]["available"] and timed["dense"]["median_ms"] > 0
    assert timed["sparse"] == {"available": False, "reason": "not available here: no CSR kernel for this layout"}
    assert timed["gone"]["reason"].startswith(runtimes.NOT_AVAILABLE)
    assert speedup(timed["dense"], timed["sparse"]) is None


def test_onnx_runtime_form_times_an_exported_model(tmp_path):
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (torch.zeros(1, 6),), str(path), dynamo=False, input_names=["input"],
                      dynamic_axes={"input": {0: "batch"}})
    timed = time_forms([torch_form("torch", model), ort_form("ort", path)], (6,), 4, threads=1, repeats=3)
    assert timed["ort"]["available"] and timed["ort"]["runtime"] == "onnxruntime"
    assert speedup(timed["torch"], timed["ort"]) > 0


def test_paired_latencies_keeps_its_contract_and_training_mode():
    a, b = nn.Linear(8, 2).train(), nn.Linear(8, 2).eval()
    ta, tb = paired_latencies(a, b, (8,), 5)
    assert set(ta) == set(tb) == {"latency_ms_b1", "latency_ms_b64"}
    assert a.training and not b.training
