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
        p.add_argument("--model", required=True,
                       help="a built-in name (see `models`), timm:NAME, model.onnx, model.pt2, file.py:function "
                            "or package.module:function")
        p.add_argument("--hidden", help="hidden widths for mlp, e.g. 30 or 300,100")
    add_source(p, teacher=not model)
    p.add_argument("--dataset", default="digits", help="data set name or a .csv/.npz path (default: digits)")
    p.add_argument("--label-column", default="label", help="label column of a CSV file (default: label)")
    p.add_argument("--text-column", default="text", help="text column of a CSV of texts (default: text)")
    p.add_argument("--max-length", type=integer, default=128,
                   help="text: tokens per text at most; longer texts are truncated with a notice (default: 128)")
    p.add_argument("--seed", type=integer, default=0, help="random seed (default: 0)")
    p.add_argument("--batch-size", type=integer, help="batch size (default: 32 below 5000 training rows, else 128)")
    p.add_argument("--precision", default="fp32",
                   help="training precision of the baseline, fine-tuning and distillation: fp32, bf16 (autocast with "
                        "fp32 master weights), fp16 (CUDA only) or auto (bf16 when measured faster here; default: fp32)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_device(p)
    add_home(p)


def add_device(p: argparse.ArgumentParser) -> None:
    """Where the run computes (training, fine-tuning, distillation, evaluation, timing)."""
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N (default: auto)")


def add_source(p: argparse.ArgumentParser, *, teacher: bool = False) -> None:
    """Options of a model source: weights, the preprocessing it expects, the image size."""
    whose = "the teacher" if teacher else "the model"
    p.add_argument("--weights", help=f".safetensors weights loaded into {whose} (it then comes trained: evaluated, "
                                     "not retrained)")
    p.add_argument("--normalize", help="auto (training-split statistics), none (pixels in [0, 1]) or MEAN,STD "
                                       "(per channel m1/m2/m3,s1/s2/s3); default: auto for models trained here, "
                                       "none for models that come trained")
    p.add_argument("--resize", help="resize images to HEIGHTxWIDTH (or SIZE) for the model; default: no resizing")


def add_home(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", help="data folder for data sets, baselines and runs (default: $COMPRESS_LAB_HOME or ~/.compress_lab)")
    p.add_argument("--data-dir", help="where data sets are looked up (default: <home>/data)")


def base_fields(args) -> dict:
    d = {"dataset": args.dataset, "label_column": args.label_column, "seed": args.seed,
         "batch_size": args.batch_size, "text_column": getattr(args, "text_column", "text"),
         "max_length": getattr(args, "max_length", 128), "precision": getattr(args, "precision", "fp32")}
    for key in ("weights", "normalize", "resize"):
        if getattr(args, key, None) is not None:
            d[key] = getattr(args, key)
    if getattr(args, "device", None) is not None:
        d["device"] = args.device
    if getattr(args, "model", None) is not None:
        d["model"] = args.model
        d["hidden"] = args.hidden
    return d


def layer_amounts(text: str) -> dict:
    """`--layer-amounts net.1=0.9,net.3=0.8` -> {"net.1": 0.9, "net.3": 0.8} (the spec checks the values)."""
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAYER=AMOUNT pairs separated by commas, got {text!r}") from None
