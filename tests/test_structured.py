"""Structured pruning: channels leave physically, coupled tensors follow, bad amounts are refused."""
import pytest
import torch

import compress_core
from compress_core.cli import main as cli
from compress_core.data.datasets import load_dataset
from compress_core.errors import CompressError
from compress_core.models.zoo import MODELS, build_model, prunable_layers
from compress_core.methods.structured import kept_channels, load_pruned, max_amount, prune_channels
from compress_core.training.loop import evaluate

SHAPES = {"mlp": (1, 8, 8), "lenet300": (1, 8, 8), "lenet5": (1, 8, 8), "resnet8": (3, 16, 16)}


@pytest.fixture(autouse=True)
def _quick_latency(monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "5")


def _model(name, hidden=None):
    torch.manual_seed(0)
    return build_model(name, SHAPES[name], 10, hidden)


@pytest.mark.parametrize("name", [n for n in MODELS.names() if not MODELS.get(n).needs_text])  # text: test_text.py
def test_every_model_loses_half_its_channels_and_still_runs(name):
    model = _model(name)
    before = {n: m.weight.shape for n, m in prunable_layers(model)}
    prune_channels(model, SHAPES[name], 0.5)
    after = {n: m.weight.shape for n, m in prunable_layers(model)}
    *inner, classifier = before
    for layer in inner:
        assert after[layer][0] == before[layer][0] // 2, layer
    assert after[classifier][0] == 10, "the classes are never pruned"
    assert model(torch.randn(4, *SHAPES[name])).shape == (4, 10)


def test_inner_layers_keep_a_quarter_of_their_weights_at_half_the_channels():
    model = _model("lenet300")
    prune_channels(model, SHAPES["lenet300"], 0.5)
    (_, first), (_, inner), (_, last) = prunable_layers(model)
    assert inner.weight.shape == (50, 150)  # (1 - 0.5)^2 of 100 x 300
    assert first.weight.shape == (150, 64) and last.weight.shape == (10, 50)  # (1 - 0.5) of each


def test_residual_adds_stay_consistent():
    model = _model("resnet8")
    prune_channels(model, SHAPES["resnet8"], 0.25, importance="l2")
    block = model.layer2
    assert block.conv2.out_channels == block.shortcut[0].out_channels == block.bn2.num_features == 24
    assert model.layer3.conv1.in_channels == 24


def test_an_amount_that_empties_a_layer_is_refused_with_the_limit():
    with pytest.raises(CompressError, match=r"'net\.1'.*2 channels.*largest amount .* is 0\.5$"):
        prune_channels(_model("mlp", (2,)), SHAPES["mlp"], 0.6)
    with pytest.raises(CompressError, match=r"'features\.0'.*6 channels.*is 0\.833$"):
        prune_channels(_model("lenet5"), SHAPES["lenet5"], 0.9)


@pytest.mark.parametrize("channels", range(2, 130))
def test_max_amount_is_the_largest_that_keeps_one_channel(channels):
    limit = max_amount(channels)
    assert kept_channels(channels, limit) >= 1
    assert kept_channels(channels, round(limit + 0.001, 3)) < 1


def test_saved_weights_load_into_a_fresh_model(tmp_path):
    model = _model("resnet8")
    prune_channels(model, SHAPES["resnet8"], 0.5)
    model.eval()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    fresh = load_pruned(_model("resnet8"), torch.load(tmp_path / "model.pt", weights_only=True)).eval()
    x = torch.randn(8, *SHAPES["resnet8"])
    assert torch.equal(fresh(x), model(x))
    assert fresh.layer1.bn1.num_features == 8 and fresh.fc.in_features == 32


def test_weights_of_another_architecture_are_refused():
    pruned = prune_channels(_model("lenet300"), SHAPES["lenet300"], 0.5)
    with pytest.raises(CompressError, match="do not fit") as info:
        load_pruned(_model("lenet5"), pruned.state_dict())
    assert "\n" not in str(info.value)


def test_lenet5_digits_figure_and_artifact_round_trip(lab_home, tmp_path):
    """prune --model lenet5 --dataset digits --method structured --amount 0.5: <= 0.40 of the parameters."""
    spec = {"kind": "prune", "model": "lenet5", "dataset": "digits", "method": "structured", "amount": 0.5,
            "finetune_epochs": 2, "baseline_epochs": 3}
    events = []
    result = compress_core.run(spec, events.append, home=lab_home, artifacts_dir=tmp_path)
    m = result.metrics
    assert m["param_ratio"] <= 0.40 and m["channel_ratio"] == 0.5
    assert m["params_total"] == m["params_nonzero"] == round(m["param_ratio"] * result.baseline["params_total"])
    assert m["flops_dense"] == m["flops_effective"] and m["theoretical_speedup"] > 2
    assert {"speedup_b64", "latency_ms_b64", "accuracy_before_finetune"} <= set(m)
    conv2 = next(r for r in result.layers if r["name"] == "features.3")
    assert conv2["shape_before"] == [16, 6, 5, 5] and conv2["shape"] == [8, 3, 5, 5] and conv2["channels_kept"] == 8
    assert any("physical removal" in n for n in result.notes) and any("(1 - 0.5)^2" in n for n in result.notes)
    assert {e.stage for e in events} >= {"prune", "finetune", "measure"}

    data = load_dataset("digits")
    fresh = build_model("lenet5", data.input_shape, data.num_classes)
    load_pruned(fresh, torch.load(result.artifacts["weights"], weights_only=True))
    accuracy, loss = evaluate(fresh, data.x_test, data.y_test)
    assert accuracy == m["accuracy"] and loss == pytest.approx(m["loss"], rel=1e-6)


def test_cli_refuses_an_amount_that_empties_a_layer(lab_home, capsys):
    code = cli.main(["prune", "--model", "mlp", "--hidden", "2", "--method", "structured", "--amount", "0.6",
                     "--baseline-epochs", "1", "--json", "--home", str(lab_home)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "'net.1'" in err and "0.5" in err
