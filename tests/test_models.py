import pytest
import torch

from compress_core.data.datasets import DATASETS
from compress_core.errors import CompressError
from compress_core.models.zoo import MODELS, build_model, parse_hidden, prunable_layers

IMAGE_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
TEXT_DATASETS = {"text-demo"}  # token ids: the text models are tested in test_text.py
FEATURE_MODELS = [n for n in MODELS.names() if not MODELS.get(n).needs_text]


def test_every_registered_image_dataset_has_a_shape_here():
    assert set(IMAGE_SHAPES) == set(DATASETS.names()) - TEXT_DATASETS


@pytest.mark.parametrize("model_name", FEATURE_MODELS)
@pytest.mark.parametrize("dataset", list(IMAGE_SHAPES))
def test_models_take_every_image_dataset(model_name, dataset):
    shape = IMAGE_SHAPES[dataset]
    torch.manual_seed(0)
    model = build_model(model_name, shape, 10)
    x = torch.randn(4, *shape)
    out = model(x)
    assert out.shape == (4, 10)
    assert torch.isfinite(out).all()
    out.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert prunable_layers(model), "every model has prunable layers"


@pytest.mark.parametrize("model_name", ["mlp", "lenet300"])
def test_mlps_take_tabular_data(model_name):
    model = build_model(model_name, (13,), 3)
    assert model(torch.randn(5, 13)).shape == (5, 3)


@pytest.mark.parametrize("model_name", ["lenet5", "resnet8"])
def test_cnns_refuse_tabular_data_with_a_reason(model_name):
    with pytest.raises(CompressError, match="needs image data"):
        build_model(model_name, (13,), 3)


def test_lenet300_has_the_published_size_on_mnist():
    model = build_model("lenet300", (1, 28, 28), 10)
    assert sum(p.numel() for p in model.parameters()) == 266_610  # Han et al. 2015: 267K


def test_mlp_hidden_widths():
    model = build_model("mlp", (64,), 10, hidden=(30,))
    shapes = [tuple(m.weight.shape) for _, m in prunable_layers(model)]
    assert shapes == [(30, 64), (10, 30)]
    assert parse_hidden("300, 100") == (300, 100)
    with pytest.raises(CompressError, match="positive integers"):
        parse_hidden("30,x")
    with pytest.raises(CompressError, match="between 1"):
        parse_hidden("0")
    with pytest.raises(CompressError, match="'mlp' only"):
        build_model("lenet300", (64,), 10, hidden=(5,))


def test_unknown_model_lists_the_names():
    with pytest.raises(CompressError, match="allowed: mlp, lenet300, lenet5, resnet8"):
        build_model("vgg", (1, 8, 8), 10)
