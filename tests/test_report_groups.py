"""The report on constructed run records: seed spread, accuracy curves, FLOPs columns, unequal budgets."""
from __future__ import annotations

import re

import pytest

from compress_core.present import executive, report_curves, report_groups
from compress_core.present.report import build_report


def _run(i, kind, accuracy, *, seed=0, ratio=4.0, baseline=0.97, n=450, metrics=None, base=None, **spec):
    return {"id": f"r{i:02d}", "kind": kind, "status": "finished", "created_at": i,
            "spec": {"kind": kind, "model": "mlp", "hidden": [32], "dataset": "digits", "seed": seed, **spec},
            "metrics": {"accuracy": accuracy, "baseline_accuracy": baseline, "accuracy_change": accuracy - baseline,
                        "compression_ratio": ratio, "size_bytes": 100_000 / ratio, "test_examples": n,
                        "latency_ms_b1": 0.05, "latency_ms_b64": 0.2, "speedup_b1": 1.0, "speedup_b64": 1.0,
                        **(metrics or {})},
            "baseline": {"size_fp32_bytes": 100_000, "latency_ms_b1": 0.05, "latency_ms_b64": 0.2,
                         "accuracy": baseline, **(base or {})},
            "environment": {"platform": "Linux-test", "torch": "2.13.0"}}


def _sweep(first=0, seeds=(0, 1, 2), amounts=(0.5, 0.8, 0.95)):
    """A prune sweep: 3 amounts x 3 seeds; 50 % keeps the baseline's 97 % on average, seeds differ by a point."""
    runs, i = [], first
    for amount in amounts:
        for seed in seeds:
            runs.append(_run(i, "prune", 0.97 - 0.2 * (amount - 0.5) + 0.01 * (seed - 1), seed=seed, ratio=1 / (1 - amount),
                             amount=amount, finetune_epochs=1))
            i += 1
    return runs


def _section(page, name):
    return page.split(f"<h2>{name}</h2>")[1].split("</section>")[0]


def _rows(section):
    """Table rows as {column: cell text}."""
    return [{k: v.replace("<br>", " ") for k, v in re.findall(r"<td data-label='([^']*)'>(.*?)</td>", row)}
            for row in re.findall(r"<tr>.*?</tr>", section)]


def test_three_seeds_show_the_mean_and_the_spread():
    page = build_report(_sweep())
    rows = [r for r in _rows(_section(page, "Runs by method")) if r]
    assert len(rows) == 3  # one row per amount, not per run
    row = next(r for r in rows if "80" in r["setting"])
    # accuracies 0.90, 0.91, 0.92: mean 91.00 % with the min–max over seeds
    assert row["accuracy"] == "91.00 % (90.00 – 92.00)" and row["seeds"] == "0, 1, 2"
    assert "min–max over seeds" in page


def test_one_seed_shows_a_single_number():
    page = build_report(_sweep(seeds=(0,)))
    row = next(r for r in _rows(_section(page, "Runs by method")) if r and "80" in r.get("setting", ""))
    assert row["accuracy"] == "90.00 %"


def test_a_sweep_becomes_a_curve_with_a_band():
    curves = report_curves.curve_sets(_sweep())
    assert len(curves) == 1 and curves[0]["param"] == "amount" and curves[0]["seeds"] == 3
    page = build_report(_sweep())
    assert "<h2>Accuracy curves</h2>" in page and 'id="curve-0"' in page
    assert len(re.findall(r"^\* plotly\.js v", page, re.M)) == 1  # still embedded once: the file stays offline
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    # two levels are a segment, not a curve
    assert report_curves.curve_sets(_sweep(amounts=(0.5, 0.8))) == []


def test_executive_summary_compares_means_over_seeds():
    runs = _sweep()
    best = executive.recommend(runs)
    # 50 %: 96, 97, 98 % against 97 %: within noise; 80 % and 95 % lose 6 and 9 points: beyond noise
    assert len(best["runs"]) == 3 and best["metrics"]["accuracy"] == pytest.approx(0.97)
    assert best["run"]["spec"]["amount"] == 0.5
    summary = _section(build_report(runs), "Executive summary")
    assert "mean of 3 seeds" in summary and "seeds:" in summary
    assert "3 of 3 settings run with several seeds" in summary


def test_seed_range_across_zero_is_within_noise():
    runs = [_run(i, "prune", acc, seed=i, amount=0.9, finetune_epochs=1, n=10_000)
            for i, acc in enumerate((0.96, 0.975, 0.98))]  # changes -1.0, +0.5, +1.0 points
    best = executive.recommend(runs)
    assert best is not None and executive._within(best)


def test_unequal_budgets_are_flagged_with_a_footnote():
    runs = [_run(1, "prune", 0.96, amount=0.9, finetune_epochs=10),
            _run(2, "quantize", 0.969, ratio=3.6, scheme="int8")]
    flagged, notes = report_groups.budget_flags(runs, lambda r: r["id"])
    assert flagged == {"r01", "r02"} and len(notes) == 1
    assert "r01: fine-tuned 10 epochs" in notes[0] and "r02: no fine-tuning" in notes[0]
    assert "not a like-for-like comparison" in notes[0].lower()
    page = build_report(runs)
    tables = _section(page, "Runs by method")
    assert "fine-tuned 10 epochs †" in tables and "† Unequal fine-tuning budgets on digits" in tables
    assert "Unequal fine-tuning budgets" in _section(page, "Executive summary")


def test_equal_budgets_are_not_flagged():
    runs = [_run(1, "prune", 0.96, amount=0.9, finetune_epochs=3), _run(2, "prune", 0.95, amount=0.95, finetune_epochs=3)]
    assert report_groups.budget_flags(runs, lambda r: r["id"]) == (set(), [])
    assert "†" not in _section(build_report(runs), "Runs by method")


def test_automatic_distill_epochs_read_as_a_number_never_none():
    run = _run(1, "distill", 0.95, teacher="mlp", teacher_hidden=[64], epochs=None, metrics={"student_epochs": 12})
    assert report_groups.finetune_budget(run)[1] == "student trained 12 epochs (automatic)"
    page = build_report([run])
    assert "None ep" not in page and "None" not in _section(page, "Runs by method")


def test_flops_columns_theoretical_beside_measured():
    sparse = _run(1, "prune", 0.96, amount=0.9, finetune_epochs=1,
                  metrics={"flops_nonzero": 10_000, "speedup_b64": 0.98, "flops_dense": 100_000},
                  base={"flops_dense": 100_000})
    old = _run(2, "prune", 0.95, amount=0.95, finetune_epochs=1)  # measured before the FLOPs keys existed
    rows = {r["setting"]: r for r in _rows(_section(build_report([sparse, old]), "Runs by method")) if r}
    new_row = next(r for s, r in rows.items() if "90" in s)
    old_row = next(r for s, r in rows.items() if "95" in s)
    assert new_row["theoretical speed-up (FLOPs)"] == "10×" and new_row["measured speed-up b64"] == "0.98×"
    assert new_row["non-zero FLOPs"] == "10 kFLOPs"
    assert old_row["theoretical speed-up (FLOPs)"] == "—" and old_row["non-zero FLOPs"] == "—"
    baselines = _section(build_report([sparse]), "Baselines")
    assert "dense FLOPs" in baselines and "100 kFLOPs" in baselines


def test_tables_carry_labels_for_the_phone_layout():
    page = build_report(_sweep())
    assert "data-label='accuracy'" in page and "@media (max-width:640px)" in page
