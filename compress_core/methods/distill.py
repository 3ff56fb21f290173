"""Knowledge distillation (Hinton et al. 2015) with a from-scratch control.

The student learns from the teacher's softened outputs and from the true labels:
    loss = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(y, z_s)

The T^2 factor keeps the gradient scale of the soft term independent of T. (The
widespread snippet that adds the *teacher's* cross-entropy to the student's loss is
wrong: that term has no gradient for the student.)

Distillation pays off when labels are scarce: with `train_fraction` < 1 only a
stratified share of the training labels is known, and with `transfer="all"` the soft
term also sees the unlabelled training inputs. Every run trains the same student
from the same initial weights on the labelled rows alone (the scratch control), so
the gain of distillation is measured, not assumed.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import ClassVar, Optional

import torch
import torch.nn.functional as F
from torch import nn

from compress_core.context import RunContext
from compress_core.data.datasets import Dataset, default_epochs
from compress_core.errors import CompressError
from compress_core.measure.assess import assess_against
from compress_core.methods.labels import describe_distill
from compress_core.methods.registry import Method, SweepParam, register_method
from compress_core.methods.structured import prune_channels
from compress_core.models.fit import check_fits
from compress_core.models.sources import resolve_model
from compress_core.models.sources.teacher_pruned import PREFIX, amount
from compress_core.methods.distill_hidden import HiddenDistiller, hidden_gap, hidden_loss_fn
from compress_core.models.text import layer_indices, structure
from compress_core.models.text_students import (NARROW_FIELDS, build_text_student, check_widths, is_narrow,
                                                teacher_layer_map)
from compress_core.models.text_data import takes_text
from compress_core.options import add_common, base_fields, integer, ratio
from compress_core.progress import emit
from compress_core.results import RunResult
from compress_core.specs import BaseSpec, TrainSpec, check_choice, check_model, check_range
from compress_core.training.baseline import get_baseline
from compress_core.training.loop import FitConfig, fit, predict_logits, seeded

TRANSFERS = ("labeled", "all")
UNLABELED = -1  # label of a training row whose label is hidden (transfer "all")


@dataclass(frozen=True)
class DistillSpec(BaseSpec):
    """Distil `teacher` into the student (`model`, `hidden`), next to a from-scratch control.

    `model`/`hidden` of BaseSpec describe the STUDENT; `lr` and `batch_size` apply to the
    teacher's (cached) training and to both students.
    """

    KIND: ClassVar[str] = "distill"
    model: str = "mlp"  # the student
    teacher: str = "lenet300"
    teacher_hidden: Optional[tuple[int, ...]] = None  # widths when the teacher is an mlp
    teacher_epochs: Optional[int] = None  # None: the data set's default (same cache as `train`)
    temperature: float = 4.0  # softens both distributions; > 0
    alpha: float = 0.9  # weight of the distillation term; 1 - alpha goes to the labels
    epochs: Optional[int] = None  # student epochs; None: auto (see `student_epochs`)
    train_fraction: float = 1.0  # stratified share of training labels that are known
    transfer: str = "labeled"  # labeled: the soft term sees labelled rows only; all: every training input
    scratch: bool = True  # also train the student from scratch on the labelled rows
    # Transformers: the student is the teacher with this many encoder layers, initialised from every
    # k-th teacher layer (DistilBERT style); `model` is then the teacher's name. None: build `model`.
    student_layers: Optional[int] = None
    # Narrower transformer students (models/text_students.py): the teacher's config with these widths,
    # randomly initialised; None keeps the teacher's. With student_layers, also fewer layers.
    student_hidden_size: Optional[int] = None
    student_intermediate_size: Optional[int] = None
    student_heads: Optional[int] = None
    # Weight of the hidden-state MSE term (methods/distill_hidden.py); 0 = off. Transformer students only.
    hidden_weight: float = 0.0

    def __post_init__(self):
        for name in NARROW_FIELDS:
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), 1, 100_000, integer=True)
        check_range("hidden_weight", self.hidden_weight, 0, 1e6)
        if self.student_layers is not None or is_narrow(self):
            if self.student_layers is not None:
                check_range("student_layers", self.student_layers, 1, 1000, integer=True)
            if not takes_text(self.teacher):
                what = "student_layers" if self.student_layers is not None else "a narrower student"
                raise CompressError(f"{what} needs a transformer teacher (tinybert or hf:DIR); "
                                    f"got {self.teacher!r}")
            if self.student_hidden_size is not None and self.student_heads is not None:
                check_widths(self.student_hidden_size, self.student_heads)
            object.__setattr__(self, "model", self.teacher)
            object.__setattr__(self, "hidden", None)
        else:

            if takes_text(self.teacher) and self.model != self.teacher:
                raise CompressError(f"a transformer teacher ({self.teacher!r}) is distilled into fewer or narrower "
                                    f"layers of its own kind: pass student_layers (--student-layers K) or a width "
                                    f"(--student-hidden-size N, ...); got student {self.model!r}")
            if self.hidden_weight and not takes_text(self.teacher):
                raise CompressError(f"hidden_weight {self.hidden_weight:g} needs a transformer teacher and student "
                                    f"(tinybert or hf:DIR); got teacher {self.teacher!r}. Use 0 for other models")
        super().__post_init__()
        object.__setattr__(self, "teacher_hidden", check_model(self.teacher, self.teacher_hidden))
        if self.teacher_epochs is not None:
            check_range("teacher_epochs", self.teacher_epochs, 1, 10_000, integer=True)
        check_range("temperature", self.temperature, 0, 1000, low_open=True)
        check_range("alpha", self.alpha, 0, 1)
        if self.epochs is not None:
            check_range("epochs", self.epochs, 1, 100_000, integer=True)
        check_range("train_fraction", self.train_fraction, 0, 1, low_open=True)
        check_choice("transfer", self.transfer, TRANSFERS)
        if not isinstance(self.scratch, bool):
            raise CompressError(f"scratch must be true or false; got {self.scratch!r}")

    def teacher_spec(self) -> TrainSpec:
        return TrainSpec(model=self.teacher, hidden=self.teacher_hidden, dataset=self.dataset, seed=self.seed,
                         label_column=self.label_column, lr=self.lr, batch_size=self.batch_size,
                         epochs=self.teacher_epochs, weights=self.weights, normalize=self.normalize,
                         resize=self.resize, text_column=self.text_column, max_length=self.max_length,
                         precision=self.precision)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al.'s loss over a batch B whose labelled rows are L (`labels != UNLABELED`):

        alpha * T^2 * (1/|B|) sum_{i in B} KL(p_t,i || p_s,i) + (1 - alpha) * (1/|L|) sum_{i in L} CE(y_i, z_s,i)

    with p = softmax(z / T); the CE term is 0 when L is empty. With every label known it
    is the usual alpha * T^2 * KL + (1 - alpha) * CE. The teacher's logits are detached:
    only the student learns.
    """
    T = temperature
    kd = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits.detach() / T, dim=1),
                  log_target=True, reduction="batchmean")
    known = labels != UNLABELED
    ce = F.cross_entropy(student_logits[known], labels[known], reduction="sum") / known.sum().clamp(min=1)
    return alpha * T * T * kd + (1 - alpha) * ce


def labeled_indices(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of a stratified, seeded `fraction` of the rows, at least one per class.

    All rows when the fraction leaves fewer unlabelled rows than there are classes
    (a stratified split cannot place one of each class on both sides).
    """
    from sklearn.model_selection import train_test_split

    n, k = len(y), int(torch.unique(y).numel())
    wanted = max(round(fraction * n), k)
    if wanted > n - k:
        return torch.arange(n)
    try:
        keep, _ = train_test_split(torch.arange(n).numpy(), train_size=wanted, stratify=y.numpy(), random_state=seed)
    except ValueError as exc:  # e.g. a class with a single training row
        raise CompressError(f"train_fraction {fraction:g}: cannot draw a stratified labelled subset: {exc}") from None
    return torch.as_tensor(sorted(keep), dtype=torch.long)


def matched_epochs(epochs: int, n_from: int, n_to: int, batch_size: int) -> int:
    """Epochs over `n_to` rows that take as many optimiser steps as `epochs` over `n_from` rows.

    The scratch control gets the distilled student's step budget: with transfer "all" the
    distilled student passes over every training input, and equal epochs over the few
    labelled rows would starve the control and inflate the gain of distillation.
    """
    steps = epochs * -(-n_from // batch_size)
    return max(1, round(steps / -(-n_to // batch_size)))


# Auto budget: the optimiser steps of AUTO_PASSES x the data set's default epochs over the
# full training set. Measured on digits (mlp 16 from LeNet-300-100, T=4, alpha=0.9): the
# distilled student needs about 60 passes to converge; after 30 it was still a point below
# the scratch student with full labels, after 60 level with it (docs/distillation.md).
AUTO_PASSES = 2


def student_epochs(spec: DistillSpec, n_distill: int, n_train: int, batch_size: int) -> int:
    """`spec.epochs`, or the auto budget expressed as epochs over the distilled student's rows.

    Counting the auto budget in steps keeps it from shrinking with the labelled fraction
    (10% of the rows would otherwise mean a tenth of the training).
    """
    if spec.epochs is not None:
        return spec.epochs
    return matched_epochs(AUTO_PASSES * default_epochs(spec.dataset), n_train, n_distill, batch_size)


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of rows where two logit matrices pick the same class."""
    return (a.argmax(1) == b.argmax(1)).float().mean().item()


def _soft_loss(teacher_logits: torch.Tensor, temperature: float, alpha: float):
    """A `fit` loss that looks the teacher's precomputed logits up by batch index."""
    def loss_fn(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return distillation_loss(model(xb), teacher_logits[idx], yb, temperature, alpha)

    return loss_fn


def _training_set(spec: DistillSpec, data: Dataset, teacher_logits: torch.Tensor, labeled: torch.Tensor):
    """(inputs, labels with UNLABELED for hidden ones, teacher logits) the distilled student trains on."""
    if spec.transfer == "labeled":
        return data.x_train[labeled], data.y_train[labeled], teacher_logits[labeled]
    y = torch.full_like(data.y_train, UNLABELED)
    y[labeled] = data.y_train[labeled]
    return data.x_train, y, teacher_logits


def _notes(spec: DistillSpec, n_labeled: int, n_train: int, student_params: int, teacher_params: int) -> list[str]:
    notes = []
    if spec.transfer == "all" and n_labeled < n_train:
        notes.append(f"regime: {n_labeled} of {n_train} training labels known ({spec.train_fraction:g}); the distillation "
                     f"term sees all {n_train} training inputs, the label term and the scratch student only the "
                     f"{n_labeled} labelled ones (the scratch student gets as many optimiser steps, in more epochs)")
    else:
        notes.append(f"regime: {n_labeled} of {n_train} training labels known ({spec.train_fraction:g}); both students "
                     f"train on those {n_labeled} labelled inputs only")
    if student_params > teacher_params:
        notes.append(f"warning: the student ({student_params} parameters) is larger than the teacher "
                     f"({teacher_params}); distillation here does not compress")
    return notes


def _train_scratch(initial: nn.Module, data: Dataset, config: FitConfig, labeled: torch.Tensor, n_distill: int,
                   test_teacher: torch.Tensor, ctx: RunContext) -> tuple[list, dict]:
    """The control: the same student from the same weights, on the labelled rows alone,
    with the distilled student's optimiser steps, seed and optimiser."""
    scratch = copy.deepcopy(initial)
    epochs = matched_epochs(config.epochs, n_distill, len(labeled), config.batch_size)
    history = fit(scratch, data, replace(config, epochs=epochs), on_progress=ctx.on_progress, stage="scratch",
                  device=ctx.device, x_train=data.x_train[labeled], y_train=data.y_train[labeled])
    logits = predict_logits(scratch, data.x_test, ctx.device)
    return history, {"scratch_epochs": epochs, "scratch_accuracy": (logits.argmax(1) == data.y_test).float().mean().item(),
                     "scratch_agreement": agreement(logits, test_teacher)}


def build_student(spec: DistillSpec, data: Dataset, teacher: nn.Module) -> nn.Module:
    """The untrained student (any model source) for the teacher's data, checked against it;
    `teacher-pruned:AMOUNT` is a copy of the teacher with AMOUNT of its channels removed."""

    if spec.model.startswith(PREFIX):

        student = copy.deepcopy(teacher).cpu().requires_grad_(True)  # the teacher itself stays frozen
        prune_channels(student, data.input_shape, amount(spec.model))
        return student

    with seeded(spec.seed):
        student = resolve_model(spec.model, data.input_shape, data.num_classes, hidden=spec.hidden)
    check_fits(student, data, spec.model)
    return student.module


def run_distill(spec: DistillSpec, ctx: RunContext) -> RunResult:
    """Distil the cached teacher into the student, train the scratch control, measure, save."""
    teacher = get_baseline(spec.teacher_spec(), ctx)
    data = teacher.data
    teacher.model.eval().requires_grad_(False)  # a fixed function: its logits are computed once
    teacher_logits = predict_logits(teacher.model, data.x_train, ctx.device)
    labeled = labeled_indices(data.y_train, spec.train_fraction, spec.seed)
    text_student = spec.student_layers is not None or is_narrow(spec)
    if text_student:  # DistilBERT style (every k-th teacher layer) and/or narrower (models/text_students.py)

        with seeded(spec.seed):
            initial = build_text_student(spec, teacher.model).requires_grad_(True)
    else:
        initial = build_student(spec, data, teacher.model)
    x, y, t_logits = _training_set(spec, data, teacher_logits, labeled)
    batch_size = teacher.spec.batch_size
    config = FitConfig(student_epochs(spec, len(x), len(data.x_train), batch_size), spec.lr, batch_size, spec.seed,
                       precision=spec.precision)

    student = copy.deepcopy(initial)
    emit(ctx.on_progress, "distill", 0, config.epochs,
         f"distilling {spec.teacher} into {spec.model} (T={spec.temperature:g}, alpha={spec.alpha:g})")
    hidden_extra = {}
    if text_student and spec.hidden_weight > 0:  # + W x hidden-state MSE (methods/distill_hidden.py)
        layer_map = teacher_layer_map(structure(teacher.model)["encoder_layers"], structure(student)["encoder_layers"])
        with seeded(spec.seed):
            trainee = HiddenDistiller(student, teacher.model.hf.config.hidden_size)
        soft = lambda s, t, labels: distillation_loss(s, t, labels, spec.temperature, spec.alpha)  # noqa: E731
        history = fit(trainee, data, config, on_progress=ctx.on_progress, stage="distill", device=ctx.device,
                      x_train=x, y_train=y, loss_fn=hidden_loss_fn(teacher.model, t_logits.to(ctx.device), layer_map,
                                                                   spec.hidden_weight, soft))
        hidden_extra = {"hidden_weight": spec.hidden_weight, "hidden_layer_map": layer_map,
                        "hidden_mse": hidden_gap(student, teacher.model, trainee.proj, data.x_test, layer_map)}
    else:
        history = fit(student, data, config, on_progress=ctx.on_progress, stage="distill", device=ctx.device,
                      x_train=x, y_train=y, loss_fn=_soft_loss(t_logits.to(ctx.device), spec.temperature, spec.alpha))
    test_teacher = predict_logits(teacher.model, data.x_test, ctx.device)
    extra = {"labeled_examples": len(labeled), "kd_examples": len(x), "student_epochs": config.epochs,
             "agreement": agreement(predict_logits(student, data.x_test, ctx.device), test_teacher)}
    if spec.scratch:
        scratch_history, scratch_metrics = _train_scratch(initial, data, config, labeled, len(x), test_teacher, ctx)
        history += scratch_history
        extra.update(scratch_metrics)

    emit(ctx.on_progress, "measure", 0, 1, "measuring the student against the teacher")
    metrics, base_metrics, layers = assess_against(student, teacher.model, data, ctx)
    metrics["teacher_accuracy"] = base_metrics["accuracy"]
    if spec.scratch:
        metrics["gain_vs_scratch"] = metrics["accuracy"] - extra["scratch_accuracy"]
    metrics.update(extra)
    metrics.update(hidden_extra)
    notes = _notes(spec, len(labeled), len(data.x_train), metrics["params_total"], base_metrics["params_total"])
    if text_student:

        n = structure(teacher.model)["encoder_layers"]
        k = structure(student)["encoder_layers"]
        metrics.update(student_layers=k, teacher_layers=n)
        if is_narrow(spec):
            cfg, tcfg = student.hf.config, teacher.model.hf.config
            metrics.update(student_hidden_size=int(cfg.hidden_size), student_intermediate_size=int(cfg.intermediate_size),
                           student_heads=int(cfg.num_attention_heads))
            notes.append(f"student: {k} layers, hidden {cfg.hidden_size}, FFN {cfg.intermediate_size}, "
                         f"{cfg.num_attention_heads} heads (teacher: {n}, {tcfg.hidden_size}, {tcfg.intermediate_size}, "
                         f"{tcfg.num_attention_heads}), randomly initialised; the scratch control starts from the "
                         "same weights and learns from the labels alone")
        else:
            notes.append(f"student: the teacher's layers {layer_indices(n, k)} of 0..{n - 1} "
                         "(DistilBERT-style initialisation); the scratch control starts from the same layers "
                         "and learns from the labels alone")
        if hidden_extra:
            proj = "identity" if k and student.hf.config.hidden_size == teacher.model.hf.config.hidden_size \
                else f"a learned {student.hf.config.hidden_size}->{teacher.model.hf.config.hidden_size} projection"
            notes.append(f"hidden-state term: weight {spec.hidden_weight:g}, student layer i matched to teacher layer "
                         f"{hidden_extra['hidden_layer_map']}[i] ({proj}); test-set MSE {hidden_extra['hidden_mse']:.4g}")
    return RunResult(id="", kind="distill", status="finished", spec=spec.to_dict(), metrics=metrics, layers=layers,
                     history=teacher.info["history"] + history, baseline=base_metrics,
                     artifacts=ctx.save_weights(student), notes=notes)


def _distill_args(p) -> None:
    add_common(p, model=False)
    p.add_argument("--teacher", default="lenet300", help="teacher model (its cached baseline; default: lenet300)")
    p.add_argument("--teacher-hidden", help="teacher hidden widths when the teacher is mlp, e.g. 300,100")
    p.add_argument("--teacher-epochs", type=integer, help="teacher training epochs (default: the data set's default)")
    p.add_argument("--student", default="mlp", help="student model (default: mlp)")
    p.add_argument("--hidden", help="student hidden widths for mlp, e.g. 16 or 64,32 (default: 100)")
    p.add_argument("--temperature", type=ratio, default=DistillSpec.temperature,
                   help=f"softmax temperature, > 0 (default: {DistillSpec.temperature:g})")
    p.add_argument("--alpha", type=ratio, default=DistillSpec.alpha,
                   help=f"weight of the distillation term in [0, 1] (default: {DistillSpec.alpha:g})")
    p.add_argument("--epochs", type=integer,
                   help=f"epochs of the distilled student; the scratch control gets as many optimiser steps "
                        f"(default: the steps of {AUTO_PASSES}x the data set's default epochs over the full training set)")
    p.add_argument("--train-fraction", type=ratio, default=1.0,
                   help="stratified share of training labels that are known, in (0, 1] (default: 1)")
    p.add_argument("--transfer", default="labeled",
                   help="labeled: distil on the labelled rows only; all: the distillation term sees every training input "
                        "(default: labeled)")
    p.add_argument("--no-scratch", action="store_true", help="skip the from-scratch control student")
    p.add_argument("--student-layers", type=integer, help="transformer teacher: the student keeps this many encoder "
                   "layers, initialised from every k-th teacher layer (DistilBERT style; --student is then ignored)")
    p.add_argument("--student-hidden-size", type=integer, help="transformer teacher: a narrower student with this "
                   "hidden size (the teacher's config otherwise; randomly initialised)")
    p.add_argument("--student-intermediate-size", type=integer, help="transformer teacher: the student's FFN width")
    p.add_argument("--student-heads", type=integer, help="transformer teacher: the student's attention heads "
                   "(its hidden size must be a multiple)")
    p.add_argument("--hidden-weight", type=ratio, default=0.0, help="transformer students: weight of the "
                   "hidden-state MSE term (student layer i vs the teacher layer it comes from; 0 = off, the default)")


def _distill_spec(args) -> DistillSpec:
    return DistillSpec(**base_fields(args), model=args.student, hidden=args.hidden, teacher=args.teacher,
                       teacher_hidden=args.teacher_hidden, teacher_epochs=args.teacher_epochs,
                       temperature=args.temperature, alpha=args.alpha, epochs=args.epochs,
                       train_fraction=args.train_fraction, transfer=args.transfer, scratch=not args.no_scratch,
                       student_layers=args.student_layers, student_hidden_size=args.student_hidden_size,
                       student_intermediate_size=args.student_intermediate_size, student_heads=args.student_heads,
                       hidden_weight=args.hidden_weight)


_describe = describe_distill  # torch-free, in methods/labels.py: run lists label runs without importing this module


register_method(Method(
    kind="distill", spec=DistillSpec, run=run_distill, label="distillation", colour="#9467bd",
    help="distil a trained teacher into a smaller student, next to the same student trained from scratch",
    add_arguments=_distill_args, spec_from_args=_distill_spec,
    sweep={"temperature": SweepParam("temperature", "1,2,4,8", "T > 0"),
           "width": SweepParam("hidden", "8,16,32,64", "hidden units of the one-layer mlp student", integer=True)},
    report_settings=("teacher", "hidden", "temperature", "alpha", "epochs", "train_fraction"),
    describe=_describe, page="pages/distill.py", order=20))
