"""Deployable speed: int8 in ONNX Runtime and sparse CSR forms of pruned models (issue 13).

Targets, all at batch 64 on CPU, each form against the dense fp32 model in the SAME runtime:
- LeNet-300-100 on 784 inputs: int8 .onnx (ONNX Runtime quantize_dynamic) >= 1.8x over the
  fp32 .onnx in ONNX Runtime.
- LeNet-300-100 pruned to 98 % (global L1): its sparse form (CSR Linear layers where measured
  faster) >= 1.5x over the dense model, both torch eager.
- A 784-1024-1024-10 MLP pruned to 90 %: sparse form >= 2x over dense, torch eager.
Latency depends on shapes and zero patterns, not on trained values, so the models are untrained
(random weights, magnitude-pruned). Each round times both forms with calls alternated
(`runtimes.time_forms`); the median of the per-round ratios is reported with its range, so
load from other processes on a shared machine hits both sides alike.

    python benchmarks/bench_runtimes.py [--rounds 7] [--repeats 40] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from compress_core.measure.runtimes import all_threads, ort_form, time_forms, torch_form  # noqa: E402
from compress_core.methods.int8_onnx import export_fp32, quantize_file  # noqa: E402
from compress_core.methods.prune import make_permanent, prune_to  # noqa: E402
from compress_core.methods.sparse_exec import sparse_form  # noqa: E402
from compress_core.models.zoo import build_model  # noqa: E402

BATCH = 64


def paired(forms, shape, rounds: int, repeats: int, threads: int) -> tuple[float, float, float, float, float]:
    """(median ratio first/second, lowest, highest, median ms of first, of second) over `rounds` rounds."""
    ratios, a_ms, b_ms = [], [], []
    for r in range(rounds):
        timed = time_forms(forms, shape, BATCH, threads=threads, repeats=repeats, seed=r)
        a, b = (timed[f.name]["median_ms"] for f in forms)
        ratios.append(a / b)
        a_ms.append(a)
        b_ms.append(b)
    return statistics.median(ratios), min(ratios), max(ratios), statistics.median(a_ms), statistics.median(b_ms)


def line(label: str, result, target: float, what: str) -> bool:
    ratio, low, high, a, b = result
    ok = ratio >= target
    print(f"| {label} | {what} | {a:.3f} ms | {b:.3f} ms | {ratio:.2f}x ({low:.2f}-{high:.2f}) | >= {target}x | "
          f"{'PASS' if ok else 'FAIL'} |")
    return ok


def mlp(hidden) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("mlp", (784,), 10, hidden).eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--threads", default="1", help="thread count, or 'all'")
    args = parser.parse_args()
    threads = all_threads() if args.threads == "all" else int(args.threads)
    print(f"batch {BATCH}, {threads} thread(s), {args.rounds} rounds x {args.repeats} alternated calls; "
          f"torch {torch.__version__}; median of per-round ratios (range)\n")
    print("| model | comparison (same runtime) | baseline | compressed | speed-up | target | |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    lenet = mlp((300, 100))
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_fp32(lenet, (784,), Path(tmp) / "fp32.onnx")
        int8 = quantize_file(fp32, Path(tmp) / "int8.onnx", "dynamic")
        ok &= line("LeNet-300-100 (784 in)", paired([ort_form("fp32", fp32), ort_form("int8", int8)], (784,),
                                                     args.rounds, args.repeats, threads),
                   1.8, "int8 .onnx vs fp32 .onnx, ONNX Runtime")
        torch_vs_ort = paired([torch_form("torch", lenet), ort_form("fp32", fp32)], (784,), args.rounds,
                              args.repeats, threads)
        print(f"| LeNet-300-100 (784 in) | runtime gain: ONNX Runtime fp32 vs torch eager fp32 (not a compression "
              f"gain) | {torch_vs_ort[3]:.3f} ms | {torch_vs_ort[4]:.3f} ms | {torch_vs_ort[0]:.2f}x "
              f"({torch_vs_ort[1]:.2f}-{torch_vs_ort[2]:.2f}) | | |")
    for hidden, amount, target in (((300, 100), 0.98, 1.5), ((1024, 1024), 0.90, 2.0)):
        dense = mlp(hidden)
        prune_to(dense, "l1", "global", amount)
        make_permanent(dense)
        sparse, rows = sparse_form(dense, BATCH, repeats=args.repeats, threads=threads)
        chosen = [r["name"] for r in rows if r["sparse"]]
        name = f"784-{'-'.join(map(str, hidden))}-10 pruned {amount:.0%}"
        ok &= line(name, paired([torch_form("dense", dense), torch_form("sparse", sparse, "torch-sparse")], (784,),
                                args.rounds, args.repeats, threads),
                   target, f"sparse CSR form ({', '.join(chosen) or 'no layer'} sparse) vs dense, torch eager")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
