"""The torch-free field table (`methods/spec_fields.py`) agrees with the spec classes, and `full_spec`
answers a complete stored spec without them exactly as it does with them."""
import json
from dataclasses import fields

from compress_core.methods import spec_fields
from compress_core.methods.registry import all_methods, spec_from_dict
from compress_core.present.report_groups import full_spec

# One spec per built-in kind with settings away from the defaults (a stored spec is its `to_dict()`, through JSON).
SPECS = {
    "train": {"model": "mlp", "hidden": [64, 32], "dataset": "digits", "epochs": 3, "device": "cpu"},
    "prune": {"model": "lenet300", "dataset": "digits", "method": "random", "scope": "layer", "amount": 0.8,
              "layer_amounts": {"net.1": 0.5}, "finetune_epochs": 1},
    "distill": {"model": "mlp", "hidden": [8], "dataset": "digits", "teacher": "lenet300", "temperature": 2.0},
    "quantize": {"model": "lenet300", "dataset": "digits", "scheme": "fake", "bits": 4, "granularity": "tensor"},
    "pipeline": {"model": "mlp", "hidden": [64], "dataset": "digits", "baseline_epochs": 3,
                 "steps": [{"kind": "prune", "method": "l1", "amount": 0.8, "finetune_epochs": 1},
                           {"kind": "quantize", "scheme": "fake", "bits": 4}]},
    "deep-compression": {"model": "lenet300", "dataset": "digits", "amount": 0.9, "conv_bits": 6, "fc_bits": 4},
    "lottery": {"model": "lenet300", "dataset": "digits", "rounds": 2, "rate": 0.3},
    "plan": {"model": "mlp", "hidden": [32], "dataset": "digits", "target_size": 20_000, "allow": ["prune"]},
}


def stored(kind: str) -> dict:
    """What the run store keeps for SPECS[kind]: the validated spec's `to_dict()`, as JSON."""
    return json.loads(json.dumps(spec_from_dict({"kind": kind, **SPECS[kind]}).to_dict()))


def test_the_table_lists_every_built_in_kind_and_its_fields_in_order():
    methods = {m.kind: m for m in all_methods()}
    assert set(spec_fields.OWN) == set(methods)  # a new method module needs its line in spec_fields.OWN
    for kind, m in methods.items():
        assert spec_fields.field_names(kind) == tuple(f.name for f in fields(m.spec)), kind
    assert spec_fields.field_names("no-such-kind") is None


def test_a_stored_spec_is_complete_and_rebuilding_it_gives_it_back():
    assert set(SPECS) == set(spec_fields.OWN)
    for kind in SPECS:
        spec = stored(kind)
        assert spec_fields.is_complete(spec), kind
        assert spec_from_dict(spec).to_dict() == spec == full_spec(spec), kind  # the fast path is the same answer


def test_incomplete_or_unknown_specs_take_the_spec_classes():
    short = {"kind": "prune", "model": "lenet300", "dataset": "digits", "amount": 0.7}  # an older version's record
    assert not spec_fields.is_complete(short)
    assert full_spec(short) == stored("prune") | {"method": "l1", "scope": "global", "amount": 0.7,
                                                 "layer_amounts": None, "finetune_epochs": 3}
    extra = {**stored("quantize"), "not_a_field": 1}
    assert not spec_fields.is_complete(extra) and full_spec(extra) == extra  # refused by the class: as stored
    assert not spec_fields.is_complete({"kind": "echo", "model": "mlp"}) and not spec_fields.is_complete({})
