"""Quantization: int8 size, accuracy and latency; fake k-bit accuracy against bits.

Targets (issue), on the cached lenet300/digits baseline (trained through the engine):
- `quantize --model lenet300 --dataset digits --scheme int8`: serialized int8 size at most
  0.30 of the fp32 baseline's, accuracy within 1 point.
- `quantize --scheme fake --bits 4 --model lenet300 --dataset digits`: accuracy within 2 points.
Then a table of fake-quantized accuracy for 2..8 bits and both granularities, and int8
against fp32 latency at batch 1 and 64 on CPU. Latency is timed alternately, round after
round, and the median of per-round ratios reported, so load from other processes hits both.
Latency depends on shapes, not weight values, so the larger-input cases use untrained models.

    python benchmarks/bench_quantize.py [--rounds 9] [--repeats 50] [--threads 1] [--home DIR]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import compress_core  # noqa: E402
from compress_core.training.baseline import get_baseline  # noqa: E402
from compress_core.context import RunContext  # noqa: E402
from compress_core.measure.metrics import latency_ms, serialized_size  # noqa: E402
from compress_core.models.zoo import build_model  # noqa: E402
from compress_core.methods.quantize import (  # noqa: E402
    QuantizeSpec, _CPUAnchored, fake_quantize_model, int8_method, packed_size_bytes, quiet_torch_ao, to_int8)
from compress_core.training.loop import evaluate  # noqa: E402

LATENCY_CASES = [("lenet300", (1, 8, 8), "digits 8x8"), ("lenet5", (1, 8, 8), "digits 8x8"),
                 ("lenet300", (1, 28, 28), "MNIST-sized"), ("lenet5", (1, 28, 28), "MNIST-sized"),
                 ("resnet8", (3, 32, 32), "CIFAR-sized")]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def target_runs(home: Path, runs: Path) -> None:
    """The issue's two figures, run through the engine exactly as the CLI does."""
    for granularity in ("channel", "tensor"):
        spec = QuantizeSpec(model="lenet300", dataset="digits", scheme="int8", granularity=granularity)
        r = compress_core.run(spec, home=home, artifacts_dir=runs / f"int8-{granularity}")
        m, b = r.metrics, r.baseline
        ratio = m["size_int8_bytes"] / b["size_fp32_bytes"]
        change = 100 * (m["accuracy"] - m["baseline_accuracy"])
        default = " (the CLI default)" if granularity == "channel" else ""
        print(f"int8 lenet300/digits per-{granularity}{default}: {m['size_int8_bytes']} / {b['size_fp32_bytes']} "
              f"bytes = {ratio:.3f} [{verdict(ratio <= 0.30)} <= 0.30]; accuracy {m['accuracy']:.4f} vs "
              f"{m['baseline_accuracy']:.4f} ({change:+.2f} pt) [{verdict(abs(change) <= 1)} within 1 pt]")
    r = compress_core.run(QuantizeSpec(model="lenet300", dataset="digits", scheme="fake", bits=4), home=home)
    m = r.metrics
    change = 100 * (m["accuracy"] - m["baseline_accuracy"])
    print(f"fake 4-bit lenet300/digits per-channel: accuracy {m['accuracy']:.4f} vs {m['baseline_accuracy']:.4f} "
          f"({change:+.2f} pt) [{verdict(abs(change) <= 2)} within 2 pt]; packed estimate "
          f"{m['size_ratio_quantized']:.3f} of fp32")


def bits_table(home: Path) -> None:
    """Accuracy (and packed-size ratio) of the fake-quantized baseline for every bit width."""
    base = get_baseline(QuantizeSpec(model="lenet300", dataset="digits").baseline_spec(), RunContext.create(home=home))
    data = base.data
    fp32_acc, _ = evaluate(base.model, data.x_test, data.y_test)
    fp32_bytes = serialized_size(base.model.state_dict())  # the denominator the runs use
    print(f"\nfake quantization, lenet300/digits (fp32 accuracy {fp32_acc:.4f}); accuracy / packed size ratio")
    print(f"{'bits':>4}  {'per-tensor':>16}  {'per-channel':>16}")
    for bits in range(2, 9):
        cells = []
        for granularity in ("tensor", "channel"):
            model = fake_quantize_model(copy.deepcopy(base.model), bits, granularity)
            acc, _ = evaluate(model, data.x_test, data.y_test)
            cells.append(f"{acc:.4f} / {packed_size_bytes(model, bits, granularity) / fp32_bytes:.3f}")
        print(f"{bits:>4}  {cells[0]:>16}  {cells[1]:>16}")


def timed_pair(fp32, int8, shape, batch: int, rounds: int, repeats: int) -> tuple[float, float, float]:
    """(median fp32 ms, median int8 ms, median per-round speed-up), both wrapped alike."""
    a, b = _CPUAnchored(fp32), _CPUAnchored(int8)
    fp_ms, q_ms = [], []
    with quiet_torch_ao():
        for _ in range(rounds):
            fp_ms.append(latency_ms(a, shape, batch, repeats=repeats, max_seconds=10))
            q_ms.append(latency_ms(b, shape, batch, repeats=repeats, max_seconds=10))
    return statistics.median(fp_ms), statistics.median(q_ms), statistics.median(f / q for f, q in zip(fp_ms, q_ms))


def latency_table(args) -> None:
    print(f"\nint8 vs fp32 latency on CPU, {torch.get_num_threads()} threads, engine {torch.backends.quantized.engine}")
    print(f"{'model':<28} {'int8':<8} {'b1 ms fp32 -> int8, speed-up':>32}  {'b64 ms fp32 -> int8, speed-up':>32}")
    for name, shape, label in LATENCY_CASES:
        torch.manual_seed(0)
        fp32 = build_model(name, shape, 10).eval()
        method = int8_method(fp32)
        int8 = to_int8(fp32, method, "channel", torch.randn(256, *shape), torch.zeros(1, *shape))
        cells = []
        for batch in (1, 64):
            f, q, s = timed_pair(fp32, int8, shape, batch, args.rounds, args.repeats)
            cells.append(f"{f:9.4f} -> {q:9.4f} {s:7.2f}x")
        print(f"{name + ' ' + label:<28} {method:<8} {cells[0]:>32}  {cells[1]:>32}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="alternating timing rounds (default: 9)")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per round and model (default: 50)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--home", help="reuse a Compression Lab home (its cached baseline) instead of a temp one")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"quantization benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(args.home) if args.home else Path(tmp)
        target_runs(home, Path(tmp) / "runs")
        bits_table(home)
    latency_table(args)


if __name__ == "__main__":
    main()
