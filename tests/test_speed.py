"""The speed command (compress_core.measure.speed, cli/speed_commands) and its presentation."""
from __future__ import annotations

import json

import pytest
from torch import nn

from compress_core.cli import main as cli
from compress_core.measure.speed import (
    break_even,
    break_even_sparsity,
    load_speed,
    thread_counts,
)
from compress_core.present.report import build_report, report_runs
from compress_core.present.speed import (
    break_even_figure,
    latency_figure,
    verdict,
    verdicts,
)
from compress_core.runs import jobs

QUICK = ["--batches", "1,8", "--threads", "1,all", "--repeats", "3", "--break-even-batch", "8"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("speed_home")
    specs = {"prune": {"kind": "prune", "model": "mlp", "hidden": [32], "dataset": "digits", "amount": 0.9,
                       "baseline_epochs": 1, "finetune_epochs": 0},
             "int8": {"kind": "quantize", "model": "mlp", "hidden": [32], "dataset": "digits", "scheme": "int8",
                      "baseline_epochs": 1}}
    return home, {name: jobs.record_foreground(spec, home=home)["id"] for name, spec in specs.items()}


def _speed(capsys, *argv):
    assert cli.main(["speed", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_speed_json_holds_every_form_batch_threads_cell(runs, capsys):
    home, ids = runs
    out = _speed(capsys, ids["prune"], "--home", str(home), *QUICK)
    names = [f["name"] for f in out["forms"]]
    assert names[:2] == ["baseline · torch", "baseline · onnxruntime"] and "run · sparse CSR" in names
    assert any(n.startswith("run · torch (masked") for n in names) and "run · onnxruntime" in names
    threads = thread_counts("1,all")
    cells = {(c["form"], c["batch"], c["threads"]): c for c in out["cells"]}
    assert set(cells) == {(n, b, t) for n in names for b in (1, 8) for t in threads}
    for cell in cells.values():
        if cell["available"]:
            assert cell["median_ms"] > 0 and cell["iqr_ms"] >= 0 and cell["q1_ms"] <= cell["median_ms"] <= cell["q3_ms"]
        else:
            assert cell["reason"].startswith("not available here")
    assert cells[("baseline · torch", 8, 1)]["speedup"] == pytest.approx(1.0)
    assert out["break_even"]["batch"] == 8 and out["break_even"]["layers"][0]["shape"] == [32, 64]
    # Stored with the run, so the report and the Speed page can show it.
    assert load_speed(jobs.get(ids["prune"], home), home)["cells"] == out["cells"]
    html = build_report(report_runs(home, [ids["prune"], ids["int8"]]))
    section = html[html.index("Deploy speed"):]
    assert ids["prune"] in section and "run · sparse CSR" in section and ids["int8"] not in section.split("<h2>")[1]


def test_int8_run_times_its_onnx_file(runs, capsys):
    home, ids = runs
    out = _speed(capsys, ids["int8"], "--home", str(home), "--batches", "8", "--threads", "1", "--repeats", "3",
                 "--break-even-batch", "0")
    cell = next(c for c in out["cells"] if c["form"] == "run · int8 onnxruntime")
    assert cell["available"] and cell["runtime"] == "onnxruntime" and "break_even" not in out
    baseline_ort = next(c for c in out["cells"] if c["form"] == "baseline · onnxruntime")
    assert cell["speedup"] == pytest.approx(baseline_ort["median_ms"] / cell["median_ms"])


def test_speed_of_an_untrained_model(capsys):
    out = _speed(capsys, "--model", "lenet5", "--batches", "1", "--threads", "1", "--repeats", "2",
                 "--break-even-batch", "0")
    assert [c["form"] for c in out["cells"]] == ["model · torch", "model · onnxruntime", "model · int8 onnxruntime",
                                                "model · torch bf16", "model · torch fp16"]
    assert all(c["available"] for c in out["cells"])


@pytest.mark.parametrize("argv, message", [
    (["--batches", "0"], "batch size must be a whole number from 1 to 4096"),
    (["--threads", "two"], "threads must be a whole number"),
    ([], "give either a run id or --model NAME"),
])
def test_bad_speed_options_are_one_line_errors(capsys, argv, message):
    assert cli.main(["speed", *argv] + ([] if not argv else ["--model", "mlp"])) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_break_even_sparsity_interpolates_and_needs_a_lasting_win():
    pts = [{"sparsity": s, "speedup": v} for s, v in ((0.5, 0.4), (0.8, 0.8), (0.9, 1.2), (0.99, 3.0))]
    assert break_even_sparsity(pts) == pytest.approx(0.85)
    pts[-1]["speedup"] = 0.9  # loses again at the end: no break-even
    assert break_even_sparsity(pts) is None
    assert break_even_sparsity([{"sparsity": 0.5, "speedup": 1.5}]) == 0.5


def test_break_even_measures_the_largest_layers():
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 256), nn.ReLU(), nn.Linear(256, 4))
    be = break_even(model, 4, sparsities=(0.5, 0.9), layers=2, repeats=2)
    assert [layer["name"] for layer in be["layers"]] == ["2", "4"]  # 256x8 weights, then 4x256
    assert [p["sparsity"] for p in be["layers"][0]["points"]] == [0.5, 0.9]
    assert all(p["speedup"] > 0 for layer in be["layers"] for p in layer["points"])
    assert len(break_even_figure(be).data) == 2


@pytest.mark.parametrize("speedups, text, good", [
    ({1: 0.5, 8: 1.3, 64: 2.0}, "faster from batch 8 up (2.00× at 64); slower at batch 1: per-call overhead", True),
    ({1: 1.2, 64: 1.5}, "faster at every batch size (1.20× at 1, 1.50× at 64)", True),
    ({1: 0.5, 64: 0.8}, "slower at every batch size (0.80× at best, batch 64)", False),
    ({1: 1.0, 64: 1.01}, "the same speed within 5 % (no gain)", None),
    ({1: None}, "not available here", None),
])
def test_verdicts_are_plain_sentences(speedups, text, good):
    assert verdict(speedups) == (text, good)


def test_verdicts_and_figure_of_a_result():
    def cell(form, role, runtime, batch, ms):
        return {"form": form, "role": role, "runtime": runtime, "batch": batch, "threads": 2, "available": True,
                "median_ms": ms, "q1_ms": ms * 0.9, "q3_ms": ms * 1.1, "iqr_ms": ms * 0.2,
                "speedup": {"b": 1.0}.get(role[0], None)}
    cells = [cell("baseline · torch", "baseline", "torch", b, ms) for b, ms in ((1, 1.0), (64, 8.0))]
    cells += [cell("baseline · onnxruntime", "baseline", "onnxruntime", b, ms) for b, ms in ((1, 0.5), (64, 6.0))]
    cells += [{**cell("run · sparse CSR", "compressed", "torch-sparse", b, ms), "speedup": s}
              for b, ms, s in ((1, 2.0, 0.5), (64, 4.0, 2.0))]
    found = {v["form"]: v for v in verdicts({"cells": cells})}
    assert found["run · sparse CSR"]["verdict"].startswith("faster from batch 64 up")
    assert found["baseline · onnxruntime"]["verdict"] == "faster at every batch size (2.00× at 1, 1.33× at 64)"
    fig = latency_figure({"cells": cells})
    assert [t.name for t in fig.data] == ["baseline · torch", "baseline · onnxruntime", "run · sparse CSR"]
    assert list(fig.data[2].y) == [2.0, 4.0]
