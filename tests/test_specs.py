import pytest

from compress_core.errors import CompressError
from compress_core.methods.registry import spec_from_dict
from compress_core.specs import PruneSpec, TrainSpec


@pytest.mark.parametrize("changes, message", [
    ({"amount": 1.5}, r"amount must be in \[0, 1\); got 1.5"),
    ({"amount": -0.1}, "amount must be in"),
    ({"method": "magic"}, "method must be one of l1, random, (.+, )?structured"),  # criteria from their registry
    ({"scope": "everywhere"}, "scope must be one of global, layer"),
    ({"schedule": "weekly"}, "schedule must be one of oneshot, agp"),
    ({"finetune_epochs": -1}, "finetune_epochs must be in"),
    ({"steps": 0}, "steps must be in"),
    ({"model": "vgg"}, "unknown model 'vgg'"),
    ({"dataset": "imagenet"}, "unknown data set 'imagenet'"),
    ({"seed": -3}, "seed must be in"),
    ({"method": "structured", "schedule": "agp"}, "supports schedule .oneshot. only"),
])
def test_bad_prune_specs_name_the_value(changes, message):
    with pytest.raises(CompressError, match=message):
        PruneSpec(**changes)


def test_round_trip_through_dict():
    spec = PruneSpec(model="mlp", hidden="30,10", amount=0.8, schedule="agp", steps=5)
    d = spec.to_dict()
    assert d["kind"] == "prune" and d["hidden"] == [30, 10]
    assert spec_from_dict(d) == spec


def test_spec_from_dict_rejects_unknown_kinds_and_fields():
    with pytest.raises(CompressError, match="unknown run kind"):
        spec_from_dict({"kind": "compress-harder"})
    with pytest.raises(CompressError, match="unknown field"):
        spec_from_dict({"kind": "train", "model": "mlp", "colour": "red"})


def test_user_files_are_accepted_as_dataset_names():
    assert TrainSpec(model="mlp", dataset="/tmp/mine.csv").dataset.endswith(".csv")
    with pytest.raises(CompressError, match="epochs must be in"):
        TrainSpec(model="mlp", epochs=0)
