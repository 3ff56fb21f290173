"""Run specifications: frozen dataclasses validated on creation.

A spec is everything needed to reproduce a run. The UI, the CLI and the job workers
all build one, and the full spec is stored with every result. Validation errors name
the bad value and the allowed range.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar, Optional

from compress_core.devices import check_device_text
from compress_core.errors import CompressError
from compress_core.methods.criteria import CRITERIA
from compress_core.models.text_data import takes_text
from compress_core.models.zoo import MODELS, parse_hidden


def check_range(name: str, value, low=None, high=None, *, low_open=False, high_open=False, integer=False):
    """Raise CompressError unless low <= value <= high (or open bounds), naming the value and range."""
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise CompressError(f"{name} must be an integer; got {value!r}")
    if not integer and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise CompressError(f"{name} must be a number; got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high or value != value:  # value != value catches NaN
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise CompressError(f"{name} must be in {left}{lo}, {hi}{right}; got {value!r}")


def check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise CompressError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


def check_dataset_name(name: str) -> None:
    """A registry name or a path to a .csv/.npz file (existence is checked when loading)."""
    from compress_core.data.datasets import DATASETS

    if not isinstance(name, str) or not name:
        raise CompressError(f"dataset must be a name ({', '.join(DATASETS.names())}) or a .csv/.npz path; got {name!r}")
    if name in DATASETS or Path(name).suffix.lower() in (".csv", ".npz"):
        return
    raise CompressError(
        f"unknown data set {name!r}; allowed: {', '.join(DATASETS.names())}, or a path to a .csv or .npz file")


def check_model(name: str, hidden) -> Optional[tuple[int, ...]]:
    """A built-in name (with hidden widths for mlp) or any model source the resolver accepts (syntax only)."""
    if not (isinstance(name, str) and name in MODELS):
        from compress_core.models.sources import check_model_value

        check_model_value(name)
        if hidden is not None and hidden != ():
            raise CompressError(f"hidden widths apply to the built-in 'mlp' only; got hidden {hidden!r} for {name!r}")
        return None
    entry = MODELS.get(name)
    hidden = parse_hidden(hidden)
    if hidden is not None and not entry.takes_hidden:
        raise CompressError(f"model {name!r} has a fixed architecture; hidden widths apply to 'mlp' only")
    return hidden


def check_source_fields(spec) -> None:
    """Validate `weights`, `normalize` and `resize` (syntax; files are read when the run starts)."""
    from compress_core.data.prepare import parse_normalize, parse_resize, resize_text

    if spec.weights is not None and (not isinstance(spec.weights, str) or not spec.weights.lower().endswith(".safetensors")):
        raise CompressError(f"weights must be a path to a .safetensors file; got {spec.weights!r}")
    parse_normalize(spec.normalize)
    object.__setattr__(spec, "resize", resize_text(parse_resize(spec.resize)))


def source_fields(spec) -> dict:
    """The model-source fields a derived baseline spec inherits."""
    return {"weights": spec.weights, "normalize": spec.normalize, "resize": spec.resize}


@dataclass(frozen=True)
class BaseSpec:
    """Fields shared by every run: which model on which data, trained how."""

    KIND: ClassVar[str] = ""
    model: str = "lenet300"
    dataset: str = "digits"
    hidden: Optional[tuple[int, ...]] = None  # mlp widths, e.g. (300, 100)
    seed: int = 0
    label_column: str = "label"  # for user CSV files
    lr: float = 1e-3  # Adam learning rate of the baseline
    batch_size: Optional[int] = None  # None: 32 for small data sets (< 5000 training rows), else 128
    weights: Optional[str] = None  # a .safetensors file loaded into the model (it then comes trained)
    normalize: Optional[str] = None  # auto | none | MEAN,STD (m1/m2/m3,s1/s2/s3); None: the model source's default
    resize: Optional[str] = None  # HEIGHTxWIDTH: images resized for the model; None: as the data set gives them
    text_column: str = "text"  # for user CSV files of texts (a text column and a label column)
    max_length: int = 128  # text: tokens per text at most (longer texts are truncated, with a notice)
    precision: str = "fp32"  # training: fp32 | bf16 (autocast, fp32 master weights) | fp16 (CUDA) | auto (measured)
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N; resolved when the run starts (devices.py)

    def __post_init__(self):
        object.__setattr__(self, "hidden", check_model(self.model, self.hidden))
        check_source_fields(self)
        from compress_core.data.text import check_max_length

        check_max_length(self.max_length)
        if not isinstance(self.text_column, str) or not self.text_column:
            raise CompressError(f"text_column must be a non-empty column name; got {self.text_column!r}")
        check_dataset_name(self.dataset)
        from compress_core.training.precision import check_precision

        check_precision(self.precision)
        object.__setattr__(self, "device", check_device_text(self.device))
        check_range("seed", self.seed, 0, 2**31 - 1, integer=True)
        check_range("lr", self.lr, 0, 10, low_open=True)
        if self.batch_size is not None:
            check_range("batch_size", self.batch_size, 1, 1_000_000, integer=True)
        if not isinstance(self.label_column, str) or not self.label_column:
            raise CompressError(f"label_column must be a non-empty column name; got {self.label_column!r}")

    @property
    def kind(self) -> str:
        return self.KIND

    def to_dict(self) -> dict:
        d = {"kind": self.KIND}
        for f in fields(self):
            value = getattr(self, f.name)
            d[f.name] = list(value) if isinstance(value, tuple) else value
        return d

    def replace(self, **changes) -> "BaseSpec":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TrainSpec(BaseSpec):
    """Train (or fetch from the cache) a baseline model."""

    KIND: ClassVar[str] = "train"
    epochs: Optional[int] = None  # None: the data set's default

    def __post_init__(self):
        super().__post_init__()
        if self.epochs is not None:
            check_range("epochs", self.epochs, 1, 10_000, integer=True)


# Every pruning criterion (compress_core.methods.criteria: one file each) masks weights; "structured" removes channels.
PRUNE_METHODS = (*CRITERIA.names(), "structured")
PRUNE_SCOPES = ("global", "layer")
PRUNE_SCHEDULES = ("oneshot", "agp")
IMPORTANCES = ("l1", "l2")


@dataclass(frozen=True)
class PruneSpec(BaseSpec):
    """Prune the cached baseline, then fine-tune with the masks (or smaller shapes) fixed."""

    KIND: ClassVar[str] = "prune"
    method: str = "l1"  # a pruning criterion (l1 magnitude, random control, wanda, ...) | structured (physical removal)
    scope: str = "global"  # global: one threshold for all layers; layer: same amount per layer
    amount: float = 0.5  # share of weights (unstructured) or channels (structured) removed
    schedule: str = "oneshot"  # oneshot | agp (gradual, Zhu & Gupta 2017)
    steps: int = 10  # AGP pruning steps
    finetune_epochs: int = 3
    finetune_lr: Optional[float] = None  # cosine-decayed peak; None: 7e-3 below 5000 training rows, else 2e-3
    baseline_epochs: Optional[int] = None  # None: the data set's default (same as train)
    importance: str = "l1"  # structured: l1 | l2 norm of each channel group
    # Non-uniform pruning (e.g. proposed by a sensitivity scan): layer name -> amount. Replaces
    # `amount`/`scope` for one-shot masked pruning by any criterion; layers not named stay dense.
    layer_amounts: Optional[dict] = None
    # Unstructured pruning of a subset: shell-style layer-name patterns separated by commas
    # (e.g. "features.*,classifier.0"); None prunes every Linear/Conv2d layer.
    layers: Optional[str] = None
    # N:M semi-structured sparsity ("2:4", "4:8"): the N largest of every M input weights by `method`'s scores
    # stay (methods/nm_sparsity.py); sets `amount` to 1 - N/M. None: unstructured or structured as above.
    pattern: Optional[str] = None
    # Transformers: also prune the embedding tables / the head (pooler, classifier); both excluded by default.
    include_embeddings: bool = False
    include_head: bool = False

    def __post_init__(self):
        super().__post_init__()
        check_choice("method", self.method, PRUNE_METHODS)
        if self.pattern is not None:
            self._check_pattern()
        self._check_includes()
        check_choice("scope", self.scope, PRUNE_SCOPES)
        check_choice("schedule", self.schedule, PRUNE_SCHEDULES)
        check_choice("importance", self.importance, IMPORTANCES)
        check_range("amount", self.amount, 0, 1, high_open=True)
        check_range("steps", self.steps, 1, 1000, integer=True)
        check_range("finetune_epochs", self.finetune_epochs, 0, 10_000, integer=True)
        if self.finetune_lr is not None:
            check_range("finetune_lr", self.finetune_lr, 0, 10, low_open=True)
        if self.baseline_epochs is not None:
            check_range("baseline_epochs", self.baseline_epochs, 1, 10_000, integer=True)
        if self.method == "structured" and self.schedule != "oneshot":
            raise CompressError("structured pruning supports schedule 'oneshot' only; got 'agp'")
        if self.layer_amounts is not None:
            self._check_layer_amounts()
        if self.layers is not None:
            if not isinstance(self.layers, str) or not self.layers.strip(" ,"):
                raise CompressError(f"layers must be layer-name patterns separated by commas; got {self.layers!r}")
            if self.method == "structured" or self.layer_amounts:
                raise CompressError("layers selects layers for unstructured pruning by a criterion; it does not combine "
                                    f"with method 'structured' or layer_amounts (got method {self.method!r})")

    def _check_pattern(self) -> None:
        from compress_core.methods.nm_sparsity import parse_pattern

        n, m = parse_pattern(self.pattern)
        object.__setattr__(self, "pattern", f"{n}:{m}")
        if self.method not in CRITERIA or self.schedule != "oneshot" or self.layer_amounts:
            raise CompressError(f"pattern {self.pattern} keeps the best {n} of every {m} weights by a criterion "
                                f"({', '.join(CRITERIA.names())}), one-shot, without layer_amounts; got method "
                                f"{self.method!r}, schedule {self.schedule!r}")
        implied = 1 - n / m
        if self.amount not in (0.5, implied) and abs(self.amount - implied) > 1e-9:
            raise CompressError(f"pattern {self.pattern} removes {implied:g} of the weights; got amount {self.amount!r} "
                                "(leave amount out with a pattern)")
        object.__setattr__(self, "amount", implied)
    def _check_includes(self) -> None:
        for name in ("include_embeddings", "include_head"):
            if not isinstance(getattr(self, name), bool):
                raise CompressError(f"{name} must be true or false; got {getattr(self, name)!r}")
        if (self.include_embeddings or self.include_head) and (self.method == "structured" or self.layer_amounts):
            raise CompressError("include_embeddings/include_head widen unstructured pruning by a criterion; they do not "
                                f"combine with method 'structured' or layer_amounts (got method {self.method!r})")
        if (self.include_embeddings or self.include_head) and not takes_text(self.model):
            raise CompressError(f"include_embeddings/include_head apply to transformer models (tinybert, hf:DIR); "
                                f"{self.model!r} prunes every Linear/Conv2d layer already")
        if self.include_embeddings and self.method in CRITERIA and CRITERIA.get(self.method).needs_calibration:
            raise CompressError(f"method {self.method!r} scores weights by their layer's inputs, and embeddings take "
                                "token ids; use l1 or random with include_embeddings")

    def _check_layer_amounts(self) -> None:
        if not isinstance(self.layer_amounts, dict) or not self.layer_amounts:
            raise CompressError(f"layer_amounts must map layer names to amounts; got {self.layer_amounts!r}")
        if self.method not in CRITERIA or self.schedule != "oneshot":
            raise CompressError(f"layer_amounts work with a masking method ({', '.join(CRITERIA.names())}) and "
                                "schedule oneshot; "
                                f"got method {self.method!r}, schedule {self.schedule!r}")
        for name, value in self.layer_amounts.items():
            check_range(f"amount of layer {name!r}", value, 0, 1, high_open=True)

    def baseline_spec(self) -> TrainSpec:
        return TrainSpec(model=self.model, dataset=self.dataset, hidden=self.hidden, seed=self.seed,
                         label_column=self.label_column, lr=self.lr, batch_size=self.batch_size,
                         epochs=self.baseline_epochs, text_column=self.text_column, max_length=self.max_length,
                         precision=self.precision, **source_fields(self))
