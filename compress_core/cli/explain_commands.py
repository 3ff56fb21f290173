"""`explain RUN_ID`: what a finished run's compressed model got wrong, and which layer is to blame."""
from __future__ import annotations

import json


def add_commands(sub) -> None:
    from compress_core.options import add_home, integer

    p = sub.add_parser("explain", help="per-class accuracy vs the baseline, forgotten and learnt test examples, "
                                       "and per-layer attribution of a finished run",
                       description="compare a finished run with its baseline on the test split: per-class accuracy "
                                   "and the confusion difference, the examples it forgot (baseline right, run wrong) "
                                   "and learnt, those forgotten under most seeds of a seed sweep, and per-layer "
                                   "attribution measured by swapping the run's own layers into the baseline")
    p.add_argument("id", help="a finished run's id")
    p.add_argument("--limit", type=integer, default=50, help="rows kept per flip table (default: 50)")
    p.add_argument("--mode", default="auto", help="attribution: how a layer is compressed in a swap; mask (the "
                   "run's zeros on the baseline's weights), weights (the run's own tensors) or auto (mask for prune "
                   "runs, else weights; default)")
    p.add_argument("--no-seeds", action="store_true", help="skip the other seeds' runs (seed exemplars)")
    p.add_argument("--no-attribution", action="store_true", help="skip the per-layer attribution")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_home(p)
    p.set_defaults(handler=_explain)


def _explain(args) -> int:
    from compress_core.errors import CompressError
    from compress_core.explore.explain import explain_run
    from compress_core.present.explain import text_summary

    if not 1 <= args.limit <= 100_000:
        raise CompressError(f"--limit must be from 1 to 100000; got {args.limit}")
    result = explain_run(args.id, args.home, args.data_dir, limit=args.limit, seeds=not args.no_seeds,
                         attribution=not args.no_attribution, mode=args.mode)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print(text_summary(result))
    return 0
