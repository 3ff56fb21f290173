"""CPU speed of compressed transformer encoders: int8, heads + FFN channels removed, fewer layers.

A MiniLM-sized BERT encoder (6 layers, hidden 384, 12 heads, FFN 1536; randomly initialised,
which is fine for timing) wrapped as the lab's `TextClassifier`, at sequence length 128
(no padding), batch 8 (and batch 1), with 2 threads. Each compressed model is timed against
the fp32 model with alternating calls (`paired_latency_ms`, median), exactly as the runs do:

- dynamic int8 of every Linear layer (torch.ao `quantize_dynamic`; note: `quantize --scheme int8` runs now write an ONNX Runtime int8 file instead);
- half the attention heads and half the FFN channels removed (`prune --method structured --amount 0.5`);
- a 3-layer student from every second layer (`distill --student-layers 3`).

Targets (issue 12): int8 >= 1.5x, heads+FFN >= 1.5x, 3-layer student >= 1.8x at batch 8.

    python benchmarks/bench_transformer.py [--threads 2] [--repeats 10] [--seq-len 128]
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
from compress_core.models.transformers_env import import_transformers  # noqa: E402
from compress_core.models.text import TextClassifier, keep_layers, prune_structure, structure  # noqa: E402

TARGETS = {"dynamic int8 (all Linear)": 1.5, "half heads + half FFN removed": 1.5, "3-layer student": 1.8}


def minilm_sized() -> TextClassifier:
    transformers = import_transformers()
    config = transformers.BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                     intermediate_size=1536, num_labels=4)
    torch.manual_seed(0)
    return TextClassifier(transformers.BertForSequenceClassification(config).eval(), pad_id=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batches", default="8,1")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fp32 = minilm_sized()
    shape = (args.seq_len,)
    with quiet_torch_ao():
        int8 = to_int8(fp32, "dynamic", "tensor", None, fp32.example_input(1, args.seq_len))
    pruned = copy.deepcopy(fp32)
    prune_structure(pruned, 0.5)
    student = keep_layers(fp32, 3).eval()
    models = {"dynamic int8 (all Linear)": int8, "half heads + half FFN removed": pruned, "3-layer student": student}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, seq_len {args.seq_len}, "
          f"median of {args.repeats} alternating calls after warm-up")
    print(f"fp32: {count_params(fp32)[0] / 1e6:.1f} M params, {structure(fp32)}")
    print(f"pruned: {count_params(pruned)[0] / 1e6:.1f} M params, heads {structure(pruned)['heads']}, "
          f"FFN {structure(pruned)['ffn_channels']}")
    dense = flops(fp32, shape)["flops_dense"]
    for name in ("half heads + half FFN removed", "3-layer student"):
        print(f"{name}: {dense / flops(models[name], shape)['flops_dense']:.2f}x fewer FLOPs per text "
              f"(FlopCounterMode, seq_len {args.seq_len})")
    print("| model | batch | fp32 ms | compressed ms | speed-up | target |")
    print("|---|---|---|---|---|---|")
    for batch in [int(b) for b in args.batches.split(",")]:
        for name, model in models.items():
            with quiet_torch_ao():
                base_ms, ms = paired_latency_ms(fp32, model, shape, batch, repeats=args.repeats, warmup=2)
            target = f">= {TARGETS[name]}x" if batch == 8 else ""
            print(f"| {name} | {batch} | {base_ms:.1f} | {ms:.1f} | {base_ms / ms:.2f}x | {target} |", flush=True)


if __name__ == "__main__":
    main()
