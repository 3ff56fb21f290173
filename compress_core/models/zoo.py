"""Model registry: every model adapts to the data set's input shape and class count.

`mlp` and `lenet300` take any data (images are flattened); the CNNs (`lenet5`,
`resnet8`) need images. Following timm, each model is a small factory registered
by name, and `build_model` is the one way to create one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from compress_core.data import limits
from compress_core.errors import CompressError
from compress_core.registry import Registry


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[..., nn.Module]
    needs_image: bool
    description: str
    takes_hidden: bool = False
    needs_text: bool = False  # takes token ids (N, L) of a text data set


MODELS: Registry[ModelEntry] = Registry("model")

DEFAULT_MLP_HIDDEN = (100,)


class MLP(nn.Module):
    """Fully connected ReLU network; images are flattened first."""

    def __init__(self, in_features: int, hidden: Sequence[int], num_classes: int):
        super().__init__()
        widths = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LeNet5(nn.Module):
    """LeNet-5 (6 and 16 5x5 filters, 120-84 classifier), padded so small images fit."""

    def __init__(self, input_shape: Sequence[int], num_classes: int):
        super().__init__()
        c, h, w = input_shape
        # The second conv is unpadded (as in LeCun 1998) when the image is large enough.
        pad2 = 0 if min(h, w) // 2 >= 9 else 2
        self.features = nn.Sequential(
            nn.Conv2d(c, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=pad2), nn.ReLU(), nn.MaxPool2d(2),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, c, h, w)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convs with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet8(nn.Module):
    """ResNet-8 (He et al. 2016, CIFAR variant): a stem conv and three residual stages (16/32/64)."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: int = 16):
        super().__init__()
        c = input_shape[0]
        self.stem = nn.Sequential(nn.Conv2d(c, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.layer1 = BasicBlock(width, width, 1)
        self.layer2 = BasicBlock(width, 2 * width, 2)
        self.layer3 = BasicBlock(2 * width, 4 * width, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def _features(input_shape: Sequence[int]) -> int:
    return int(math.prod(input_shape))


MODELS.add("mlp", ModelEntry(
    lambda shape, k, hidden: MLP(_features(shape), hidden or DEFAULT_MLP_HIDDEN, k),
    needs_image=False, takes_hidden=True,
    description="multi-layer perceptron; hidden widths set by --hidden (default 100)"))
MODELS.add("lenet300", ModelEntry(
    lambda shape, k, hidden: MLP(_features(shape), (300, 100), k),
    needs_image=False, description="LeNet-300-100 (Han et al. 2015): two hidden layers of 300 and 100"))
MODELS.add("lenet5", ModelEntry(
    lambda shape, k, hidden: LeNet5(shape, k), needs_image=True,
    description="LeNet-5 CNN: two 5x5 conv layers and a 120-84 classifier"))
MODELS.add("resnet8", ModelEntry(
    lambda shape, k, hidden: ResNet8(shape, k), needs_image=True,
    description="ResNet-8: small residual CNN built for 32x32 colour images"))


def _tinybert(shape, k, hidden):
    from compress_core.models.text import build_tinybert

    return build_tinybert(shape, k)


MODELS.add("tinybert", ModelEntry(
    _tinybert, needs_image=False, needs_text=True,
    description="small BERT (2 layers, hidden 64, 4 heads) for text, trained from scratch on a word-level vocabulary"))


def parse_hidden(text: str | Sequence[int] | None) -> Optional[tuple[int, ...]]:
    """'300,100' -> (300, 100); validates that every width is a positive integer."""
    if text is None or text == "" or text == ():
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        widths = tuple(int(str(p).strip()) for p in parts)
    except ValueError:
        raise CompressError(f"hidden widths must be comma-separated positive integers, e.g. '300,100'; got {text!r}") from None
    if not widths or any(w <= 0 for w in widths):
        raise CompressError(f"hidden widths must be integers between 1 and {limits.current().max_hidden_width}; "
                            f"got {text!r}")
    limits.check_hidden(widths)
    return widths


def build_model(name: str, input_shape: Sequence[int], num_classes: int,
                hidden: Sequence[int] | None = None) -> nn.Module:
    """Create model `name` for this input shape and class count, or say why it cannot."""
    entry = MODELS.get(name)
    shape = tuple(int(s) for s in input_shape)
    if entry.needs_image and len(shape) != 3:
        raise CompressError(
            f"model {name!r} is a CNN and needs image data (channels, height, width); this data set has "
            f"{_features(shape)} tabular features. Use 'mlp' or 'lenet300' for tabular data.")
    if entry.needs_image and min(shape[1:]) < 8:
        raise CompressError(f"model {name!r} needs images of at least 8x8 pixels; got {shape[1]}x{shape[2]}")
    if hidden is not None and not entry.takes_hidden:
        raise CompressError(f"model {name!r} has a fixed architecture; --hidden applies to 'mlp' only")
    hidden = parse_hidden(hidden) if hidden is not None else None
    if hidden:  # count before allocating: widths x input features can be huge
        sizes = [int(math.prod(shape)), *hidden, int(num_classes)]
        limits.check_param_count(sum(a * b + b for a, b in zip(sizes, sizes[1:])), f"model {name!r}")
    model = entry.build(shape, int(num_classes), hidden)
    limits.check_param_count(sum(p.numel() for p in model.parameters()), f"model {name!r}")
    return model


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every Linear and Conv2d layer (their `weight` is what pruning acts on).

    A model may choose its own (a transformer's attention and FFN projections, without its
    embeddings and classification head) with a `prunable_layers()` method.
    """
    own = getattr(model, "prunable_layers", None)
    if callable(own):
        return own()
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
