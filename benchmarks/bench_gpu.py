"""GPU benchmark (issue 18): 2:4 semi-structured sparsity against dense fp16, and a digits run on CUDA vs CPU.

Three parts, all with the engine's own code (`methods/nm_sparsity.py`, `api.run`):

1. **Linear stack**: `--stack-layers` Linear layers of `--width` x `--width` (default 4 x 4096x4096),
   pruned 2:4 by L1 magnitude, timed in fp16 as the 2:4 form (torch.sparse.to_sparse_semi_structured)
   against the same model dense, calls paired and alternated between torch.cuda.synchronize() calls,
   median of `--repeats`, at every batch size of `--batches`; the same for its largest Linear layer alone.
2. **MiniLM-sized encoder**: a BERT encoder of MiniLM-L12-H384's shape (12 layers, hidden 384, 12 heads,
   FFN 1536; random weights: speed only), `--seq-len` tokens per text, all its Linear layers 2:4;
   whole model and its largest Linear layers.
3. **LeNet-300-100 on digits**: `prune --pattern 2:4 --method l1` run once on CUDA and once on the CPU
   (same seed, same settings): accuracy of each, against the dense baseline, and the wall time.

Writes one JSON (`--json`, default gpu_results.json) and prints a table. Without CUDA (or without
2:4 kernels: compute capability < 8.0) parts 1-2 say why and are not timed; part 3 still runs on the CPU.

    python benchmarks/bench_gpu.py [--json out.json] [--batches 1,4,16,64,256,1024] [--repeats 20]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import compress_core  # noqa: E402
from compress_core.methods.nm_sparsity import apply_nm, semi_structured_measures, semi_structured_support  # noqa: E402
from compress_core.errors import CompressError  # noqa: E402
from compress_core.methods.prune import make_permanent  # noqa: E402
from compress_core.models.transformers_env import import_transformers  # noqa: E402
from compress_core.specs import PruneSpec  # noqa: E402

MINILM = dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=12, intermediate_size=1536,
              vocab_size=30522, max_position_embeddings=512)


def linear_stack(width: int, layers: int) -> nn.Module:
    torch.manual_seed(0)
    mods = []
    for i in range(layers):
        mods += [nn.Linear(width, width)] + ([nn.ReLU()] if i < layers - 1 else [])
    return nn.Sequential(*mods)


class Encoder(nn.Module):
    """A BERT classifier of MiniLM's shape over token ids; `example_input` gives full-length ids."""

    def __init__(self):
        super().__init__()
        transformers = import_transformers()  # offline, beside whatever torchvision is installed
        torch.manual_seed(0)
        config = transformers.BertConfig(num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                         **MINILM)
        self.bert = transformers.BertForSequenceClassification(config)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids=ids).logits

    def example_input(self, batch: int, seq_len: int, device=None) -> torch.Tensor:
        ids = torch.randint(1, MINILM["vocab_size"], (batch, seq_len), generator=torch.Generator().manual_seed(0))
        return ids.to(device) if device is not None else ids


def two_four(model: nn.Module) -> nn.Module:
    apply_nm(model, 2, 4, "l1")
    return make_permanent(model)


def kernel_part(name: str, model: nn.Module, input_shape, batches, repeats: int, layer_count: int) -> dict:
    began = time.perf_counter()
    report = semi_structured_measures(two_four(model), input_shape, batches=batches, repeats=repeats,
                                      layer_count=layer_count)
    out = {"name": name, **report.to_dict(), "seconds": time.perf_counter() - began}
    print(f"\n== {name}: {report.metrics.get('semi_structured')}")
    for row in report.model_rows:
        print(f"  whole model  batch {row['batch']:>5}: dense fp16 {_ms(row['dense_ms'])}  2:4 {_ms(row['sparse_ms'])}"
              f"  speed-up {_x(row['speedup'])}")
    for row in report.layer_rows:
        print(f"  {row['layer']:<40} {row['shape']} batch {row['batch']:>5}: dense {_ms(row['dense_ms'])}  "
              f"2:4 {_ms(row['sparse_ms'])}  speed-up {_x(row['speedup'])}")
    return out


def _ms(v) -> str:
    return "   n/a   " if v is None else f"{v:8.3f} ms"


def _x(v) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def digits_part(home: Path, finetune_epochs: int) -> dict:
    rows = {}
    devices = (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]
    for device in devices:
        spec = PruneSpec(model="lenet300", dataset="digits", pattern="2:4", method="l1", finetune_epochs=finetune_epochs,
                         device=device)
        began = time.perf_counter()
        result = compress_core.run(spec, home=home / device)  # each device trains its own baseline
        m = result.metrics
        rows[device] = {"accuracy": m["accuracy"], "baseline_accuracy": m["baseline_accuracy"],
                        "accuracy_change": m["accuracy_change"], "sparsity": m["sparsity"],
                        "semi_structured": m.get("semi_structured"), "semi_dense_layers": m.get("semi_dense_layers"),
                        "gpu_peak_memory_bytes": m.get("gpu_peak_memory_bytes"), "wall_s": time.perf_counter() - began,
                        "environment": result.environment}
        print(f"\n== LeNet-300-100 digits 2:4 on {device}: accuracy {m['accuracy']:.4f} (baseline "
              f"{m['baseline_accuracy']:.4f}, change {m['accuracy_change'] * 100:+.2f} pp), {rows[device]['wall_s']:.1f} s")
    if len(rows) == 2:
        rows["cuda_minus_cpu_accuracy"] = rows["cuda"]["accuracy"] - rows["cpu"]["accuracy"]
        print(f"   CUDA - CPU accuracy: {rows['cuda_minus_cpu_accuracy'] * 100:+.2f} pp")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", default="gpu_results.json")
    p.add_argument("--batches", default="1,4,16,64,256,1024")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--width", type=int, default=4096)
    p.add_argument("--stack-layers", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--finetune-epochs", type=int, default=3)
    p.add_argument("--skip", default="", help="parts to skip: stack,encoder,digits")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    support = semi_structured_support()
    out = {"torch": torch.__version__, "python": platform.python_version(), "cuda": torch.version.cuda,
           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
           "capability": ".".join(map(str, torch.cuda.get_device_capability(0))) if torch.cuda.is_available() else None,
           "semi_structured_support": support or "yes", "batches": batches, "repeats": args.repeats,
           "method": "median of paired, alternated calls between torch.cuda.synchronize(); fp16 dense vs fp16 2:4"}
    print(f"torch {out['torch']}, GPU {out['gpu']}, capability {out['capability']}: 2:4 kernels {out['semi_structured_support']}")
    began = time.perf_counter()
    if "stack" not in skip:
        out["stack"] = kernel_part(f"{args.stack_layers} x Linear {args.width}x{args.width}",
                                   linear_stack(args.width, args.stack_layers), (args.width,), batches, args.repeats, 1)
    if "encoder" not in skip:
        try:
            encoder = Encoder()
        except (ImportError, CompressError) as exc:
            out["encoder"] = {"skipped": f"transformers not importable: {exc}"}
        else:
            out["encoder"] = kernel_part("MiniLM-sized encoder (12 x 384, FFN 1536), "
                                         f"{args.seq_len} tokens", encoder, (args.seq_len,), batches, args.repeats, 3)
    if "digits" not in skip:
        with tempfile.TemporaryDirectory(prefix="bench_gpu_") as home:
            out["digits"] = digits_part(Path(home), args.finetune_epochs)
    out["seconds"] = time.perf_counter() - began
    Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    print(f"\nwrote {args.json} ({out['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
