"""Command-line options shared by every run kind, declared beside the engine.

Method modules declare their own CLI options with these helpers, so the engine never imports
the CLI package (`compress_core.cli` reads the method registry and builds the parser).
"""
from __future__ import annotations

import argparse

from compress_core.errors import CompressError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are one line (`error: ...`) instead of usage + message."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise CompressError(f"{self.prog}: {message}")


def ratio(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def add_common(p: argparse.ArgumentParser, *, model: bool = True) -> None:
    """Options every run command shares: where data lives, which model and data, the seed."""
    if model:
        p.add_argument("--model", required=True, help="model name (see `models`)")
        p.add_argument("--hidden", help="hidden widths for mlp, e.g. 30 or 300,100")
    p.add_argument("--dataset", default="digits", help="data set name or a .csv/.npz path (default: digits)")
    p.add_argument("--label-column", default="label", help="label column of a CSV file (default: label)")
    p.add_argument("--text-column", default="text", help="text column of a CSV of texts (default: text)")
    p.add_argument("--max-length", type=integer, default=128,
                   help="text: tokens per text at most; longer texts are truncated with a notice (default: 128)")
    p.add_argument("--seed", type=integer, default=0, help="random seed (default: 0)")
    p.add_argument("--batch-size", type=integer, help="batch size (default: 32 below 5000 training rows, else 128)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_home(p)


def add_home(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", help="data folder for data sets, baselines and runs (default: $COMPRESS_LAB_HOME or ~/.compress_lab)")
    p.add_argument("--data-dir", help="where data sets are looked up (default: <home>/data)")


def base_fields(args) -> dict:
    d = {"dataset": args.dataset, "label_column": args.label_column, "seed": args.seed,
         "batch_size": args.batch_size, "text_column": getattr(args, "text_column", "text"),
         "max_length": getattr(args, "max_length", 128)}
    if getattr(args, "model", None) is not None:
        d["model"] = args.model
        d["hidden"] = args.hidden
    return d
