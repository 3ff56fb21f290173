"""Lottery tickets on LeNet-300-100 (Frankle & Carbin 2019), as a preset `lottery` run.

The paper (section 2, Figures 3-4, MNIST): iterative magnitude pruning by 20 % of each fully
connected layer per round, survivors reset to their initial values, finds "winning tickets": at
51.3 % to 21.1 % of the weights they learn faster and reach higher test accuracy than the dense
network, and down to 3.6 % they still reach it; the same masks with random re-initialisation learn
slower and lose accuracy as pruning goes on. The paper draws curves, not a table, so its rows here
are those claims (verdicts), and ours are measured at the round nearest each share of weights.
"""
from __future__ import annotations

from typing import Mapping

from compress_core.classics.registry import Classic, register_classic
from compress_core.methods.lottery import LotterySpec

RATE = 0.2  # per round, of the remaining weights of every layer (the paper: 20 % per fc layer, 10 % for the output)
ROUNDS = 15  # 0.8^15 = 3.5 % of the weights left: the paper's smallest winning ticket (3.6 %)
AT_LEAST_DENSE, BELOW_DENSE = ">= dense", "< dense"

# (variant, share of weights in %, the paper's verdict against the dense network's test accuracy)
PAPER = [("winning ticket", 21.1, AT_LEAST_DENSE), ("winning ticket", 3.6, AT_LEAST_DENSE),
         ("random re-init", 21.1, BELOW_DENSE)]
VARIANT_KEY = {"winning ticket": "accuracy", "random re-init": "reinit_accuracy",
               "random mask": "random_mask_accuracy"}


def make_spec(model: str = "lenet300", dataset: str = "digits", seed: int = 0, quick: bool = False) -> LotterySpec:
    """The paper's procedure (rate 20 %, rewind to initialisation, both controls); `quick`: 2 rounds of 50 %, 2 epochs."""
    if quick:
        return LotterySpec(model=model, dataset=dataset, seed=seed, rounds=2, rate=0.5, epochs=2)
    return LotterySpec(model=model, dataset=dataset, seed=seed, rounds=ROUNDS, rate=RATE, rewind_iteration=0,
                       scope="layer")


def paper_rows(model: str) -> list[dict]:
    return [{"variant": v, "weights_pct": pct, "vs_dense_pp": None, "verdict": verdict} for v, pct, verdict in PAPER]


def _verdict(change_pp: float) -> str:
    return AT_LEAST_DENSE if change_pp >= 0 else BELOW_DENSE


def our_rows(result: Mapping) -> list[dict]:
    """For each paper row: the round whose share of weights is nearest, its accuracy minus the dense accuracy."""
    metrics = result.get("metrics") or {}
    rounds = [r for r in metrics.get("rounds") or [] if isinstance(r, Mapping)]
    dense = metrics.get("baseline_accuracy")
    rows = []
    for variant, pct, _ in PAPER:
        key = VARIANT_KEY[variant]
        usable = [r for r in rounds if r.get(key) is not None]
        if not usable or dense is None:
            rows.append({"variant": variant, "weights_pct": None, "vs_dense_pp": None, "verdict": "not run"})
            continue
        nearest = min(usable, key=lambda r: abs(100 * r["remaining_fraction"] - pct))
        change = 100 * (nearest[key] - dense)
        rows.append({"variant": variant, "weights_pct": 100 * nearest["remaining_fraction"], "vs_dense_pp": change,
                     "verdict": _verdict(change)})
    return rows


register_classic(Classic(
    name="lottery-ticket",
    label="Lottery tickets (Frankle & Carbin 2019)",
    citation="Frankle & Carbin, The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural Networks, ICLR 2019, "
             "section 2 and Figures 3-4 (LeNet-300-100 on MNIST)",
    make_spec=make_spec, paper_rows=paper_rows, our_rows=our_rows,
    differs="The paper trains on MNIST (60,000 28x28 images, 50,000 iterations per round, Adam 1.2e-3) and prunes "
            "the output layer at half the rate; offline we use scikit-learn's digits (1,347 8x8 training images, 450 "
            "test images: one image is 0.22 points) for the data set's default epochs per round, and prune every layer "
            "by 20 %. The paper reports curves, so its rows are its verdicts against the dense network.",
    default_model="lenet300", models=("lenet300",), default_dataset="digits", order=20))
