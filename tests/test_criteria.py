"""Pruning criteria: every registered criterion scores, prunes, reproduces, and shows up everywhere.

Parametrised over `CRITERIA`, so a new criterion file is tested here without editing this file.
"""
from __future__ import annotations

import copy
import importlib
import pkgutil

import pytest
import torch
from torch.nn.utils import prune as torch_prune

import compress_core.methods.criteria as criteria_pkg
from compress_core.errors import CompressError
from compress_core.explore.sensitivity import layer_sensitivity
from compress_core.methods.prune import apply_layer_amounts
from compress_core.measure.metrics import global_sparsity, layer_rows
from compress_core.methods.criteria import CRITERIA, Calibration, calibration_batch, collect_input_norms, criteria, scorer
from compress_core.methods.prune import AGPPruner, prune_to
from compress_core.models.zoo import build_model, prunable_layers

NAMES = CRITERIA.names()
CALIBRATED = [c.name for c in criteria() if c.needs_calibration]


def _model(name="lenet300", seed=0):
    torch.manual_seed(seed)
    return build_model(name, (1, 8, 8), 10)


def _inputs(n=64, seed=1):
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def _masks(model):
    return [m.weight_mask.clone() for _, m in prunable_layers(model)]


def test_every_module_of_the_package_registers_its_criterion():
    modules = [m.name for m in pkgutil.iter_modules(criteria_pkg.__path__) if not m.name.startswith("_")]
    assert {"l1", "random"} <= set(modules)
    for name in modules:
        module = importlib.import_module(f"compress_core.methods.criteria.{name}")
        assert CRITERIA.get(module.CRITERION.name) is module.CRITERION


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("model_name", ["lenet300", "lenet5"])
def test_scores_have_the_weights_shape(name, model_name):
    model = _model(model_name)
    scores = scorer(CRITERIA.get(name), model, _inputs())
    for _, module in prunable_layers(model):
        s = scores(module)
        assert s.shape == module.weight.shape and torch.isfinite(s).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_each_criterion_reaches_the_target(name, scope):
    model = _model("lenet5")
    prune_to(model, name, scope, 0.6, _inputs())
    assert global_sparsity(model) == pytest.approx(0.6, abs=0.002)
    if scope == "layer":
        assert all(r["sparsity"] == pytest.approx(0.6, abs=0.01) for r in layer_rows(model))
    prune_to(model, name, scope, 0.8, _inputs())  # tighten: earlier zeros stay zero
    assert global_sparsity(model) == pytest.approx(0.8, abs=0.002)


@pytest.mark.parametrize("name", NAMES)
def test_agp_and_per_layer_amounts_take_every_criterion(name):
    model = _model()
    pruner = AGPPruner(model, name, "global", 0.75, steps=3, calibration=lambda: _inputs())
    pruner.finish()
    assert global_sparsity(model) == pytest.approx(0.75, abs=0.002)
    model = _model()
    apply_layer_amounts(model, {"net.1": 0.9, "net.3": 0.5}, name, _inputs())
    assert [r["sparsity"] for r in layer_rows(model)] == pytest.approx([0.9, 0.5, 0.0], abs=0.001)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_same_seed_same_mask(name, scope):
    masks = []
    for _ in range(2):
        model = _model()
        torch.manual_seed(7)
        prune_to(model, name, scope, 0.5, lambda: calibration_batch(_inputs(200), seed=7))
        masks.append(_masks(model))
    assert all(torch.equal(a, b) for a, b in zip(*masks))


def test_random_depends_on_the_seed_and_l1_does_not():
    def mask(name, seed):
        model = _model()
        torch.manual_seed(seed)
        prune_to(model, name, "global", 0.5)
        return torch.cat([m.flatten() for m in _masks(model)])

    assert not torch.equal(mask("random", 1), mask("random", 2))
    assert torch.equal(mask("l1", 1), mask("l1", 2))


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_one_shot_masks_equal_torchs_own_methods(scope):
    """The single importance-score path gives exactly the masks of prune.L1Unstructured and
    prune.RandomUnstructured for one-shot pruning from the same generator state."""
    for name, method in (("l1", torch_prune.L1Unstructured), ("random", torch_prune.RandomUnstructured)):
        ours, theirs = _model("lenet5"), _model("lenet5")
        torch.manual_seed(3)
        prune_to(ours, name, scope, 0.6)
        torch.manual_seed(3)
        if scope == "global":
            torch_prune.global_unstructured([(m, "weight") for _, m in prunable_layers(theirs)],
                                            pruning_method=method, amount=0.6)
        else:
            for _, m in prunable_layers(theirs):
                method.apply(m, "weight", amount=0.6)
        assert all(torch.equal(a, b) for a, b in zip(_masks(ours), _masks(theirs))), name


def test_unknown_criterion_is_refused_with_the_allowed_names():
    with pytest.raises(CompressError, match=", ".join(NAMES)):
        prune_to(_model(), "magic", "global", 0.5)


@pytest.mark.parametrize("name", CALIBRATED)
def test_a_calibrated_criterion_without_inputs_says_so(name):
    with pytest.raises(CompressError, match=f"{name!r} needs calibration inputs"):
        prune_to(_model(), name, "global", 0.5)


def test_input_norms_are_per_feature_l2_over_rows_and_positions():
    model = _model("lenet5")
    x = _inputs(40)
    stats = collect_input_norms(model, x)
    conv1 = prunable_layers(model)[0][1]
    assert isinstance(conv1, torch.nn.Conv2d)
    assert torch.allclose(stats.input_norm(conv1), x.pow(2).sum(dim=(0, 2, 3)).sqrt())
    assert stats.samples == 40 and model.training  # training mode restored
    assert all(not m._forward_hooks for _, m in prunable_layers(model))  # hooks removed
    with pytest.raises(CompressError, match="no calibration statistics"):
        stats.input_norm(torch.nn.Linear(2, 2))


def test_calibration_is_collected_once_per_call():
    calls = []

    def inputs():
        calls.append(1)
        return _inputs()

    for name in CALIBRATED:
        prune_to(_model(), name, "layer", 0.5, inputs)
    assert len(calls) == len(CALIBRATED)
    prune_to(_model(), "l1", "layer", 0.5, inputs)  # criteria without calibration never ask for it
    assert len(calls) == len(CALIBRATED)
    assert isinstance(collect_input_norms(_model(), _inputs()), Calibration)


def test_calibration_batch_is_seeded_and_leaves_the_global_generator_alone():
    x = torch.arange(1000).float().reshape(-1, 1)
    torch.manual_seed(0)
    a = calibration_batch(x, seed=4)
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(calibration_batch(x, seed=4), a) and torch.equal(torch.rand(1), after)
    assert len(a) == 128 and not torch.equal(calibration_batch(x, seed=5), a)


@pytest.mark.parametrize("name", NAMES)
def test_every_listing_reads_the_registry(name):
    """A criterion file appears in the spec choices, CLI help, figures, report and sweep controls."""
    from compress_core.cli import main as cli
    from compress_core.explore.sweep import variants
    from compress_core.methods.registry import report_settings
    from compress_core.present import plots, report
    from compress_core.specs import PRUNE_METHODS, PruneSpec

    criterion = CRITERIA.get(name)
    assert name in PRUNE_METHODS
    PruneSpec(method=name, layer_amounts={"net.1": 0.5})  # per-layer amounts allowed for every criterion
    assert plots.color_of(name) == criterion.colour and plots.METHOD_LABELS[name] == criterion.label
    assert report_settings("prune", {"method": name}) == ["amount", "scope", "schedule", "finetune_epochs"]
    assert name in plots.method_order()
    assert report._label({"kind": "prune", "spec": {"method": name, "amount": 0.5}}).startswith(criterion.label)
    parser = cli.build_parser()
    prune_help = parser._subparsers._group_actions[0].choices["prune"].format_help()
    assert f"{name}:" in " ".join(prune_help.split())
    labels = [label for label, _ in variants("prune", {"method": name, "scope": "global"}, controls=True)]
    assert labels[0] == f"{name}-global" and ("random-global" in labels if name != "random" else "l1-global" in labels)


@pytest.mark.parametrize("name", NAMES)
def test_sensitivity_scan_takes_every_criterion(name, tmp_path):
    from compress_core.data.datasets import load_dataset

    data = load_dataset("digits", tmp_path)
    torch.manual_seed(0)
    model = build_model("mlp", data.input_shape, data.num_classes, hidden=(16,))
    before = copy.deepcopy(model.state_dict())
    table = layer_sensitivity(model, data, [0.5, 0.9], criterion=name)
    assert list(table["amount"]) == [0.5, 0.9, 0.5, 0.9]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # every layer restored


@pytest.mark.parametrize("name", NAMES)
def test_a_prune_run_and_a_pipeline_step_prune_alike(name, lab_home, monkeypatch):
    """Both draw the same seeded calibration batch and random state: the same one-shot accuracy."""
    import compress_core

    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "3")
    base = {"model": "mlp", "hidden": [32], "dataset": "digits", "baseline_epochs": 2, "seed": 1}
    step = {"kind": "prune", "method": name, "scope": "layer", "amount": 0.6, "finetune_epochs": 0}
    run = compress_core.run({**base, **step}, home=lab_home)
    pipeline = compress_core.run({"kind": "pipeline", **base, "steps": [step]}, home=lab_home)
    assert run.metrics["sparsity"] == pytest.approx(0.6, abs=0.005)
    assert pipeline.steps[0]["metrics"]["accuracy_before_finetune"] == run.metrics["accuracy_before_finetune"]
