"""Model meets data: build the spec's model for its data set and check they fit before any work.

One place decides, for every run kind: the model (through the source resolver), the
preprocessing it gets (`normalize`: the spec's value, else the source's default: "auto" for
models trained here, "none" for models that come trained), the image size (`resize`, only when
asked), and that the model takes the data's inputs and answers with one logit per class. Each
disagreement is one line naming both sides ("model expects 3x224x224 images; digits gives 1x8x8").
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.models.sources import ResolvedModel, resolve_model


def shape_text(shape: Sequence[int]) -> str:
    shape = tuple(shape)
    return "x".join(map(str, shape)) + " images" if len(shape) == 3 else \
        f"{shape[0]} features" if len(shape) == 1 else "x".join(map(str, shape)) + " inputs"


def check_fits(resolved: ResolvedModel, data, value: str) -> None:
    """Refuse a model whose input shape or class count disagrees with `data`, in one line; runs one tiny batch."""
    given = tuple(data.input_shape)
    if resolved.input_shape is not None and tuple(resolved.input_shape) != given:
        hint = ""
        if len(given) == 3 and len(resolved.input_shape) == 3 and given[0] == resolved.input_shape[0]:
            hint = f" (resize the images with --resize {resolved.input_shape[1]}x{resolved.input_shape[2]})"
        gives = "x".join(map(str, given)) if len(given) == 3 else shape_text(given)
        raise CompressError(f"model expects {shape_text(resolved.input_shape)}; {data.name} gives {gives}{hint}")
    model = resolved.module
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(data.x_test[:2].to(next(iter(model.parameters()), torch.zeros(0)).device))
    except CompressError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CompressError(f"model {value!r} fails on {data.name}'s {shape_text(given)} (batch of 2): "
                            f"{type(exc).__name__}: {detail}") from None
    finally:
        model.train(was_training)
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 2:
        got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CompressError(f"model {value!r} returns {got} for a batch of 2; the lab needs logits of shape "
                            f"(batch, classes)")
    if out.shape[1] != data.num_classes:
        raise CompressError(f"model {value!r} outputs {out.shape[1]} classes; {data.name} has {data.num_classes}")


def effective_normalize(spec_normalize: Optional[str], resolved: ResolvedModel) -> str:
    return spec_normalize if spec_normalize is not None else resolved.normalize


def model_and_data(spec, raw, *, weights: bool = True, model: Optional[str] = None, hidden=None,
                   model_weights: Optional[str] = None):
    """(ResolvedModel, data as that model expects it) for a spec's model on the raw (auto-normalised) data.

    `model`/`hidden`/`model_weights` override the spec's (a distillation student, a teacher).
    `weights=False` builds the architecture only (saved weights are loaded afterwards).
    """
    from compress_core.data.prepare import parse_resize, prepare

    value = model if model is not None else spec.model
    hidden = hidden if model is not None else spec.hidden
    weights_file = model_weights if model is not None else getattr(spec, "weights", None)
    size = parse_resize(getattr(spec, "resize", None))
    shape = tuple(raw.input_shape) if size is None else (raw.input_shape[0], *size)
    resolved = resolve_model(value, shape, raw.num_classes, hidden=hidden, weights=weights_file if weights else None)
    if not weights and (weights_file or resolved.kind in ("onnx", "pt2")):
        resolved.comes_trained = True  # the architecture of a model that came trained keeps its preprocessing
        if resolved.kind not in ("onnx", "pt2"):
            resolved.normalize = "none"
    normalize = effective_normalize(getattr(spec, "normalize", None), resolved)
    data = prepare(raw, normalize, size)
    check_fits(resolved, data, value)
    resolved.normalize = normalize
    return resolved, data


def describe(resolved: ResolvedModel) -> dict:
    """What the run records about its model source (stored with the baseline and the result)."""
    return {"kind": resolved.kind, "description": resolved.description, "comes_trained": resolved.comes_trained,
            "normalize": resolved.normalize, "input_shape": list(resolved.input_shape) if resolved.input_shape
            else None, "fingerprint": resolved.fingerprint}


def build_for(spec, raw, **kwargs) -> tuple[nn.Module, object]:
    resolved, data = model_and_data(spec, raw, **kwargs)
    return resolved.module, data
