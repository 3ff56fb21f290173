"""The zoo MLP's FLOPs counted by hand agree with torch's FlopCounterMode, which they stand in for.

`measure.metrics.flops` counts a plain MLP by hand (2·in·out per Linear layer) because the counter
imports `torch._dynamo` on first use (1.4 s on the Learn page's first visit, issue 19). Every other
model still goes through the counter.
"""
import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from compress_core.measure import metrics
from compress_core.methods.prune import prune_to
from compress_core.methods.structured import prune_channels
from compress_core.models.zoo import build_model

ROOT = Path(__file__).resolve().parents[1]


def counted(model, input_shape):
    """What FlopCounterMode reports: per-layer totals (by module path) and the model's total."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(metrics.example_batch(model, input_shape, 1, zeros=True))
    prefix = type(model).__name__
    counts = counter.get_flop_counts()
    layers = {name: int(sum(counts.get(f"{prefix}.{name}", {}).values()))
              for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    return layers, int(counter.get_total_flops())


def mlps():
    torch.manual_seed(0)
    dense = build_model("lenet300", (1, 8, 8), 10)
    masked = copy.deepcopy(dense)
    prune_to(masked, "l1", "global", 0.7)  # pruning hooks: the forward multiplies weight by mask
    smaller = copy.deepcopy(dense)
    prune_channels(smaller, (1, 8, 8), 0.5)  # fewer neurons: narrower Linear layers
    other = build_model("mlp", (3, 4, 4), 5, hidden=(7, 9, 11))
    return [(dense, (1, 8, 8)), (masked, (1, 8, 8)), (smaller, (1, 8, 8)), (other, (3, 4, 4))]


def test_mlp_flops_by_hand_equal_flop_counter_mode():
    for model, shape in mlps():
        layers, total = counted(model, shape)
        assert metrics.mlp_layer_flops(model, shape) == layers
        result = metrics.flops(model, shape)
        assert result["flops_dense"] == total and result["flops_per_layer"] == layers


def test_effective_flops_scale_with_the_mask_as_before():
    dense, masked = mlps()[0][0], mlps()[1][0]
    a, b = metrics.flops(dense, (1, 8, 8)), metrics.flops(masked, (1, 8, 8))
    assert a["flops_effective"] == a["flops_dense"] and b["flops_dense"] == a["flops_dense"]
    assert b["flops_effective"] < 0.5 * b["flops_dense"]  # 70 % of the weights masked


def test_other_models_still_use_the_counter():
    lenet = build_model("lenet5", (1, 8, 8), 10)
    assert metrics.mlp_layer_flops(lenet, (1, 8, 8)) is None
    assert metrics.flops(lenet, (1, 8, 8))["flops_dense"] == counted(lenet, (1, 8, 8))[1]
    mlp = build_model("lenet300", (1, 8, 8), 10)
    assert metrics.mlp_layer_flops(mlp, (1, 4, 4)) is None  # input does not flatten to the first layer
    mlp.net.append(nn.Tanh())  # a module the hand count does not know
    assert metrics.mlp_layer_flops(mlp, (1, 8, 8)) is None


def test_mlp_flops_do_not_import_dynamo():
    code = textwrap.dedent("""
        import json, sys
        from compress_core.measure.metrics import flops
        from compress_core.models.zoo import build_model
        flops(build_model("lenet300", (1, 8, 8), 10), (1, 8, 8))
        print(json.dumps({"dynamo": "torch._dynamo" in sys.modules}))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"dynamo": False}
