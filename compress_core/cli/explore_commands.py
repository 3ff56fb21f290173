"""CLI commands that explore trade-offs: `sweep`, `sensitivity`, `export`, `report`."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from compress_core.cli.output import ThrottledPrinter
from compress_core.context import RunContext
from compress_core.devices import resolve_device
from compress_core.errors import CompressError
from compress_core.explore import sweep
from compress_core.explore.sensitivity import (
    achieved_sparsity,
    layer_sizes,
    predicted_drop,
    propose_layer_amounts,
    run_sensitivity,
)
from compress_core.explore.sweep import parse_levels
from compress_core.methods.registry import sweep_methods
from compress_core.options import add_common, add_home, base_fields
from compress_core.options import integer as _int
from compress_core.options import ratio as _ratio
from compress_core.present.report import build_report, report_runs
from compress_core.runs import ray_backend
from compress_core.runs.backends import add_backend_options, get_backend
from compress_core.runs.export import export_run
from compress_core.specs import TrainSpec, check_range

_UNSET = object()


def add_commands(sub) -> None:
    sweep = sub.add_parser("sweep", help="run one method over several levels and seeds in the background workers",
                           description="run one method over several levels (amounts, temperatures, widths, bits) and "
                                       "seeds as background runs, wait, and print every point")
    methods = sweep.add_subparsers(dest="sweep_method", metavar="METHOD", parser_class=type(sweep))
    methods.required = True
    for entry in sweep_methods():
        method, params = entry.kind, entry.sweep
        p = methods.add_parser(method, help=f"sweep: {entry.help}", description=f"sweep: {entry.help}")
        entry.add_arguments(p)
        _make_sweepable(p, entry)
        examples = " (or ".join(f"{s.example} with --param {name}" if i else s.example
                                for i, (name, s) in enumerate(params.items())) + ")" * (len(params) - 1)
        p.add_argument("--levels", required=True, help=f"comma-separated levels of --param, e.g. {examples}")
        p.add_argument("--param", choices=list(params), default=next(iter(params)),
                       help=f"what the levels set (default: {next(iter(params))})")
        p.add_argument("--seeds", type=_int, default=1, help="seeds per level, counting up from --seed (default: 1)")
        p.add_argument("--workers", type=_int, help="worker processes running points in parallel "
                                                     "(default: $COMPRESS_LAB_WORKERS or one per core)")
        add_backend_options(p)
        if method == "prune":
            p.add_argument("--controls", action="store_true",
                           help="also run the random criterion and the other scope (layer/global) at the same amounts")
        p.set_defaults(handler=lambda args, entry=entry: _sweep(args, entry))

    p = sub.add_parser("sensitivity", help="prune each layer alone at several amounts (no fine-tuning) and measure accuracy",
                       description="per-layer sensitivity: prune each layer alone (--criterion, no fine-tuning) at each amount "
                                   "and measure test accuracy; --target proposes per-layer amounts")
    add_common(p)
    p.add_argument("--baseline-epochs", type=_int, help="epochs of the baseline (default: the data set's default)")
    p.add_argument("--amounts", default="0.3,0.5,0.7,0.9,0.95",
                   help="comma-separated amounts in (0, 1) (default: 0.3,0.5,0.7,0.9,0.95)")
    p.add_argument("--target", type=_ratio, help="global sparsity to propose per-layer amounts for, in [0, 1)")
    from compress_core.methods.criteria import CRITERIA

    p.add_argument("--criterion", default="l1",
                   help=f"pruning criterion of the scan: {', '.join(CRITERIA.names())} (default: l1)")
    add_backend_options(p)
    p.set_defaults(handler=_sensitivity)

    p = sub.add_parser("export", help="export a finished run's model (onnx, torchscript, safetensors, state_dict, hf)",
                       description="export a finished run's model; ONNX and TorchScript files are checked against "
                                   "PyTorch on test inputs")
    p.add_argument("id", help="run id (see `runs list`)")
    p.add_argument("--format", required=True, help="onnx, torchscript, safetensors, state_dict, or hf (a Hugging Face "
                   "save_pretrained folder with its tokenizer; text models)")
    p.add_argument("--out", required=True, help="file to write (a folder for hf)")
    p.add_argument("--json", action="store_true", help="print what was written as one JSON object")
    add_home(p)
    p.set_defaults(handler=_export)

    p = sub.add_parser("report", help="write a self-contained HTML report of finished runs",
                       description="write a self-contained HTML report (works offline) of finished runs")
    p.add_argument("--runs", help="comma-separated run ids (default: every finished run)")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--title", default="Compression Lab report", help="report title")
    add_home(p)
    p.set_defaults(handler=_report)


# ---------------------------------------------------------------- sweep
def _make_sweepable(p: argparse.ArgumentParser, entry) -> None:
    """The options a sweep sets become optional; a sentinel default shows whether the user gave them."""
    dests = {param.field for param in entry.sweep.values()} | {f for param in entry.sweep.values() for f in param.fixed}
    originals = {}
    for action in p._actions:  # argparse has no public way to relax a required option
        if action.dest in dests:
            originals[action.dest] = action.default
            action.required = False
            action.default = _UNSET
    p.set_defaults(_sweep_originals=originals)


def _resolve_sweep_args(args, entry, param: str, first_level) -> None:
    method, swept = entry.kind, entry.sweep[param].field
    for dest, original in args._sweep_originals.items():
        value = getattr(args, dest)
        option = "--" + dest.replace("_", "-")
        fixed = entry.sweep[param].fixed.get(dest)
        if dest == swept:
            if value is not _UNSET:
                raise CompressError(f"{option} is what this sweep varies; give its values with --levels")
            setattr(args, dest, str(first_level) if dest == "hidden" else first_level)
        elif fixed is not None:
            if value is not _UNSET and value != fixed:
                raise CompressError(f"a {method} sweep over {param} uses {option} {fixed}; got {option} {value}")
            setattr(args, dest, fixed)
        elif value is _UNSET:
            setattr(args, dest, original)


def _sweep(args, entry) -> int:
    if args.data_dir:
        raise CompressError("--data-dir does not apply to sweeps: background workers read data sets from <home>/data")
    if args.workers is not None:
        check_range("--workers", args.workers, 1, 64, integer=True)
    levels = sweep.parse_levels(args.levels, args.param)
    _resolve_sweep_args(args, entry, args.param, levels[0])
    method = entry.kind
    base = entry.spec_from_args(args).to_dict()
    backend = get_backend(args.backend, args.ray_address)
    began = time.perf_counter()
    if backend.name == "ray":
        ray_backend.connect(backend.address)  # an unreachable cluster fails here, before any run is recorded
    record = sweep.submit_sweep(method, base, levels, args.seeds, param=args.param,
                                controls=getattr(args, "controls", False), home=args.home, max_workers=args.workers,
                                backend=None if backend.name == "local" else backend,
                                start_workers=backend.name == "local")
    total = len(record["points"])
    print(f"sweep {record['id']}: {total} runs queued ({len(record['levels'])} levels x {len(record['seeds'])} seeds x "
          f"{len(record['variants'])} variants)", file=sys.stderr, flush=True)

    def show(counts):
        print("  " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), file=sys.stderr, flush=True)

    if backend.name == "ray":  # this process is the Ray driver: it writes the store until every run ended
        ray_backend.drive([p["run_id"] for p in record["points"]], args.home, backend.address, on_update=show)
        results = sweep.point_results(record, args.home)
    else:
        try:
            results = sweep.wait_sweep(record, args.home, max_workers=args.workers, on_update=show)
        except KeyboardInterrupt:
            print(f"stopped waiting; the runs of sweep {record['id']} go on in the background", file=sys.stderr)
            raise
    elapsed = time.perf_counter() - began
    points = [{k: p[k] for k in ("run_id", "level", "seed", "variant", "status", "error", "metrics")} for p in results]
    if backend.name == "ray":
        from compress_core.runs.jobs import open_store

        store = open_store(args.home)
        for point in points:
            point["node"] = store.get(point["run_id"]).get("node")
    summary = sweep.sweep_summary(sweep.sweep_points(record, args.home), "accuracy")
    if args.json:
        print(json.dumps({"sweep_id": record["id"], "method": method, "param": record["param"],
                          "levels": record["levels"], "seeds": record["seeds"], "variants": record["variants"],
                          "base_spec": record["base_spec"], "wall_s": elapsed, "points": points,
                          "summary": summary.to_dict(orient="records")}, default=str))
    else:
        _print_sweep(record, points, summary, elapsed)
    return 0 if all(p["status"] == "finished" for p in points) else 1


def _print_sweep(record: dict, points: list[dict], summary, elapsed: float) -> None:
    print(f"sweep {record['id']} ({record['method']} over {record['param']}) in {elapsed:.1f} s")
    print(f"  {'level':>8} {'seed':>5} {'variant':<15} {'status':<10} {'accuracy':>8} {'sparsity':>8}  run")
    for p in points:
        m = p["metrics"]
        acc = f"{m['accuracy']:.4f}" if isinstance(m.get("accuracy"), float) else "-"
        sp = f"{m['sparsity']:.3f}" if isinstance(m.get("sparsity"), float) else "-"
        print(f"  {p['level']!s:>8} {p['seed']:>5} {p['variant']:<15} {p['status']:<10} {acc:>8} {sp:>8}  {p['run_id']}")
        if p["error"]:
            print(f"      error: {p['error']}")
    print("  accuracy over seeds (mean ± std [min, max]):")
    for row in summary.to_dict(orient="records"):
        print(f"  {row['level']!s:>8} {row['variant']:<15} {row['mean']:.4f} ± {row['std']:.4f} "
              f"[{row['min']:.4f}, {row['max']:.4f}] n={row['n']}")


# ---------------------------------------------------------------- sensitivity
def _sensitivity(args) -> int:
    amounts = parse_levels(args.amounts, "amount", "--amounts")
    spec = TrainSpec(**base_fields(args), epochs=args.baseline_epochs)
    ctx = RunContext.create(home=args.home, data_dir=args.data_dir,
                            on_progress=None if args.json else ThrottledPrinter(), device=resolve_device(spec.device))
    backend = get_backend(args.backend, args.ray_address)
    began = time.perf_counter()
    nodes = None
    if backend.name == "ray":  # one Ray task per layer, on the baseline cached in the (shared) home
        table, nodes = ray_backend.sensitivity_scan(spec, amounts, args.home, backend.address, data_dir=args.data_dir,
                                                    criterion=args.criterion, on_progress=ctx.on_progress)
    else:
        table = run_sensitivity(spec, amounts, ctx, args.criterion)
    out = {"spec": spec.to_dict(), "amounts": sorted(amounts), "baseline_accuracy": float(table["baseline_accuracy"].iloc[0]),
           "layers": layer_sizes(table), "rows": table.to_dict(orient="records"), "duration_s": time.perf_counter() - began}
    if nodes is not None:
        out["nodes"] = nodes  # layer -> the Ray node that scanned it
    if args.target is not None:
        proposal = propose_layer_amounts(table, None, args.target)
        out.update(target=args.target, proposal=proposal, predicted_drop=predicted_drop(table, proposal),
                   achieved_sparsity=achieved_sparsity(proposal, layer_sizes(table)))
    if args.json:
        print(json.dumps(out))
        return 0
    drops = table.pivot(index="layer", columns="amount", values="drop").loc[list(out["layers"])]
    print(f"accuracy drop (points) when one layer alone is pruned; baseline accuracy {out['baseline_accuracy']:.4f}")
    print((100 * drops).round(2).to_string())
    if "proposal" in out:
        print(f"proposed amounts for global sparsity {args.target:g} (predicted drop "
              f"{100 * out['predicted_drop']:.2f} points, layers assumed independent):")
        for layer, amount in out["proposal"].items():
            print(f"  {layer:<20} {amount:.4f}  ({out['layers'][layer]} weights)")
    return 0


# ---------------------------------------------------------------- export and report
def _export(args) -> int:
    info = export_run(args.id, args.format, args.out, home=args.home, data_dir=args.data_dir)
    if args.json:
        print(json.dumps(info))
    else:
        check = f"; max |diff| vs PyTorch {info['max_abs_diff']:.2g} (tolerance {info['tolerance']:g})" \
            if info["max_abs_diff"] is not None else ""
        print(f"wrote {info['path']} ({info['bytes']} bytes, {info['format']}){check}")
    return 0


def _report(args) -> int:
    ids = [i.strip() for i in args.runs.split(",") if i.strip()] if args.runs else None
    if args.runs is not None and not ids:
        raise CompressError(f"--runs must list run ids separated by commas; got {args.runs!r}")
    out = Path(args.out)
    if out.is_dir() or not out.parent.exists():
        raise CompressError(f"--out {args.out!r} must be a file in an existing folder")
    from compress_core.runs.artifacts import write_text
    from compress_core.runs.export_checks import check_not_link

    check_not_link(out)
    runs = report_runs(args.home, ids)
    write_text(out, build_report(runs, title=args.title))  # atomic: never writes through a link
    print(f"wrote {out} ({len(runs)} runs, {out.stat().st_size} bytes)", file=sys.stderr)
    return 0
