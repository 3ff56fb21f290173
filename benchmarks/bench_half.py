"""Which of fp32, bf16, fp16 and int8 is fastest on THIS machine, and what bf16 costs in accuracy.

Inference (torch eager, calls of all forms alternated, median; `time_forms`, the lab's one timing
path): a MiniLM-sized encoder (6 layers, hidden 384, 12 heads, FFN 1536, random weights: fine for
timing) at sequence 128, batch 8; LeNet-300-100 and LeNet-5 on digits at batch 1 and 64. Forms:
fp32, bf16 and fp16 (`methods/half_precision.to_half`) and dynamic int8 of every Linear
(torch.ao, the same kernels for all three models).

Training: one Adam step (forward, backward, update) of the encoder at batch 16, sequence 64, and
of LeNet-300-100 at batch 128, fp32 against bf16 autocast with fp32 master weights (median of
alternated steps).

Accuracy (optional, --accuracy): bf16 quantize runs and bf16-trained baselines against fp32 on
digits (LeNet-300-100, seeds 0-2) and on the bundled text set (tinybert), through the lab's API.

Targets (issue 20, on a CPU with AMX): encoder bf16 inference >= 2x fp32 and faster than dynamic
int8; fine-tuning step >= 1.25x; bf16 accuracy within 0.5 point of fp32. The processor's features
are printed first: without AMX / AVX-512 BF16 the bf16 figures are not expected to reach them.

    python benchmarks/bench_half.py [--threads 2] [--repeats 10] [--accuracy] [--json out.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from compress_core.measure.runtimes import time_forms, torch_form  # noqa: E402
from compress_core.methods.half_precision import cpu_features, precision_support, to_half  # noqa: E402
from compress_core.methods.quantize import quiet_torch_ao, to_int8  # noqa: E402
from compress_core.models.zoo import build_model  # noqa: E402
from compress_core.training.precision import autocast  # noqa: E402


def minilm_sized():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_transformer import minilm_sized as build

    return build()


def inference(name: str, model: nn.Module, shape, batches, repeats: int) -> list[dict]:
    """fp32, bf16, fp16 and dynamic int8 forms of `model`, timed together per batch size."""
    with quiet_torch_ao():
        example = model.example_input(1, shape[0]) if hasattr(model, "example_input") else torch.randn(1, *shape)
        int8 = to_int8(model, "dynamic", "tensor", None, example)
    forms = [torch_form("fp32", model), torch_form("bf16", to_half(model, "bf16")),
             torch_form("fp16", to_half(model, "fp16")), torch_form("int8 dynamic", int8)]
    if hasattr(model, "example_input"):  # token ids for every form
        for form in forms:
            form.example = lambda batch, s: model.example_input(batch, int(s[0]), torch.device("cpu"))
    rows = []
    for batch in batches:
        timed = time_forms(forms, shape, batch, threads=torch.get_num_threads(), repeats=repeats, max_seconds=20)
        ref = timed["fp32"]["median_ms"]
        for form, cell in timed.items():
            rows.append({"model": name, "batch": batch, "form": form, "median_ms": cell.get("median_ms"),
                         "iqr_ms": cell.get("iqr_ms"), "speedup_vs_fp32": ref / cell["median_ms"]
                         if cell.get("available") else None})
    return rows


def training_step(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> dict:
    """Median ms of an Adam step in fp32 and in bf16 autocast, steps alternated."""
    models = {p: copy.deepcopy(model).train() for p in ("fp32", "bf16")}
    opts = {p: torch.optim.Adam(m.parameters(), lr=1e-5) for p, m in models.items()}
    times = {p: [] for p in models}
    for i in range(repeats + 2):
        for precision, m in models.items():
            began = time.perf_counter()
            opts[precision].zero_grad(set_to_none=True)
            with autocast(precision, torch.device("cpu")):
                loss = nn.functional.cross_entropy(m(x), y)
            loss.backward()
            opts[precision].step()
            if i >= 2:
                times[precision].append(time.perf_counter() - began)
    fp32, bf16 = (statistics.median(times[p]) * 1000 for p in ("fp32", "bf16"))
    return {"model": name, "fp32_step_ms": fp32, "bf16_step_ms": bf16, "bf16_speedup": fp32 / bf16}


def accuracy_table(seeds) -> list[dict]:
    """bf16 quantize runs and bf16-trained baselines against fp32, through the API (a temp home)."""
    from compress_core.api import run
    from compress_core.methods.quantize import QuantizeSpec
    from compress_core.specs import TrainSpec

    rows = []
    with tempfile.TemporaryDirectory() as home:
        for model, dataset, epochs in (("lenet300", "digits", None), ("tinybert", "text-demo", 4)):
            for seed in seeds:
                q = run(QuantizeSpec(model=model, dataset=dataset, scheme="bf16", seed=seed, baseline_epochs=epochs),
                        home=home).metrics
                t16 = run(TrainSpec(model=model, dataset=dataset, seed=seed, epochs=epochs, precision="bf16"),
                          home=home).metrics
                rows.append({"model": model, "dataset": dataset, "seed": seed, "fp32": q["baseline_accuracy"],
                             "bf16_inference": q["accuracy"], "bf16_training": t16["accuracy"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--accuracy", action="store_true", help="also run the bf16 accuracy table (minutes)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--json", help="write every figure to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "threads": args.threads, "cpu": cpu_features(),
           "bf16": precision_support("bf16"), "fp16": precision_support("fp16")}
    print(f"torch {torch.__version__}, {args.threads} threads; CPU capability {out['cpu']['torch_cpu_capability']}, "
          f"flags {', '.join(out['cpu']['flags'])}")
    print(f"bf16: {out['bf16']['why']}\nfp16: {out['fp16']['why']}")

    torch.manual_seed(0)
    encoder = minilm_sized()
    rows = inference("MiniLM-sized encoder (seq 128)", encoder, (128,), (8,), args.repeats)
    for name in ("lenet300", "lenet5"):
        torch.manual_seed(0)
        rows += inference(f"{name} (digits 8x8)", build_model(name, (1, 8, 8), 10, None).eval(), (1, 8, 8), (1, 64),
                          args.repeats * 3)
    out["inference"] = rows
    print("\ninference, median ms (speed-up vs fp32, same process, calls alternated):")
    for r in rows:
        print(f"  {r['model']:<32} b{r['batch']:<3} {r['form']:<13} {r['median_ms']:9.3f} ms  "
              f"{r['speedup_vs_fp32']:5.2f}x")

    ids = encoder.example_input(16, 64, torch.device("cpu"))
    steps = [training_step("MiniLM-sized encoder (b16, seq 64)", encoder, ids, torch.randint(0, 4, (16,)),
                           max(3, args.repeats // 2))]
    torch.manual_seed(0)
    lenet = build_model("lenet300", (1, 8, 8), 10, None)
    steps.append(training_step("lenet300 (b128)", lenet, torch.randn(128, 1, 8, 8), torch.randint(0, 10, (128,)),
                               args.repeats * 5))
    out["training"] = steps
    print("\ntraining step (Adam), median ms:")
    for s in steps:
        print(f"  {s['model']:<36} fp32 {s['fp32_step_ms']:8.2f}  bf16 autocast {s['bf16_step_ms']:8.2f}  "
              f"{s['bf16_speedup']:5.2f}x")

    if args.accuracy:
        out["accuracy"] = accuracy_table([int(s) for s in args.seeds.split(",")])
        print("\naccuracy (test top-1): fp32 baseline, the same model run in bf16, a baseline trained in bf16")
        for r in out["accuracy"]:
            print(f"  {r['model']:<9} {r['dataset']:<10} seed {r['seed']}  fp32 {r['fp32']:.4f}  "
                  f"bf16 inference {r['bf16_inference']:.4f}  bf16 training {r['bf16_training']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
