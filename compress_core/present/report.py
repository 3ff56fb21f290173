"""A self-contained HTML report of finished runs, for people who were not at the keyboard.

One file that opens offline: Plotly's JavaScript is embedded once (in the first figure),
there is no external script, stylesheet or font, and every piece of user text (data set
paths, notes, specs) is HTML-escaped. It leads with the best trade-offs in plain words
("4.1× smaller, 1.8× faster, -0.3 points accuracy"), then shows the Pareto chart, one table
per method, the baselines, how every figure was measured, and each run's exact spec with a
command line that reproduces it. The same runs always give the same file (runs are sorted,
figure ids are fixed, no clock is read), whether the CLI or the browser asks for it.
"""
from __future__ import annotations

import html
import json
import math
import shlex
from typing import Iterable, Mapping, Sequence

import pandas as pd
import plotly.io as pio

from compress_core import fmt
from compress_core.errors import CompressError
from compress_core.explore.pareto import pareto_front
from compress_core.measure import catalogue
from compress_core.measure.speed_file import load_speed  # torch-free (the Report page draws without torch)
from compress_core.present import plots, report_curves, report_groups
from compress_core.present.executive import executive_summary, glossary_html
from compress_core.present.speed import latency_figure as speed_latency_figure
from compress_core.present.speed import verdicts as speed_verdicts

NEAR_BASELINE = 0.01  # "within one point of the baseline"
_SPEED_SAME = 0.05  # measured speed-ups within +-5 % read as "about as fast" (timing noise)
_SUSPECT = 3.0  # a measured speed-up this many times the FLOPs ratio is flagged as likely noise
_FEWER_BITS = ("int8", "bf16", "fp16")  # cheaper arithmetic, same FLOPs: the FLOPs ratio does not bound their speed
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;font-size:.86rem;margin:.6rem 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.8rem;white-space:pre-wrap;word-break:break-all}
.lead li{margin:.3rem 0}.muted{color:#666;font-size:.9rem}details{margin:.4rem 0}summary{cursor:pointer}
code{background:#f6f8fa;padding:0 .2rem}
table.exec{display:table;font-size:.95rem}table.exec td,table.exec th{white-space:normal}
dl.glossary dt{font-weight:600;margin-top:.4rem}dl.glossary dd{margin-left:1rem}
.figure-title{font-weight:600;margin:1rem 0 0}.footnotes{font-size:.9rem}
table.cards th{white-space:normal;vertical-align:bottom;min-width:4.5rem}
table.cards td:first-child,table.cards th:first-child{position:sticky;left:0;background:#fff;z-index:1}
table.keyed td:first-child{white-space:normal;min-width:11rem}
table.cards th:first-child{background:#f4f4f4}
@media (max-width:640px){body{margin:1rem auto}th,td{white-space:normal;padding:.2rem .3rem}
table{font-size:.78rem}table.exec{font-size:.74rem;width:100%}
table.cards{display:block;overflow:visible;font-size:.85rem}
table.cards thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.cards tbody,table.cards tr{display:block}
table.cards tr{border:1px solid #ccc;border-radius:6px;margin:.7rem 0;padding:.2rem .5rem}
table.cards td{display:flex;justify-content:space-between;gap:1rem;border:0;border-bottom:1px solid #eee;
padding:.25rem 0;text-align:right;white-space:normal}
table.cards td::before{content:attr(data-label);font-weight:600;color:#444;text-align:left;flex:0 0 42%}
table.cards td:first-child{position:static;display:block;text-align:left;font-weight:600;min-width:0}
table.cards td:first-child::before{content:none}table.cards td:empty{display:none}
table.cards td:last-child{border-bottom:0}}
@page{size:A4 landscape;margin:12mm}
@media print{body{max-width:none;margin:0;font-size:10pt}table{display:table;overflow:visible}
th,td{white-space:normal}section{break-inside:avoid-page}details{display:block}
table.cards{font-size:7pt;width:100%}table.cards th,table.cards td{padding:.1rem .2rem;min-width:0}
table.keyed [data-label=runs],table.keyed [data-label=model]{display:none}
table.cards td:first-child,table.cards th:first-child,table.keyed td:first-child{position:static;min-width:0}
tr,.figure{break-inside:avoid}.figure-title{break-after:avoid}
.js-plotly-plot,.plotly-graph-div{break-inside:avoid}a{color:inherit}}
"""

# How each figure is measured (the lab's reporting rules, see metrics.py and quantize.py).
_MEASUREMENT_RULES = [
    "Accuracy: top-1 on the data set's held-out test split; the baseline is measured in the same run.",
    "Size: bytes of the serialized fp32 state dict (torch.save); the sparse size is a bitmap plus the non-zero "
    "values; int8 sizes are the serialized int8 state dict; fake-quantized k-bit sizes are a packed estimate "
    "(counted, not serialized). '× smaller' divides the baseline's fp32 size by the run's smallest measured size.",
    "FLOPs: one sample's forward pass, 2 FLOPs per multiply-add. Dense: counted by torch.utils.flop_counter. "
    "Non-zero: the dense count less the multiply-adds of zero weights, counted by hand per Linear/Conv layer as "
    "zero weights x output positions (what an ideal sparse kernel would skip). Theoretical speed-up = the "
    "baseline's dense FLOPs / the run's non-zero FLOPs; it is not measured, and dense kernels do not get it.",
    "Latency: median wall time of repeated forward calls after warm-up, at batch 1 and batch 64, with the "
    "thread count shown below; the speed-up divides the baseline's latency by the run's, both timed in the same "
    "process one after the other. Masked (unstructured) pruning leaves dense kernels as slow as before.",
]

# ---------------------------------------------------------------- picking runs
def report_runs(home=None, run_ids: Sequence[str] | None = None) -> list[dict]:
    """Every finished run of `home`, or the runs `run_ids` (unknown or unfinished ids raise CompressError)."""
    from compress_core.runs import jobs

    store = jobs.open_store(home)
    if not run_ids:
        runs = store.list_runs(status="finished")
        if not runs:
            raise CompressError(f"no finished runs in {store.home} to report on; run prune, distill or quantize first")
    else:
        runs = []
        for run_id in dict.fromkeys(run_ids):
            run = store.get(run_id)
            if run["status"] != "finished":
                raise CompressError(f"run {run_id} is {run['status']}; a report takes finished runs only")
            runs.append(run)
    # Deploy-speed tables measured with `speed RUN_ID` (stored beside the run) go into the report too.
    return [{**run, "speed": table} if (table := load_speed(run, store.home)) else run for run in runs]


# ---------------------------------------------------------------- small helpers
def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _label(run: Mapping) -> str:
    """The method's name with its main setting, e.g. 'L1 magnitude pruning 90 % (global)'."""
    spec = full_spec(run.get("spec") or {})  # defaults filled in: a spec stored without them reads the same
    from compress_core.methods.criteria import CRITERIA  # torch: only when a report is built

    method = plots.method_of(run.get("kind"), spec)
    name = plots.METHOD_LABELS.get(method, method)
    if method in CRITERIA:
        return f"{name} {fmt.pct(spec.get('amount'), 0)} ({spec.get('scope', 'global')})"
    if method == "structured":
        return f"{name} {fmt.pct(spec.get('amount'), 0)} of channels"
    if method == "quantize":
        scheme = spec.get("scheme", "int8")
        return f"{name} {scheme}" if scheme in ("int8", "bf16", "fp16") else f"{name} fake {spec.get('bits')}-bit"
    if method == "distill":
        return f"{name} into {spec.get('model')} {_fmt_cell('hidden', spec.get('hidden')) or ''} (T={spec.get('temperature')})"
    return name


def _times_smaller(run: Mapping) -> float | None:
    """Baseline fp32 size / the run's deployed size: its `compression_ratio` (old records upgraded)."""
    value = catalogue.upgrade_metrics(run.get("metrics"), run.get("baseline")).get("compression_ratio")
    return None if _missing(value) else value


def _speed_phrase(metrics: Mapping) -> str:
    speed = metrics.get("speedup_b64")
    if metrics.get("scheme") == "fake":
        return "no speed-up (fake quantization still computes in fp32)"
    if _missing(speed):
        return "speed not measured"
    if speed >= 1 + _SPEED_SAME:
        text = f"{speed:.1f}× faster at batch 64"
    elif speed <= 1 - _SPEED_SAME:
        text = f"{1 / speed:.1f}× slower at batch 64"
    else:
        text = "about as fast"
    theory = metrics.get("theoretical_speedup")
    if _missing(theory):
        return text
    if speed < 1 + _SPEED_SAME and theory >= 1.5:
        text += f" (a sparse kernel could give {theory:.1f}× fewer FLOPs)"
    elif speed > _SUSPECT * max(theory, 1.0) and metrics.get("scheme") not in _FEWER_BITS:  # int8 speed is not FLOPs
        text += f" (suspect: over {_SUSPECT:g}× the FLOPs ratio of {theory:.1f}×; likely timing noise on a busy machine)"
    return text


def trade_off(run: Mapping) -> str:
    """One plain sentence: how much smaller and faster the run is, and what it costs in accuracy."""
    metrics = run.get("metrics") or {}
    smaller = _times_smaller(run)
    size = f"{smaller:.1f}× smaller" if smaller is not None else "size not measured"
    change = metrics.get("accuracy_change")
    acc = "accuracy not measured" if _missing(change) else \
        f"{100 * change:+.1f} points accuracy ({fmt.pct(metrics.get('accuracy'), 2)} vs {fmt.pct(metrics.get('baseline_accuracy'), 2)})"
    return f"{size}, {_speed_phrase(metrics)}, {acc}"


def _points(runs: Sequence[Mapping]) -> pd.DataFrame:
    points = plots.run_points(runs)
    return points


# ---------------------------------------------------------------- reproduce
def _cli_argv(spec: Mapping, add_arguments) -> list[str]:
    """Options for every spec field the command has an option for, skipping values equal to its default."""
    from compress_core.options import OneLineParser

    parser = OneLineParser(prog=spec["kind"])
    add_arguments(parser)
    actions = {a.dest: a for a in parser._actions if a.option_strings}  # argparse has no public accessor
    renamed = {"model": "student"} if spec["kind"] == "distill" else {}
    argv = []
    for field, value in spec.items():
        if field == "kind" or value is None:
            continue
        if field == "scratch":  # --no-scratch
            argv += [] if value else ["--no-scratch"]
            continue
        action = actions.get(renamed.get(field, field))
        if action is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        if action.default is not None and str(action.default) == text:
            continue
        argv += [action.option_strings[-1], text]
    return argv


def _same_spec(kind: str, argv: list[str], spec: Mapping, add_arguments, builder) -> bool:
    from compress_core.options import OneLineParser

    parser = OneLineParser(prog=kind)
    add_arguments(parser)
    try:
        return builder(parser.parse_args(argv)).to_dict() == dict(spec)
    except CompressError:
        return False


def full_spec(spec: Mapping) -> dict:
    """Every field of `spec`, defaults filled in (the store keeps specs as they were submitted)."""
    return report_groups.full_spec(spec)


def reproduce_command(spec: Mapping) -> str:
    """A shell command that runs `spec` again and records it in the run store.

    The matching `python -m compress_core <kind> ...` line when its options express the
    spec exactly (checked by parsing it back); otherwise (a field without an option, or a
    pipeline, which takes a config file) a Python one-liner that runs the JSON spec.
    """
    from compress_core.methods.registry import get_method, kinds  # every method (torch): only when building

    spec = full_spec(spec)
    kind = spec.get("kind")
    if kind in kinds() and get_method(kind).add_arguments is not None:
        method = get_method(kind)
        argv = _cli_argv(spec, method.add_arguments)
        if _same_spec(kind, argv, spec, method.add_arguments, method.spec_from_args):
            return shlex.join(["python", "-m", "compress_core", kind, *argv])
    code = ("import json, sys; from compress_core.runs.jobs import record_foreground; "
            "print(record_foreground(json.loads(sys.argv[1]))['id'])")
    return shlex.join(["python", "-c", code, json.dumps(dict(spec), separators=(",", ":"))])


# ---------------------------------------------------------------- sections
def _figure_html(fig, div_id: str, first: bool) -> str:
    """The figure's div (Plotly's JavaScript embedded in the first one only). Its title moves out of the chart into
    the page, where it wraps on a phone instead of running under the chart's tool bar or off its edge."""
    title = fig.layout.title.text
    if title:
        fig.update_layout(title=None, margin=dict(t=30))  # the report draws each figure for itself: no copy
    chart = pio.to_html(fig, full_html=False, include_plotlyjs=bool(first), div_id=div_id, config=_PLOTLY_CONFIG)
    return (f"<p class='figure-title'>{_esc(title)}</p>" if title else "") + f"<div class='figure'>{chart}</div>"


def _mean_run(group: Sequence[Mapping]) -> dict:
    """The first run of a setting with every numeric metric (and baseline figure) averaged over its seeds;
    `seed_runs` lists them all. One run comes back as it is (plus `seed_runs`)."""
    first = group[0]
    if len(group) == 1:
        return {**first, "seed_runs": list(group)}
    def average(dicts):
        out = dict(dicts[0])
        for key, value in dicts[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                s = report_groups.spread([d.get(key) for d in dicts])
                out[key] = s["mean"] if s else value
        return out
    metrics = average([catalogue.upgrade_metrics(r.get("metrics"), r.get("baseline")) for r in group])
    base = average([dict(r.get("baseline") or {}) for r in group])
    return {**first, "metrics": metrics, "baseline": base, "seed_runs": list(group)}


def _runs_phrase(run: Mapping) -> str:
    """'run <code>ID</code>' or, for a setting over seeds, 'mean of 3 seeds: runs <code>A</code>, ...'."""
    group = run.get("seed_runs") or [run]
    ids = ", ".join(f"<code>{_esc(r['id'])}</code>" for r in group)
    return f"mean of {len(group)} seeds: runs {ids}" if len(group) > 1 else f"run {ids}"


def _seed_spread_phrase(run: Mapping) -> str:
    group = run.get("seed_runs") or [run]
    changes = [(r.get("metrics") or {}).get("accuracy_change") for r in group]
    s = report_groups.spread(changes)
    if len(group) < 2 or s is None:
        return ""
    return f"; accuracy change {100 * s['min']:+.1f} to {100 * s['max']:+.1f} points over the seeds"


def _summary(runs: Sequence[Mapping]) -> str:
    """Per data set, the settings on the Pareto front (means over seeds), and the smallest near its baseline."""
    settings = [_mean_run(g) for g in report_groups.group_by_setting([r for r in runs if r.get("kind") != "train"])]
    if not settings:
        return "<p>No compressed runs in this report (baselines only).</p>"
    points = _points(settings)
    by_id = {r["id"]: r for r in settings}
    parts = []

    def item(run, lead=""):
        return (f"<li>{lead}<b>{_esc(_label(run))}</b> ({_esc(run['spec'].get('model'))}, {_runs_phrase(run)}): "
                f"{_esc(trade_off(run) + _seed_spread_phrase(run))}</li>")

    for dataset, part in points.groupby("dataset", sort=True):
        front = part[pareto_front(part, "size_bytes", "accuracy")].sort_values("size_bytes")
        items = [item(by_id[i]) for i in front["id"]]
        near = part[part["accuracy_change"] >= -NEAR_BASELINE].dropna(subset=["compression_ratio"])
        if len(near):
            best = by_id[near.sort_values("compression_ratio", ascending=False)["id"].iloc[0]]
            items.insert(0, item(best, "<b>Smallest within one point of its baseline:</b> "))
        parts.append(f"<h3>{_esc(dataset)}</h3><p class='muted'>Best trade-offs (no other setting is both smaller and "
                     f"more accurate), smallest first; a setting run with several seeds counts with its mean:</p>"
                     f"<ul class='lead'>{''.join(items)}</ul>")
    return "".join(parts)


def _figures(points: pd.DataFrame) -> tuple[str, int]:
    html_parts, count = [], 0
    for dataset, part in points.groupby("dataset", sort=True):
        if part.dropna(subset=["size_bytes", "accuracy"]).empty:
            continue
        fig = plots.pareto(part, title=f"Accuracy vs size on {dataset}")
        html_parts.append(_figure_html(fig, f"pareto-{count}", first=count == 0))
        count += 1
    return "".join(html_parts), count


def _speed_section(runs: Sequence[Mapping], first_figure: int) -> str:
    """Per run with a stored speed table: the verdict per form and latency against batch size."""
    parts, count = [], first_figure
    for run in runs:
        table = run.get("speed")
        if not table:
            continue
        items = "".join(f"<li style='color:{'#1a7f37' if v['good'] else '#b42318' if v['good'] is False else '#555'}'>"
                        f"<b>{_esc(v['form'])}</b> vs {_esc(v['against'])}: {_esc(v['verdict'])}</li>"
                        for v in speed_verdicts(table))
        fig = speed_latency_figure(table, title=f"Run {run.get('id')}: latency vs batch size")
        parts.append(f"<h3>{_esc(_label(run))} (run <code>{_esc(run.get('id'))}</code>)</h3><ul>{items}</ul>"
                     + _figure_html(fig, f"speed-{count}", first=count == 0))
        count += 1
    return "".join(parts)


def _fmt_cell(key: str, value):
    if _missing(value):
        return ""
    if catalogue.known(key) and catalogue.metric(key).numeric:
        return catalogue.format_value(key, value)
    if key in ("accuracy", "baseline_accuracy", "sparsity", "train_fraction"):
        return fmt.pct(value, 2)
    if key == "accuracy_change":
        return fmt.pp(value, 2)
    if key in ("size", "size_fp32_bytes"):
        return fmt.size(value)
    if key in ("compression_ratio", "times_smaller", "speedup_b1", "speedup_b64"):
        return fmt.ratio(value)
    if key.startswith("latency"):
        return fmt.ms(value)
    if key == "steps" and isinstance(value, (list, tuple)):
        from compress_core.methods.pipeline import step_label

        return " → ".join(step_label(s) for s in value)
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return value


_BUDGET_KEYS = ("finetune_epochs", "centroid_epochs", "epochs")  # shown in the fine-tuning column instead
_NOT_MEASURED = "—"
_TABLES_NOTE = ("One row per setting. Where a setting was run with several seeds, a cell shows the mean over the "
                f"seeds and, in brackets, the {report_groups.SPREAD_NAME}. Non-zero FLOPs: one input's forward pass, "
                "2 FLOPs per multiply-add of a non-zero weight. The theoretical speed-up is the baseline's dense FLOPs "
                "/ the run's non-zero FLOPs: what an ideal sparse kernel could give, not a measurement. The measured "
                "speed-ups are timed: the baseline's latency / the run's. — : not measured for this run.")


def _table(columns: Sequence[str], rows: Sequence[Mapping], cls: str = "cards") -> str:
    """An escaped HTML table whose cells carry their column name (`data-label`), so a narrow screen can show
    each row as a card of 'name: value' lines instead of scrolling sideways (see the stylesheet)."""
    head = "".join(f"<th scope='col' data-label='{_esc(c)}'>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td data-label='{_esc(c)}'>{_esc(row.get(c, '')).replace(chr(10), '<br>')}</td>"
                                    for c in columns)
                   + "</tr>" for row in rows)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _group_row(group: Sequence[Mapping], flagged: set) -> tuple[dict, list[str]]:
    """One table row for runs of one setting (several seeds: mean with the min–max), and its settings' columns."""
    from compress_core.methods.registry import report_settings  # every method (torch): only when building

    run = group[0]
    spec = full_spec(run.get("spec") or {})
    ms = [catalogue.upgrade_metrics(r.get("metrics"), r.get("baseline")) for r in group]
    flops = [report_groups.flops_figures(r) for r in group]

    def cell(values, formatter, missing=""):
        return report_groups.spread_text(values, formatter) or missing

    def col(key):
        return [m.get(key) for m in ms]

    forms = sorted({str(m.get("size_form")) for m in ms if m.get("size_form")})
    size = cell(col("size_bytes"), fmt.size)
    budget = report_groups.finetune_budget(run)
    row = {"setting": _label(run),
           "accuracy": cell(col("accuracy"), lambda v: fmt.pct(v, 2)),
           "Δ accuracy": cell(col("accuracy_change"), lambda v: fmt.pp(v, 2)),
           "× smaller": cell(col("compression_ratio"), fmt.ratio),
           "measured speed-up b1": cell(col("speedup_b1"), fmt.ratio, _NOT_MEASURED),
           "measured speed-up b64": cell(col("speedup_b64"), fmt.ratio, _NOT_MEASURED),
           "theoretical speed-up (FLOPs)": cell([f["theoretical_speedup"] for f in flops], fmt.ratio, _NOT_MEASURED),
           "non-zero FLOPs": cell([f["flops_nonzero"] for f in flops], fmt.flops, _NOT_MEASURED),
           "fine-tuning": (budget[1] if budget else "") + (" †" if run.get("id") in flagged else ""),
           "seeds": ", ".join(map(str, report_groups.seeds_of(group))),
           "smallest size": f"{size} ({', '.join(forms)})" if size and forms else size,
           "total/non-zero": cell(col("param_compression_ratio"), fmt.ratio),
           "sparsity": cell(col("sparsity"), lambda v: fmt.pct(v, 2)),
           "latency b1": cell(col("latency_ms_b1"), fmt.ms),
           "model": f"{spec.get('model')} on {spec.get('dataset')}",
           "runs": ", ".join(str(r.get("id")) for r in group)}
    settings = {key.replace("_", " "): _fmt_cell(key, spec.get(key)) for key in report_settings(run.get("kind"), spec)
                if key not in _BUDGET_KEYS}
    return {**row, **{k: ("" if v is None else str(v)) for k, v in settings.items()}}, list(settings)


def _method_tables(runs: Sequence[Mapping]) -> str:
    groups: dict[str, list[Mapping]] = {}
    for run in runs:
        groups.setdefault(plots.method_of(run.get("kind"), run.get("spec")), []).append(run)
    flagged, notes = report_groups.budget_flags([r for r in runs if r.get("kind") != "train"], _label)
    out = [f"<p class='muted'>{_esc(_TABLES_NOTE)}</p>"]
    order = plots.method_order()
    for method in sorted(groups, key=lambda m: (order.index(m) if m in order else len(order), m)):
        rows, setting_columns = [], []
        for group in report_groups.group_by_setting(groups[method]):
            row, settings = _group_row(group, flagged)
            rows.append(row)
            setting_columns += [c for c in settings if c not in setting_columns]
        columns = ["setting", "accuracy", "Δ accuracy", "× smaller", "measured speed-up b1", "measured speed-up b64",
                   "theoretical speed-up (FLOPs)", "non-zero FLOPs", "fine-tuning", "seeds", *setting_columns,
                   "smallest size", "total/non-zero", "sparsity", "latency b1", "model", "runs"]
        n_runs = len(groups[method])
        count = f"{len(rows)} setting{'s' if len(rows) != 1 else ''}, {n_runs} run{'s' if n_runs != 1 else ''}"
        out.append(f"<h3>{_esc(plots.METHOD_LABELS.get(method, method))} ({count})</h3>"
                   + _table(columns, rows, "cards keyed"))
    if notes:
        out.append("<div class='footnotes'>" + "".join(f"<p>† {_esc(n)}</p>" for n in notes) + "</div>")
    return "".join(out)


def _curves(runs: Sequence[Mapping], first_figure: int) -> tuple[str, int]:
    """Accuracy against each swept level held by three or more levels of one setting (see report_curves)."""
    parts, count = [], first_figure
    for curve in report_curves.curve_sets(runs):
        parts.append(_figure_html(report_curves.curve_figure(curve), f"curve-{count - first_figure}",
                                  first=count == 0))
        count += 1
    return "".join(parts), count - first_figure


def _baseline_key(spec: Mapping) -> tuple:
    if spec.get("kind") == "distill":
        return (spec.get("dataset"), spec.get("teacher"), spec.get("teacher_hidden"), spec.get("seed"),
                spec.get("teacher_epochs"))
    epochs = spec.get("epochs") if spec.get("kind") == "train" else spec.get("baseline_epochs")
    return spec.get("dataset"), spec.get("model"), spec.get("hidden"), spec.get("seed"), epochs


def _baselines(runs: Sequence[Mapping]) -> str:
    seen: dict[str, dict] = {}
    for run in runs:
        spec = run.get("spec") or {}
        base = run.get("metrics") if run.get("kind") == "train" else run.get("baseline")
        key = json.dumps(_baseline_key(spec), default=str)
        if not base or key in seen:
            continue
        dataset, model, hidden, seed, epochs = _baseline_key(spec)
        seen[key] = {"model": model, "hidden": _fmt_cell("hidden", hidden), "dataset": dataset, "seed": seed,
                     "epochs": epochs if epochs is not None else "default",
                     "accuracy": fmt.pct(base.get("accuracy"), 2), "params": fmt.count(base.get("params_total")),
                     "size fp32": fmt.size(base.get("size_fp32_bytes")),
                     "dense FLOPs": fmt.flops(base["flops_dense"]) if base.get("flops_dense") else _NOT_MEASURED,
                     "latency b1": fmt.ms(base.get("latency_ms_b1")),
                     "latency b64": fmt.ms(base.get("latency_ms_b64")), "measured in run": run["id"]}
    if not seen:
        return "<p>No baseline measurements in these runs.</p>"
    return ("<p class='muted'>Every run starts from a cached baseline (same model, data, seed and epochs give the "
            "same weights) and measures it again beside the compressed model; latencies below come from the run "
            "named, and each run's speed-up compares two timings made in that run.</p>"
            + _table(list(next(iter(seen.values()))), list(seen.values())))


def _measurement(runs: Sequence[Mapping]) -> str:
    envs: dict[str, list[str]] = {}
    for run in runs:
        env = run.get("environment") or {}
        keys = ("platform", "processor", "cpu_count", "device", "threads", "torch", "python")
        envs.setdefault(json.dumps({k: env.get(k) for k in keys}), []).append(run["id"])
    rows = [{**json.loads(key), "runs": len(ids), "first run": ids[0]} for key, ids in envs.items()]
    rules = "".join(f"<li>{_esc(rule)}</li>" for rule in _MEASUREMENT_RULES)
    return (f"<ul>{rules}</ul><p class='muted'>Machines and settings the runs were measured with "
            f"(threads = torch intra-op threads during timing):</p>"
            + _table(list(rows[0]), rows))


def _reproduce(runs: Sequence[Mapping]) -> str:
    out = []
    for run in runs:
        notes = "".join(f"<li>{_esc(n)}</li>" for n in run.get("notes") or [])
        out.append(f"<details><summary><code>{_esc(run['id'])}</code> {_esc(_label(run))}: "
                   f"{_esc((run.get('spec') or {}).get('model'))} on {_esc((run.get('spec') or {}).get('dataset'))}"
                   f"</summary><p>Command line:</p><pre>{_esc(reproduce_command(run['spec']))}</pre>"
                   f"<p>Spec (JSON, defaults filled in):</p><pre>{_esc(json.dumps(full_spec(run['spec']), indent=2))}</pre>"
                   + (f"<p>Notes:</p><ul>{notes}</ul>" if notes else "") + "</details>")
    return "".join(out)


# ---------------------------------------------------------------- the report
def build_report(runs: Iterable[Mapping], *, title: str = "Compression Lab report") -> str:
    """The report of finished `runs` (store records) as one self-contained HTML document."""
    runs = sorted(runs, key=lambda r: (r.get("created_at") or 0, r.get("id") or ""))
    if not runs:
        raise CompressError("a report needs at least one finished run")
    unfinished = [r.get("id") for r in runs if r.get("status") != "finished"]
    if unfinished:
        raise CompressError(f"a report takes finished runs only; not finished: {', '.join(map(str, unfinished))}")
    points = _points(runs)
    figures, n_figures = _figures(points)
    curves, n_curves = _curves(runs, n_figures)
    n_figures += n_curves
    datasets = sorted({str((r.get("spec") or {}).get("dataset")) for r in runs})
    sections = [
        ("Executive summary", executive_summary(runs, _label)),
        ("Best trade-offs", _summary(runs)),
        ("Accuracy vs size", figures or "<p>No run has both a size and an accuracy.</p>"),
        *([("Accuracy curves", "<p class='muted'>Runs that differ only in one setting (and the seed), at three or "
                               "more levels: the line is the mean over seeds, the band spans the min–max over seeds, "
                               "each seed is a dot, the dashed line is the baseline.</p>" + curves)] if curves else []),
        ("Runs by method", _method_tables(runs)),
        *([("Deploy speed (python -m compress_core speed RUN_ID)", speed)] if (speed := _speed_section(runs, n_figures))
          else []),
        ("Baselines", _baselines(runs)),
        ("How the figures were measured", _measurement(runs)),
        ("Reproduce every run", _reproduce(runs)),
        ("Glossary", glossary_html()),
    ]
    body = "".join(f"<section><h2>{_esc(name)}</h2>{content}</section>" for name, content in sections)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_esc(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>"
            f"<p class='muted'>{len(runs)} run(s) on {_esc(', '.join(datasets))}; {n_figures} interactive figure(s) "
            f"(zoom, hover for the spec). This file works offline.</p>{body}</body></html>")
