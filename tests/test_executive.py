"""The report's executive summary: a clear winner, all differences within noise, intervals by hand."""
from __future__ import annotations

import math

import pytest

from compress_core.present import executive
from compress_core.present.report import build_report


def _run(i, kind, ratio, accuracy, baseline=0.978, n=450, **spec):
    return {"id": f"r{i}", "kind": kind, "status": "finished", "created_at": i,
            "spec": {"kind": kind, "model": "lenet300", "dataset": "digits", "seed": 0, **spec},
            "metrics": {"accuracy": accuracy, "baseline_accuracy": baseline, "accuracy_change": accuracy - baseline,
                        "compression_ratio": ratio, "size_bytes": 205_000 / ratio, "test_examples": n,
                        "latency_ms_b1": 0.05, "latency_ms_b64": 0.2},
            "baseline": {"size_fp32_bytes": 205_000, "latency_ms_b1": 0.05, "latency_ms_b64": 0.2,
                         "accuracy": baseline},
            "environment": {"platform": "Linux-test", "torch": "2.13.0"}}


def test_wilson_interval_by_hand():
    low, high = executive.wilson(0.9, 100)
    # Wilson 95 % for 90/100: 0.8256 to 0.9448 (standard tables)
    assert low == pytest.approx(0.8256, abs=1e-3) and high == pytest.approx(0.9448, abs=1e-3)


def test_noise_phrase_counts_examples():
    text = executive.noise_phrase(0.9844, 0.9778, 450)  # +3 images of 450
    assert text.startswith("+0.7 points is 3 examples of 450: within noise")
    assert "beyond noise" in executive.noise_phrase(0.90, 0.978, 450)


def test_clear_winner_is_recommended():
    runs = [_run(1, "prune", 9.0, 0.9756, amount=0.9, finetune_epochs=3),     # 9x, -0.2 pt: within noise
            _run(2, "prune", 50.0, 0.80, amount=0.98, finetune_epochs=3),     # 50x but -17.8 pt: beyond noise
            _run(3, "quantize", 3.6, 0.9778, scheme="int8")]
    best = executive.recommend(runs)
    assert best["run"]["id"] == "r1"
    html = build_report(runs)
    summary = html.split("<h2>Executive summary</h2>")[1].split("</section>")[0]
    assert "r1" in summary and "9.0× smaller" in summary
    assert "within noise" in summary and "[" in summary  # the accuracy interval in the table
    assert "Every run here is within noise" not in summary


def test_all_within_noise_says_so():
    runs = [_run(1, "prune", 4.0, 0.9778, amount=0.5), _run(2, "prune", 6.0, 0.9756, amount=0.7),
            _run(3, "quantize", 3.6, 0.98, scheme="int8")]
    summary = build_report(runs).split("<h2>Executive summary</h2>")[1].split("</section>")[0]
    assert "r2" in summary  # the smallest, since accuracy does not separate them
    assert "Every run here is within noise of its baseline" in summary


def test_no_acceptable_run_keeps_the_baseline():
    runs = [_run(1, "prune", 50.0, 0.5, amount=0.99)]
    summary = build_report(runs).split("<h2>Executive summary</h2>")[1].split("</section>")[0]
    assert "keep the baseline" in summary


def test_caveats_flag_single_seed_and_unequal_budgets():
    runs = [_run(1, "prune", 9.0, 0.9756, amount=0.9, finetune_epochs=3),
            _run(2, "prune", 9.0, 0.9756, amount=0.9, finetune_epochs=10)]
    text = " ".join(executive.caveats(runs, 450))
    assert "one seed per setting" in text and "Unequal fine-tuning budgets" in text and "450 examples" in text


def test_report_has_a_glossary_and_a_print_stylesheet():
    html = build_report([_run(1, "prune", 9.0, 0.9756, amount=0.9)])
    assert "<h2>Glossary</h2>" in html and "b1, b64" in html and "@media print" in html
    assert math.isfinite(executive.change_interval(0.9, 0.95, 450)[0])
