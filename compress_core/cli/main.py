"""`python -m compress_core`: the command line, a thin layer over `api.run` and the run store.

Every command has `--help`. Bad input exits with status 2 and one line naming the bad
value and what is allowed; no traceback reaches the user.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from typing import Callable, Sequence

from compress_core.errors import CompressError
from compress_core.options import OneLineParser, add_common, add_home, base_fields
from compress_core.options import integer as _int
from compress_core.options import ratio as _ratio

EXIT_BAD_INPUT = 2


# Run commands: (name, help, add_arguments(parser), spec_from_args(args)). Method modules
# listed in METHOD_MODULES contribute theirs through a module-level `CLI_COMMANDS` list.
COMMANDS: list[tuple[str, str, Callable, Callable]] = []
METHOD_MODULES = ["compress_core.methods.distill", "compress_core.methods.quantize", "compress_core.methods.pipeline"]
EXTRA_COMMAND_MODULES = ["compress_core.cli.explore_commands"]


def _train_args(p):
    add_common(p)
    p.add_argument("--epochs", type=_int, help="training epochs (default: the data set's default)")


def _train_spec(args):
    from compress_core.specs import TrainSpec

    return TrainSpec(**base_fields(args), epochs=args.epochs)


def _layer_amounts(text: str) -> dict:
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAYER=AMOUNT pairs separated by commas, got {text!r}") from None


def _prune_args(p):
    add_common(p)
    p.add_argument("--method", default="l1", help="l1 (magnitude), random (control) or structured (default: l1)")
    p.add_argument("--scope", default="global", help="global or layer (default: global)")
    p.add_argument("--amount", type=_ratio, required=True, help="share of weights (or channels) to remove, in [0, 1)")
    p.add_argument("--schedule", default="oneshot", help="oneshot or agp (default: oneshot)")
    p.add_argument("--steps", type=_int, default=10, help="AGP pruning steps (default: 10)")
    p.add_argument("--finetune-epochs", type=_int, default=3, help="fine-tuning epochs after pruning (default: 3)")
    p.add_argument("--finetune-lr", type=_ratio, help="fine-tuning learning rate (cosine-decayed peak; default: 7e-3 below 5000 training rows, else 2e-3)")
    p.add_argument("--baseline-epochs", type=_int, help="epochs of the baseline (default: the data set's default)")
    p.add_argument("--importance", default="l1", help="structured: l1 or l2 channel importance (default: l1)")
    p.add_argument("--layer-amounts", type=_layer_amounts, help="per-layer amounts, e.g. net.1=0.9,net.3=0.5 "
                   "(non-uniform l1/random one-shot pruning; see `sensitivity`)")


def _prune_spec(args):
    from compress_core.specs import PruneSpec

    return PruneSpec(**base_fields(args), method=args.method, scope=args.scope, amount=args.amount,
                     schedule=args.schedule, steps=args.steps, finetune_epochs=args.finetune_epochs,
                     finetune_lr=args.finetune_lr, baseline_epochs=args.baseline_epochs, importance=args.importance,
                     layer_amounts=args.layer_amounts)


COMMANDS.append(("train", "train (or fetch from the cache) a baseline model and measure it", _train_args, _train_spec))
COMMANDS.append(("prune", "prune a trained baseline (l1, random or structured), fine-tune and measure", _prune_args, _prune_spec))


def run_commands() -> list[tuple[str, str, Callable, Callable]]:
    """Every run command: train and prune from here, the others from their method modules."""
    commands = list(COMMANDS)
    for module_name in METHOD_MODULES:
        commands.extend(importlib.import_module(module_name).CLI_COMMANDS)
    return commands


def build_parser() -> argparse.ArgumentParser:
    from compress_core.cli import store_commands as cli_store

    parser = OneLineParser(prog="python -m compress_core",
                           description="Compression Lab: prune, distil and quantize neural networks, and measure the result.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name, help_text, add_arguments, builder in run_commands():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(handler=lambda args, builder=builder: run_command(args, builder))
    cli_store.add_commands(sub)
    for module_name in EXTRA_COMMAND_MODULES:  # modules with an add_commands(sub) of their own
        importlib.import_module(module_name).add_commands(sub)
    return parser


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_result(result: dict) -> None:
    """Human-readable summary: key figures beside the baseline."""
    print(f"run {result['id']} ({result['kind']}): {result['status']}")
    metrics, base = result.get("metrics", {}), result.get("baseline", {})
    keys = ["accuracy", "loss", "params_total", "params_nonzero", "sparsity", "compression_ratio", "flops_dense",
            "flops_effective", "theoretical_speedup", "size_fp32_bytes", "size_sparse_bytes", "size_quantized_bytes",
            "latency_ms_b1", "latency_ms_b64", "speedup_b64", "teacher_accuracy", "scratch_accuracy", "gain_vs_scratch",
            "agreement", "student_epochs", "scratch_epochs", "channel_ratio", "param_ratio", "duration_s"]
    width = max(len(k) for k in keys)
    print(f"  {'metric':<{width}}  {'result':>14}  {'baseline':>14}")
    for key in keys:
        if key in metrics:
            print(f"  {key:<{width}}  {_fmt(metrics[key]):>14}  {_fmt(base.get(key, '')):>14}")
    for step in result.get("steps") or []:
        sm = step.get("metrics", {})
        sizes = ", ".join(f"{key[5:-6]} {sm[key]} B" for key in ("size_fp32_bytes", "size_sparse_bytes",
                          "size_quantized_bytes", "size_sparse_quantized_bytes") if key in sm)
        print(f"  step {step.get('step')}: {step.get('label', step.get('kind'))}: accuracy {_fmt(sm.get('accuracy'))}, "
              f"non-zero params {_fmt(sm.get('params_nonzero'))}; sizes: {sizes}")
    for note in result.get("notes", []):
        print(f"  note: {note}")


class ThrottledPrinter:
    """Progress lines on stderr: every stage change, otherwise at most one a second."""

    def __init__(self, interval: float = 1.0):
        self.interval, self.stage, self.last = interval, None, 0.0

    def __call__(self, event) -> None:
        now = time.monotonic()
        final = event.step >= event.total
        if event.stage != self.stage or final or now - self.last >= self.interval:
            self.stage, self.last = event.stage, now
            print(f"  [{event.stage}] {event.message or f'{event.step}/{event.total}'}", file=sys.stderr, flush=True)


def run_command(args, builder: Callable) -> int:
    """Build the spec, run it (recorded in the run store) and print the result."""
    from compress_core.runs.jobs import record_foreground

    spec = builder(args)
    progress = None if args.json else ThrottledPrinter()
    result = record_foreground(spec.to_dict(), home=args.home, data_dir=args.data_dir, on_progress=progress)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print_result(result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return args.handler(args) or 0
    except CompressError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head -1`: the reader left; what was done is recorded, stay quiet
        from compress_core.runs.jobs import silence_closed_streams

        silence_closed_streams()
        return 0
    except Exception as exc:  # an engine bug: one line for users, the traceback on request
        if os.environ.get("COMPRESS_LAB_DEBUG"):
            raise
        print(f"error: internal error ({type(exc).__name__}: {exc}); set COMPRESS_LAB_DEBUG=1 for the traceback",
              file=sys.stderr)
        return 1
