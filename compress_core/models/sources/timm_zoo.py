"""`timm:NAME`: a timm architecture adapted to the data set's channels and classes, randomly initialised.

Never downloads: `pretrained=False` always; trained weights come from a local `--weights` file.
Transformers with a fixed patch grid (ViT, ...) also get the data set's image size.
"""
from __future__ import annotations

import re

from compress_core.errors import CompressError
from compress_core.models.sources import ResolvedModel, Source, Target, register_source

PREFIX = "timm:"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _timm():
    from compress_core.models.sources.tv_ops import ensure_torchvision

    ensure_torchvision()
    try:
        import timm
    except ImportError as exc:
        raise CompressError(f"timm models need the timm package (pip install timm==1.0.31): {exc}") from None
    return timm


def _check(value: str) -> None:
    name = value[len(PREFIX):]
    if not _NAME.match(name):
        raise CompressError(f"timm model name must be letters, digits, '_', '.', '-' (e.g. timm:resnet18); got {value!r}")


def _build(value: str, target: Target) -> ResolvedModel:
    timm = _timm()
    name = value[len(PREFIX):]
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('.')[0][:12]}*")[:8]
        raise CompressError(f"unknown timm model {name!r}; similar: {', '.join(close) or 'none'} "
                            "(timm.list_models() lists all)")
    if len(target.input_shape) != 3:
        raise CompressError(f"timm model {name!r} needs image data (channels, height, width); this data set has "
                            f"{target.input_shape[0]} tabular features")
    c, h, w = target.input_shape
    kwargs = dict(pretrained=False, in_chans=c, num_classes=target.num_classes)
    try:
        try:
            module = timm.create_model(name, img_size=(h, w), **kwargs)
        except TypeError:  # CNNs take any size and have no img_size argument
            module = timm.create_model(name, **kwargs)
    except Exception as exc:
        raise CompressError(f"timm could not build {name!r} for {c}x{h}x{w} inputs and {target.num_classes} classes: "
                            f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None
    return ResolvedModel(module, None, False, "auto", f"timm {name} (random init, {c} channels, "
                         f"{target.num_classes} classes)", "timm", f"timm:{name}:{timm.__version__}")


register_source(Source("timm", "timm:NAME (a timm architecture, random init or --weights)",
                       lambda v: v.startswith(PREFIX), _check, _build, browser=True))
