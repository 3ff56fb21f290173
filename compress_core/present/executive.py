"""The report's executive summary: the question, one recommendation, baseline vs recommended with 95 %
intervals, and the caveats, so a manager can read the outcome in a minute.

Accuracy intervals are Wilson score intervals over the test examples. The interval of an accuracy
*change* treats the two accuracies as independent binomials (the normal approximation); the two
models are evaluated on the same examples, so this is conservative: a paired test (needs per-example
predictions, which runs do not store) would give a narrower interval. A change inside its interval
is reported as within noise, with the number of examples it amounts to ("+0.7 points is 3 images of
450").
"""
from __future__ import annotations

import html
import math
from typing import Mapping, Optional, Sequence

from compress_core import fmt
from compress_core.measure import catalogue

Z95 = 1.959964  # two-sided 95 %
NEAR_BASELINE = 0.01  # a recommendation may cost at most one point beyond noise


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def wilson(accuracy: float, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy measured on `n` examples."""
    if not n:
        return (float("nan"), float("nan"))
    centre = (accuracy + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 * math.sqrt(accuracy * (1 - accuracy) / n + Z95 ** 2 / (4 * n * n)) / (1 + Z95 ** 2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def change_interval(accuracy: float, baseline: float, n: int) -> tuple[float, float]:
    """95 % interval of accuracy - baseline, as independent binomials on `n` examples each (conservative)."""
    if not n:
        return (float("nan"), float("nan"))
    se = math.sqrt(accuracy * (1 - accuracy) / n + baseline * (1 - baseline) / n)
    change = accuracy - baseline
    return change - Z95 * se, change + Z95 * se


def within_noise(accuracy: float, baseline: float, n: int) -> bool:
    low, high = change_interval(accuracy, baseline, n)
    return low <= 0 <= high


def noise_phrase(accuracy: float, baseline: float, n: Optional[int]) -> str:
    """'+0.7 points is 3 images of 450: within noise' (or 'beyond noise')."""
    change = accuracy - baseline
    points = f"{100 * change:+.1f} points"
    if not n:
        return f"{points} (test-set size unknown: no interval)"
    examples = round(abs(change) * n)
    verdict = "within noise" if within_noise(accuracy, baseline, n) else "beyond noise"
    low, high = change_interval(accuracy, baseline, n)
    return (f"{points} is {examples} example{'s' if examples != 1 else ''} of {n}: {verdict} "
            f"(95 % interval {100 * low:+.1f} to {100 * high:+.1f})")


def test_examples(run: Mapping) -> Optional[int]:
    """How many test examples the run's accuracy was measured on (stored since the report's executive
    summary; for older runs of a built-in data set, counted from the data set)."""
    n = (run.get("metrics") or {}).get("test_examples")
    if n:
        return int(n)
    dataset = (run.get("spec") or {}).get("dataset")
    try:
        from compress_core.data.datasets import DATASETS, load_dataset

        if dataset in DATASETS and dataset == "digits":  # bundled: cheap to count, no download
            return int(len(load_dataset(dataset).y_test))
    except Exception:  # counting is a convenience; the summary says "unknown" without it
        return None
    return None


def _candidates(runs: Sequence[Mapping]) -> list[dict]:
    rows = []
    for run in runs:
        if run.get("kind") == "train":
            continue
        m = catalogue.upgrade_metrics(run.get("metrics"), run.get("baseline"))
        if m.get("accuracy") is None or m.get("baseline_accuracy") is None or not m.get("compression_ratio"):
            continue
        n = test_examples(run)
        rows.append({"run": run, "metrics": m, "n": n,
                     "noise": within_noise(m["accuracy"], m["baseline_accuracy"], n) if n else None})
    return rows


def acceptable(row: Mapping) -> bool:
    """Not worse than the baseline beyond noise (or, with an unknown test-set size, within one point)."""
    m = row["metrics"]
    if row["n"]:
        _, high = change_interval(m["accuracy"], m["baseline_accuracy"], row["n"])
        return high >= 0  # a drop whose interval reaches zero is not a drop beyond noise
    return m["accuracy"] - m["baseline_accuracy"] >= -NEAR_BASELINE


def recommend(runs: Sequence[Mapping]) -> Optional[dict]:
    """The smallest run whose accuracy is acceptable (see `acceptable`); None when none is. The candidate
    row gets `why`."""
    pool = [r for r in _candidates(runs) if acceptable(r)]
    if not pool:
        return None
    best = max(pool, key=lambda r: r["metrics"]["compression_ratio"])
    best["why"] = ("the smallest model whose accuracy is not worse than its baseline beyond the noise of the test set"
                   if best["n"] else "the smallest model within one point of its baseline (test-set size unknown)")
    return best


def _row(label: str, size, lat1, lat64, acc, n) -> str:
    low, high = wilson(acc, n) if n and acc is not None else (None, None)
    interval = f"<br><span class='muted'>[{_esc(fmt.pct(low, 1))}, {_esc(fmt.pct(high, 1))}]</span>" \
        if low is not None else ""
    return (f"<tr><td>{_esc(label)}</td><td>{_esc(fmt.size(size))}</td><td>{_esc(fmt.ms(lat1))}</td>"
            f"<td>{_esc(fmt.ms(lat64))}</td><td>{_esc(fmt.pct(acc, 2))}{interval}</td></tr>")


def caveats(runs: Sequence[Mapping], n: Optional[int]) -> list[str]:
    """Seeds, test-set size, the machine, and unequal fine-tuning budgets among the runs compared."""
    seeds = {}
    for run in runs:
        spec = dict(run.get("spec") or {})
        seed = spec.pop("seed", 0)
        seeds.setdefault(repr(sorted(spec.items())), set()).add(seed)
    most = max((len(s) for s in seeds.values()), default=0)
    out = [f"Seeds: {'one seed per setting: no spread measured, so the intervals below are test-set noise only' if most <= 1 else f'up to {most} seeds per setting; tables show each run'}.",
           f"Test set: {n} examples, so one example is {fmt.pct(1 / n, 2)} of accuracy." if n else
           "Test set: size not recorded for these runs."]
    env = next((r.get("environment") for r in runs if r.get("environment")), {}) or {}
    threads = next(((r.get("metrics") or {}).get("threads") for r in runs if (r.get("metrics") or {}).get("threads")),
                   None)
    out.append(f"Machine: {env.get('platform', 'unknown platform')}, torch {env.get('torch', '?')}"
               + (f", {threads} thread(s)" if threads else "") + "; latencies are medians on this machine only.")
    budgets = {(r.get("spec") or {}).get("finetune_epochs") for r in runs if r.get("kind") in ("prune",)}
    budgets.discard(None)
    if len(budgets) > 1:
        out.append(f"Unequal fine-tuning budgets among the pruning runs ({', '.join(map(str, sorted(budgets)))} "
                   "epochs): compare accuracies with care.")
    return out


def executive_summary(runs: Sequence[Mapping], label_of) -> str:
    """HTML of the summary; `label_of(run)` names a run's method and setting."""
    compressed = [r for r in runs if r.get("kind") != "train"]
    models = sorted({str((r.get("spec") or {}).get("model")) for r in compressed})
    datasets = sorted({str((r.get("spec") or {}).get("dataset")) for r in compressed})
    question = (f"Which compression of {', '.join(models) or 'the model'} on {', '.join(datasets) or 'the data'} "
                "gives the smallest model at the baseline's accuracy?")
    best = recommend(runs)
    if best is None:
        return (f"<p><b>Question.</b> {_esc(question)}</p><p><b>Recommendation:</b> none of these runs keeps its "
                "baseline's accuracy; keep the baseline, or try milder settings.</p>")
    run, m, n = best["run"], best["metrics"], best["n"]
    base = run.get("baseline") or {}
    all_noise = all(r["noise"] for r in _candidates(runs) if r["n"])
    line = (f"use <b>{_esc(label_of(run))}</b> (run <code>{_esc(run['id'])}</code>): "
            f"{m['compression_ratio']:.1f}× smaller, accuracy {_esc(noise_phrase(m['accuracy'], m['baseline_accuracy'], n))}.")
    if all_noise:
        line += (" Every run here is within noise of its baseline, so accuracy does not separate them: the choice "
                 "rests on size and speed.")
    table = ("<table class='exec'><tr><th></th><th>size</th><th>latency b1</th><th>latency b64</th>"
             "<th>accuracy<br>[95 % interval]</th></tr>"
             + _row("baseline (fp32)", base.get("size_fp32_bytes"), base.get("latency_ms_b1"), base.get("latency_ms_b64"),
                    m["baseline_accuracy"], n)
             + _row("recommended", m.get("size_bytes"), m.get("latency_ms_b1"), m.get("latency_ms_b64"), m["accuracy"], n)
             + "</table>")
    items = "".join(f"<li>{_esc(c)}</li>" for c in caveats(runs, n))
    return (f"<p><b>Question.</b> {_esc(question)}</p><p><b>Recommendation:</b> {line}</p>"
            f"<p class='muted'>Why this one: {_esc(best['why'])}.</p>{table}"
            f"<p><b>Caveats</b></p><ul>{items}</ul>")


GLOSSARY = [
    ("b1, b64", "batch size 1 and 64: one input at a time (interactive use) and 64 inputs per call (throughput)."),
    ("speed-up", "the baseline's latency divided by the run's, both measured on the same machine in the same "
                 "runtime; below 1 means slower."),
    ("× smaller", "the baseline's fp32 file size divided by the run's smallest measured file."),
    ("total / non-zero", "all parameters, and those that are not zero after pruning (only non-zeros need storing "
                         "in a sparse file, plus where they are)."),
    ("95 % interval", "the range of accuracies consistent with this test set's size; differences inside it are "
                      "noise."),
    ("FLOPs", "floating-point operations of one input's forward pass (2 per multiply-add); the theoretical "
              "speed-up is the FLOPs ratio an ideal sparse kernel would give."),
]


def glossary_html() -> str:
    return "<dl class='glossary'>" + "".join(f"<dt>{_esc(t)}</dt><dd>{_esc(d)}</dd>" for t, d in GLOSSARY) + "</dl>"
