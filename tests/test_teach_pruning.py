"""The pruning lesson's masked copy gives exactly the numbers of a pruned copy (`teach.pruned_copy`), at every
slider value of both scopes, takes the copy's path where its masks could differ, and never changes the model."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from compress_core.context import RunContext
from compress_core.errors import CompressError
from compress_core.measure.metrics import clean_state_dict, count_params, sparse_encode
from compress_core.models.zoo import prunable_layers
from compress_core.present import teach, teach_pruning
from compress_core.specs import TrainSpec
from compress_core.training.baseline import get_baseline
from compress_core.training.loop import evaluate


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """LeNet-300-100 on digits, 2 epochs: the teaching model, trained briefly."""
    return get_baseline(TrainSpec(model="lenet300", dataset="digits", epochs=2),
                        RunContext.create(home=tmp_path_factory.mktemp("teach_pruning_home")))


@pytest.fixture(scope="module")
def units(base):
    return teach.strongest_units(teach.first_layer(base.model), 6)


def assert_same(got: dict, want: dict) -> None:
    """Every value equal, arrays element by element and in dtype (what the page shows and draws)."""
    assert got.keys() == want.keys()
    for key in want:
        if key == "hist":
            assert got[key].keys() == want[key].keys()
            for part in want[key]:
                a, b = got[key][part], want[key][part]
                assert np.array_equal(a, b) if isinstance(b, np.ndarray) else a == b, (key, part)
        elif isinstance(want[key], np.ndarray):
            assert want[key].dtype == got[key].dtype and np.array_equal(got[key], want[key]), key
        else:
            assert got[key] == want[key], (key, got[key], want[key])


def state(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_reference_numbers_are_a_pruned_copys(base, units):
    """The reference is what the lesson measured before (a pruned copy, evaluated and serialized)."""
    x, y = base.data.x_test, base.data.y_test
    pruned = teach.pruned_copy(base.model, 0.85, "global")
    ref = teach_pruning.reference_numbers(base.model, x, y, 0.85, "global", units)
    assert ref["accuracy"] == evaluate(pruned, x, y)[0]
    assert (ref["total"], ref["nonzero"]) == count_params(pruned)
    assert (ref["dense_bytes"], ref["sparse_bytes"]) == teach.file_sizes(base.model, pruned)
    assert np.array_equal(ref["first_layer"], teach.first_layer(pruned)[units].numpy())
    assert ref["hist"]["removed_share"] == pytest.approx(0.85, abs=1e-5)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_every_slider_value_gives_the_pruned_copys_numbers(base, units, scope):
    lesson = teach_pruning.PruningLesson(base.model)
    before = state(base.model)
    x, y = base.data.x_test, base.data.y_test
    fast = 0
    for pct in [0, 1, 2, 5, 13, 30, 50, 64, 70, 71, 85, 90, 97, 98, 99, 70, 1]:  # back and forth: masks are rewritten
        fast += lesson.keep_masks(pct / 100, scope) is not None
        assert_same(lesson.numbers(pct / 100, scope, x, y, units),
                    teach_pruning.reference_numbers(base.model, x, y, pct / 100, scope, units))
    assert fast >= 15  # the masked copy did the work (a trained model's float weights rarely tie)
    assert all(torch.equal(before[k], v) for k, v in base.model.state_dict().items())


def test_the_masks_are_torchs_own(base):
    lesson = teach_pruning.PruningLesson(base.model)
    for scope in ("global", "layer"):
        pruned = teach.pruned_copy(base.model, 0.63, scope)
        masks = lesson.keep_masks(0.63, scope)
        for (name, module) in prunable_layers(pruned):
            assert np.array_equal(masks[name], module.weight_mask.numpy().reshape(-1) == 1), (scope, name)


class Tied(nn.Module):
    """Two layers whose weights tie in magnitude: torch's top-k picks some of the tied weights."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(3, 2)
        with torch.no_grad():
            self.a.weight.copy_(torch.tensor([[0.1, -0.1, 0.1, 0.2]] * 3))
            self.b.weight.copy_(torch.tensor([[0.1, 0.3, -0.4], [0.5, 0.6, 0.7]]))

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


def test_a_tie_at_the_threshold_takes_the_pruned_copys_path():
    torch.manual_seed(0)
    model = Tied()
    lesson = teach_pruning.PruningLesson(model)
    x, y = torch.randn(20, 4), torch.randint(0, 2, (20,))
    assert lesson.keep_masks(0.25, "global") is None  # the 4 smallest of 18, where ten have |w| = 0.1: a tie
    assert lesson.keep_masks(0.5, "layer") is None  # 6 of layer a's 12, nine of which have |w| = 0.1
    assert lesson.keep_masks(0.75, "layer") is not None  # all nine 0.1s of layer a, 4 of layer b: no tie
    assert lesson.keep_masks(0.8, "global") is not None
    for amount, scope in [(0.25, "global"), (0.5, "layer"), (0.75, "layer"), (0.8, "global")]:
        assert_same(lesson.numbers(amount, scope, x, y, [0, 1]),
                    teach_pruning.reference_numbers(model, x, y, amount, scope, [0, 1]))


def test_zeros_or_masks_already_take_the_pruned_copys_path(base):
    zeroed = teach.pruned_copy(base.model, 0.3)
    assert not teach_pruning.PruningLesson(zeroed).supported  # masks: torch would prune relative to them
    model = Tied()
    with torch.no_grad():
        model.b.weight[0, 0] = 0.0
    assert teach_pruning.PruningLesson(model).keep_masks(0.5, "global") is None


def test_bad_amount_or_scope_is_one_clear_error(base, units):
    lesson = teach_pruning.PruningLesson(base.model)
    with pytest.raises(CompressError):
        lesson.numbers(1.0, "global", base.data.x_test, base.data.y_test, units)
    with pytest.raises(ValueError, match="scope"):
        lesson.keep_masks(0.5, "channels")


def test_sessions_moving_at_once_each_get_their_own_numbers(base, units):
    """The copy is shared by every session of a server: moves from several threads do not mix their masks."""
    lesson = teach_pruning.PruningLesson(base.model)
    x, y = base.data.x_test, base.data.y_test
    amounts = [0.4, 0.6, 0.8, 0.95]
    want = {a: teach_pruning.reference_numbers(base.model, x, y, a, "global", units)["sparse_bytes"] for a in amounts}
    got, errors = {}, []

    def move(amount):
        try:
            for _ in range(5):
                got.setdefault(amount, set()).add(lesson.numbers(amount, "global", x, y, units)["sparse_bytes"])
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(a,)) for a in amounts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == {a: {want[a]} for a in amounts}


def test_the_sparse_file_is_measured_on_the_masked_copy(base, units):
    """The sparse size is an encoding of the masked copy's state dict, in a pruned model's key order."""
    lesson = teach_pruning.PruningLesson(base.model)
    shown = lesson.numbers(0.9, "layer", base.data.x_test, base.data.y_test, units)
    assert shown["sparse_bytes"] == len(sparse_encode(clean_state_dict(teach.pruned_copy(base.model, 0.9, "layer"))))
    assert list(clean_state_dict(lesson.copy)) == list(clean_state_dict(teach.pruned_copy(base.model, 0.9, "layer")))
