"""`speed`: deploy latency of a run (or an untrained zoo model) per form x batch size x threads."""
from __future__ import annotations

import json
import sys


def add_commands(sub) -> None:
    from compress_core.options import add_home, integer

    p = sub.add_parser("speed", help="time a run's model and its baseline in every runtime (torch, ONNX Runtime, "
                                     "sparse, int8) per batch size and thread count",
                       description="time a run's model and its baseline in every runtime (torch eager, ONNX "
                                   "Runtime fp32, and the compressed form: masked, sparse CSR, smaller dense or int8 "
                                   ".onnx) per batch size and thread count, with median and IQR; stored with the run")
    p.add_argument("id", nargs="?", help="a finished run's id (or use --model)")
    p.add_argument("--model", help="time an untrained model of the zoo instead of a run (not stored)")
    p.add_argument("--hidden", help="hidden widths for --model mlp, e.g. 300,100")
    p.add_argument("--dataset", default="digits", help="data set of --model (input shape; default: digits)")
    p.add_argument("--batches", default="1,8,64,256", help="batch sizes (default: 1,8,64,256)")
    p.add_argument("--threads", default="1,all", help="thread counts, 'all' for every core (default: 1,all)")
    p.add_argument("--repeats", type=integer, default=20, help="timed calls per cell (default: 20)")
    p.add_argument("--break-even-batch", type=integer, default=64,
                   help="batch size of the sparse-vs-dense break-even sweep (0: skip; default: 64)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_home(p)
    p.set_defaults(handler=_speed)


def _speed(args) -> int:
    from compress_core.errors import CompressError
    from compress_core.measure.speed import batch_sizes, model_speed, run_speed, thread_counts

    if (args.id is None) == (args.model is None):
        raise CompressError("give either a run id or --model NAME (not both)")
    if not 1 <= args.repeats <= 10_000:
        raise CompressError(f"--repeats must be from 1 to 10000; got {args.repeats}")
    options = {"batches": batch_sizes(args.batches), "threads": thread_counts(args.threads),
               "repeats": args.repeats, "break_even_batch": args.break_even_batch or None,
               "on_cell": None if args.json else
               (lambda b, t: print(f"  [speed] batch {b}, {t} thread(s) timed", file=sys.stderr, flush=True))}
    if args.id is not None:
        result = run_speed(args.id, args.home, args.data_dir, **options)
    else:
        result = model_speed(args.model, args.dataset, args.hidden, args.home, args.data_dir, **options)
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    from compress_core.present.speed import table_text

    print(table_text(result))
    return 0
