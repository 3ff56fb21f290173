"""CLI commands that inspect rather than run: `runs ...`, `models`, `datasets`, `data download`."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from compress_core.cli.output import print_result
from compress_core.data.datasets import DATASETS, load_dataset
from compress_core.models.zoo import MODELS
from compress_core.options import add_home
from compress_core.paths import data_dir
from compress_core.runs.store import RunStore


def add_commands(sub) -> None:
    runs = sub.add_parser("runs", help="list, show, delete and export recorded runs",
                          description="list, show, delete and export recorded runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", parser_class=type(runs))
    runs_sub.required = True
    p = runs_sub.add_parser("list", help="list runs, newest first", description="list runs, newest first")
    p.add_argument("--status", help="only runs in this state (queued, running, finished, failed, cancelled, interrupted)")
    p.add_argument("--kind", help="only runs of this kind (train, prune, distill, quantize, pipeline)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    add_home(p)
    p.set_defaults(handler=_runs_list)
    p = runs_sub.add_parser("show", help="show one run", description="show one run")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="print the run as one JSON object")
    add_home(p)
    p.set_defaults(handler=_runs_show)
    p = runs_sub.add_parser("delete", help="delete a run and its artifacts", description="delete a run and its artifacts")
    p.add_argument("id")
    add_home(p)
    p.set_defaults(handler=_runs_delete)
    p = runs_sub.add_parser("export", help="export all runs as CSV or JSON", description="export all runs as CSV or JSON")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--out", help="file to write (default: standard output)")
    add_home(p)
    p.set_defaults(handler=_runs_export)

    p = sub.add_parser("models", help="list the registered models", description="list the registered models")
    p.set_defaults(handler=_models)
    p = sub.add_parser("datasets", help="list the registered data sets", description="list the registered data sets")
    p.set_defaults(handler=_datasets)
    p = sub.add_parser("download", help="download a standard data set into the data folder (checksums verified)",
                       description="download a standard data set into the data folder (checksums verified)")
    p.add_argument("name", help="mnist, fashion-mnist or cifar10")
    add_home(p)
    p.set_defaults(handler=_download)


def _store(args):
    return RunStore(args.home)


def _runs_list(args) -> int:
    runs = _store(args).list_runs(status=args.status, kind=args.kind)
    if args.json:
        print(json.dumps(runs, default=str))
        return 0
    if not runs:
        print("no runs recorded yet")
        return 0
    print(f"{'id':<26} {'kind':<9} {'status':<11} {'model':<9} {'dataset':<14} {'accuracy':>8} {'sparsity':>8}  created")
    for r in runs:
        spec, m = r.get("spec") or {}, r.get("metrics") or {}
        acc = f"{m['accuracy']:.4f}" if isinstance(m.get("accuracy"), float) else "-"
        sp = f"{m['sparsity']:.3f}" if isinstance(m.get("sparsity"), float) else "-"
        model = spec.get("model") or spec.get("student") or "-"
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"])) if r.get("created_at") else ""
        print(f"{r['id']:<26} {r['kind']:<9} {r['status']:<11} {model:<9} {str(spec.get('dataset', '-'))[:14]:<14} "
              f"{acc:>8} {sp:>8}  {created}")
    return 0


def _runs_show(args) -> int:
    run = _store(args).get(args.id)
    if args.json:
        print(json.dumps(run, default=str))
    else:
        print_result(run)
        if run.get("error"):
            print(f"  error: {run['error']}")
    return 0


def _runs_delete(args) -> int:
    _store(args).delete(args.id)
    print(f"deleted run {args.id}")
    return 0


def _runs_export(args) -> int:
    text = _store(args).export(args.format)
    if args.out:
        from compress_core.runs.artifacts import write_text
        from compress_core.runs.export_checks import check_not_link

        check_not_link(Path(args.out))
        write_text(args.out, text)  # atomic: replaces, never writes through a link
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _models(args) -> int:
    for name in MODELS.names():
        entry = MODELS.get(name)
        print(f"{name:<10} {'images only' if entry.needs_image else 'any data':<12} {entry.description}")
    from compress_core.models.sources import allowed_forms

    print(f"\nother --model values: {allowed_forms().split('; ', 1)[1]}")
    return 0


def _datasets(args) -> int:
    for name in DATASETS.names():
        print(name)
    print("or a path to your own .csv (label column + numeric features) or .npz (X, y)")
    return 0


def _download(args) -> int:
    folder = data_dir(args.home, args.data_dir)
    ds = load_dataset(args.name, folder, download=True)
    print(f"{args.name}: {len(ds.x_train)} training and {len(ds.x_test)} test examples in {folder}")
    return 0
