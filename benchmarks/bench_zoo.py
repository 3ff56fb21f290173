"""A real-size zoo model through the lab: timm:resnet18 at 32x32 (CIFAR-shaped), batch 64.

Target (issue 11): structured pruning of 50 % of the channels gives a measured speed-up of at
least 0.7 of the theoretical FLOPs ratio; int8 is measured beside fp32. Latency is the median
of paired, alternating calls (`paired_latency_ms`), after warm-up, with all of torch's threads.
The model is randomly initialised (speed does not depend on the weights) and the int8
calibration batch is random CIFAR-shaped data the script generates; nothing is downloaded.

    python benchmarks/bench_zoo.py [--model timm:resnet18] [--repeats 20] [--threads N]
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from compress_core.measure.metrics import count_params, flops, paired_latency_ms  # noqa: E402
from compress_core.methods.quantize import quiet_torch_ao, to_int8  # noqa: E402
from compress_core.methods.structured import prune_channels  # noqa: E402
from compress_core.models.sources import resolve_model  # noqa: E402

SHAPE = (3, 32, 32)
CLASSES = 10
BATCH = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="timm:resnet18")
    parser.add_argument("--amount", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fp32 = resolve_model(args.model, SHAPE, CLASSES).module.eval()
    print(f"{args.model} at {'x'.join(map(str, SHAPE))}, {CLASSES} classes, batch {BATCH}, {args.threads} threads, "
          f"median of {args.repeats} paired calls")

    pruned = prune_channels(copy.deepcopy(fp32), SHAPE, args.amount).eval()
    f0, f1 = flops(fp32, SHAPE)["flops_dense"], flops(pruned, SHAPE)["flops_dense"]
    p0, p1 = count_params(fp32)[0], count_params(pruned)[0]
    with torch.no_grad():
        base_ms, pruned_ms = paired_latency_ms(fp32, pruned, SHAPE, BATCH, repeats=args.repeats)
    theoretical, measured = f0 / f1, base_ms / pruned_ms
    print(f"structured {args.amount:.0%} channels: params {p0:,} -> {p1:,} ({p1 / p0:.3f}); FLOPs {f0 / 1e6:.1f} M -> "
          f"{f1 / 1e6:.1f} M (theoretical speed-up {theoretical:.2f}x)")
    print(f"  latency b{BATCH}: fp32 {base_ms:.2f} ms, pruned {pruned_ms:.2f} ms -> measured {measured:.2f}x = "
          f"{measured / theoretical:.2f} of the FLOPs ratio (target >= 0.7)")

    calibration = torch.rand(256, *SHAPE)
    with quiet_torch_ao():
        int8 = to_int8(fp32, "static", "tensor", calibration, calibration[:1])
        with torch.no_grad():
            fp_ms, q_ms = paired_latency_ms(fp32, int8, SHAPE, BATCH, repeats=args.repeats)
    print(f"int8 (static, torch.ao FX, x86): fp32 {fp_ms:.2f} ms, int8 {q_ms:.2f} ms -> {fp_ms / q_ms:.2f}x "
          f"(batch {BATCH}, measured beside fp32 in alternation)")


if __name__ == "__main__":
    main()
