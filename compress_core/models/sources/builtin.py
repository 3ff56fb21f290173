"""Built-in architectures (`compress_core.models.zoo.MODELS`): trained here, normalised inputs."""
from __future__ import annotations

from compress_core.models.sources import ResolvedModel, Source, Target, register_source
from compress_core.models.zoo import MODELS, build_model


def _check(value: str) -> None:
    MODELS.get(value)


def _build(value: str, target: Target) -> ResolvedModel:
    module = build_model(value, target.input_shape, target.num_classes, target.hidden)
    return ResolvedModel(module, None, False, "auto", MODELS.get(value).description, "builtin",
                         f"builtin:{value}:{target.hidden}")


register_source(Source("builtin", f"{', '.join(MODELS.names())} (built-in)", lambda v: v in MODELS,
                       _check, _build, browser=True))
