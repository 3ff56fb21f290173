"""The report's executive summary: the question, one recommendation, baseline vs recommended with 95 %
intervals, and the caveats, so a manager can read the outcome in a minute.

Accuracy intervals are Wilson score intervals over the test examples. The interval of an accuracy
*change* treats the two accuracies as independent binomials (the normal approximation); the two
models are evaluated on the same examples, so this is conservative: a paired test (needs per-example
predictions, which runs do not store) would give a narrower interval. A change inside its interval
is reported as within noise, with the number of examples it amounts to ("+0.7 points is 3 images of
450").

Runs of one setting with different seeds are one candidate (`report_groups.group_by_setting`): its
accuracy, size and latency are means over the seeds, and its change is also within noise when the
seeds disagree on its sign (zero lies between the lowest and highest per-seed change).
"""
from __future__ import annotations

import html
import math
from typing import Mapping, Optional, Sequence

from compress_core import fmt
from compress_core.measure import catalogue
from compress_core.present import report_groups

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


_MEANED = ("accuracy", "baseline_accuracy", "compression_ratio", "size_bytes", "latency_ms_b1", "latency_ms_b64")
_BASE_MEANED = ("size_fp32_bytes", "latency_ms_b1", "latency_ms_b64")


def _mean(values):
    s = report_groups.spread(values)
    return None if s is None else s["mean"]


def _candidates(runs: Sequence[Mapping]) -> list[dict]:
    """One row per setting (its runs over seeds): mean metrics, the per-seed accuracy changes, the test-set
    size and whether the mean change is within noise."""
    rows = []
    for group in report_groups.group_by_setting([r for r in runs if r.get("kind") != "train"]):
        ms = [catalogue.upgrade_metrics(r.get("metrics"), r.get("baseline")) for r in group]
        kept = [(r, m) for r, m in zip(group, ms)
                if m.get("accuracy") is not None and m.get("baseline_accuracy") is not None and m.get("compression_ratio")]
        if not kept:
            continue
        group = [r for r, _ in kept]
        m = {key: _mean([mm.get(key) for _, mm in kept]) for key in _MEANED}
        base = {key: _mean([(r.get("baseline") or {}).get(key) for r in group]) for key in _BASE_MEANED}
        changes = [mm["accuracy"] - mm["baseline_accuracy"] for _, mm in kept]
        ns = [test_examples(r) for r in group]
        n = ns[0] if ns and all(x == ns[0] for x in ns) else None
        row = {"run": group[0], "runs": group, "metrics": m, "base": base, "n": n, "changes": changes}
        row["noise"] = _within(row) if n else None
        rows.append(row)
    return rows


def _seed_range(row: Mapping) -> Optional[tuple[float, float]]:
    """(lowest, highest) accuracy change over the setting's seeds; None for one seed."""
    return (min(row["changes"]), max(row["changes"])) if len(row["changes"]) > 1 else None


def _within(row: Mapping) -> bool:
    """The mean change is within noise: zero lies in its test-set interval or in the range over seeds."""
    m, span = row["metrics"], _seed_range(row)
    return within_noise(m["accuracy"], m["baseline_accuracy"], row["n"]) or bool(span and span[0] <= 0 <= span[1])


def acceptable(row: Mapping) -> bool:
    """Not worse than the baseline beyond noise (or, with an unknown test-set size, within one point).
    With several seeds, a setting whose best seed is not worse than its baseline is also acceptable."""
    m, span = row["metrics"], _seed_range(row)
    if span and span[1] >= 0:
        return True
    if row["n"]:
        _, high = change_interval(m["accuracy"], m["baseline_accuracy"], row["n"])
        return high >= 0  # a drop whose interval reaches zero is not a drop beyond noise
    return m["accuracy"] - m["baseline_accuracy"] >= -NEAR_BASELINE


def recommend(runs: Sequence[Mapping]) -> Optional[dict]:
    """The smallest setting (mean over its seeds) whose accuracy is acceptable (see `acceptable`); None when
    none is. The candidate row gets `why`; `run` is its first run, `runs` all of its seeds."""
    pool = [r for r in _candidates(runs) if acceptable(r)]
    if not pool:
        return None
    best = max(pool, key=lambda r: r["metrics"]["compression_ratio"])
    best["why"] = ("the smallest model whose accuracy is not worse than its baseline beyond the noise of the test set"
                   if best["n"] else "the smallest model within one point of its baseline (test-set size unknown)")
    if len(best["runs"]) > 1:
        best["why"] += f", judged on the mean of {len(best['runs'])} seeds"
    return best


def _row(label: str, size, lat1, lat64, acc, n, span=None) -> str:
    low, high = wilson(acc, n) if n and acc is not None else (None, None)
    interval = f"<br><span class='muted'>[{_esc(fmt.pct(low, 1))}, {_esc(fmt.pct(high, 1))}]</span>" \
        if low is not None else ""
    if span:
        interval += f"<br><span class='muted'>seeds: {_esc(fmt.pct(span[0], 1))} – {_esc(fmt.pct(span[1], 1))}</span>"
    return (f"<tr><td>{_esc(label)}</td><td>{_esc(fmt.size(size))}</td><td>{_esc(fmt.ms(lat1))}</td>"
            f"<td>{_esc(fmt.ms(lat64))}</td><td>{_esc(fmt.pct(acc, 2))}{interval}</td></tr>")


def caveats(runs: Sequence[Mapping], n: Optional[int], label_of=None) -> list[str]:
    """Seeds, test-set size, the machine, and unequal fine-tuning budgets among the runs compared."""
    groups = report_groups.group_by_setting([r for r in runs if r.get("kind") != "train"] or list(runs))
    sizes = [len(set(report_groups.seeds_of(g))) for g in groups]
    most = max(sizes, default=0)
    if most <= 1:
        seeds = "one seed per setting: no spread measured, so the intervals below are test-set noise only"
    else:
        several = sum(1 for k in sizes if k > 1)
        seeds = (f"{several} of {len(groups)} settings run with several seeds (up to {most}); tables show their mean "
                 f"and the {report_groups.SPREAD_NAME}, and the recommendation compares means")
    out = [f"Seeds: {seeds}.",
           f"Test set: {n} examples, so one example is {fmt.pct(1 / n, 2)} of accuracy." if n else
           "Test set: size not recorded for these runs."]
    env = next((r.get("environment") for r in runs if r.get("environment")), {}) or {}
    threads = next(((r.get("metrics") or {}).get("threads") for r in runs if (r.get("metrics") or {}).get("threads")),
                   None)
    out.append(f"Machine: {env.get('platform', 'unknown platform')}, torch {env.get('torch', '?')}"
               + (f", {threads} thread(s)" if threads else "") + "; latencies are medians on this machine only.")
    _, notes = report_groups.budget_flags([r for r in runs if r.get("kind") != "train"],
                                          label_of or (lambda r: f"run {r.get('id')}"))
    out += notes
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
    run, m, n, base = best["run"], best["metrics"], best["n"], best["base"]
    ids = ", ".join(f"<code>{_esc(r['id'])}</code>" for r in best["runs"])
    span = _seed_range(best)
    accuracy = noise_phrase(m["accuracy"], m["baseline_accuracy"], n)
    if span:
        accuracy = (f"{accuracy}; mean of {len(best['runs'])} seeds, which ranged {100 * span[0]:+.1f} to "
                    f"{100 * span[1]:+.1f} points" + (": within noise" if span[0] <= 0 <= span[1] else ""))
    all_noise = all(r["noise"] for r in _candidates(runs) if r["n"])
    line = (f"use <b>{_esc(label_of(run))}</b> (run{'s' if len(best['runs']) > 1 else ''} {ids}): "
            f"{m['compression_ratio']:.1f}× smaller, accuracy {_esc(accuracy)}.")
    if all_noise:
        line += (" Every run here is within noise of its baseline, so accuracy does not separate them: the choice "
                 "rests on size and speed.")
    seeds = f" (mean of {len(best['runs'])} seeds)" if len(best["runs"]) > 1 else ""
    base_span = None
    if span:
        base_accs = [(r.get("metrics") or {}).get("baseline_accuracy") for r in best["runs"]]
        accs = [(r.get("metrics") or {}).get("accuracy") for r in best["runs"]]
        base_span = (min(base_accs), max(base_accs)) if None not in base_accs and min(base_accs) != max(base_accs) \
            else None
        span_acc = (min(accs), max(accs)) if None not in accs else None
    else:
        span_acc = None
    table = ("<table class='exec'><tr><th></th><th>size</th><th>latency b1</th><th>latency b64</th>"
             "<th>accuracy<br>[95 % interval]</th></tr>"
             + _row(f"baseline (fp32){seeds}", base.get("size_fp32_bytes"), base.get("latency_ms_b1"),
                    base.get("latency_ms_b64"), m["baseline_accuracy"], n, base_span)
             + _row(f"recommended{seeds}", m.get("size_bytes"), m.get("latency_ms_b1"), m.get("latency_ms_b64"),
                    m["accuracy"], n, span_acc)
             + "</table>")
    items = "".join(f"<li>{_esc(c)}</li>" for c in caveats(runs, n, label_of))
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
    ("FLOPs", "floating-point operations of one input's forward pass (2 per multiply-add). Dense FLOPs count every "
              "weight; non-zero FLOPs skip the multiply-adds of zero weights."),
    ("theoretical speed-up", "the baseline's dense FLOPs divided by the run's non-zero FLOPs: what an ideal sparse "
                             "kernel could give. It is computed, not measured; the measured speed-up beside it is "
                             "what this machine gave."),
    ("mean (min – max)", "a setting run with several seeds: the mean over the seeds, then the lowest and highest."),
    ("†", "runs compared with different fine-tuning budgets (epochs of training after compression): more training "
          "buys accuracy the method itself did not."),
]


def glossary_html() -> str:
    return "<dl class='glossary'>" + "".join(f"<dt>{_esc(t)}</dt><dd>{_esc(d)}</dd>" for t, d in GLOSSARY) + "</dl>"
