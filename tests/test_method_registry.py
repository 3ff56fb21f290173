"""The run-kind registry: every kind is described once and the API, CLI, sweeps and report read it."""
from dataclasses import dataclass
from typing import ClassVar

import pytest

from compress_core import api
from compress_core.cli import main as cli
from compress_core.errors import CompressError
from compress_core.methods import registry
from compress_core.methods.registry import Method, SweepParam, all_methods, get_method, method_for, spec_from_dict
from compress_core.present import plots
from compress_core.present.report import reproduce_command
from compress_core.results import RunResult
from compress_core.specs import BaseSpec, PruneSpec, TrainSpec

KINDS = [m.kind for m in all_methods()]


def test_the_lab_has_its_run_kinds_in_display_order():
    assert KINDS == ["train", "prune", "distill", "quantize", "pipeline", "deep-compression", "lottery", "plan"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_complete(kind):
    method = get_method(kind)
    assert method.spec.KIND == kind and callable(method.run)
    assert method.label and method.help and method.colour.startswith("#")
    assert plots.color_of(kind) == method.colour or kind in ("train", "prune")  # prune: coloured by criterion
    assert kind in cli.build_parser()._subparsers._group_actions[0].choices  # argparse keeps subparsers there
    for name, param in method.sweep.items():
        assert param.field in {f for f in method.spec.__dataclass_fields__}, (kind, name)
        assert param.example and param.help


def test_dispatch_is_on_the_spec_class():
    assert method_for(PruneSpec(amount=0.3)).kind == "prune"
    assert method_for(TrainSpec()).kind == "train"
    with pytest.raises(CompressError, match="unknown run kind 'compress-harder'; allowed: train, prune"):
        get_method("compress-harder")


def test_spec_from_dict_rejects_unknown_kinds_and_fields_with_the_allowed_ones():
    with pytest.raises(CompressError, match="allowed: train, prune, distill, quantize, pipeline"):
        spec_from_dict({"kind": "nope"})
    with pytest.raises(CompressError, match="unknown field"):
        spec_from_dict({"kind": "prune", "colour": "red"})


@dataclass(frozen=True)
class EchoSpec(BaseSpec):
    """A run kind added by a test, the way a new method module would add one."""

    KIND: ClassVar[str] = "echo"
    level: float = 0.5


def _run_echo(spec, ctx):
    return RunResult(id="", kind="echo", status="finished", spec=spec.to_dict(), metrics={"level": spec.level})


def _echo_args(p):
    p.add_argument("--level", type=float, default=0.5)
    p.add_argument("--json", action="store_true")


@pytest.fixture
def echo_method(monkeypatch):
    """Register the echo kind for one test and remove it afterwards."""
    registry.load_methods()
    monkeypatch.setattr(registry.METHODS, "_entries", dict(registry.METHODS._entries))
    monkeypatch.setattr(registry, "_BY_SPEC", dict(registry._BY_SPEC))
    return registry.register_method(Method(
        kind="echo", spec=EchoSpec, run=_run_echo, label="echo", colour="#123456", help="echo a level",
        add_arguments=_echo_args, spec_from_args=lambda args: EchoSpec(level=args.level),
        sweep={"level": SweepParam("level", "0.1,0.2", "any number")}, report_settings=("level",)))


def test_a_registered_kind_reaches_the_api_cli_sweeps_and_plots(echo_method, tmp_path):
    result = api.run({"kind": "echo", "level": 0.25}, home=tmp_path)
    assert result.kind == "echo" and result.metrics["level"] == 0.25 and result.id.startswith("r")
    args = cli.build_parser().parse_args(["echo", "--level", "0.75"])
    assert args.handler is not None
    assert "echo" in [m.kind for m in registry.sweep_methods()]
    assert plots.color_of("echo") == "#123456" and plots.METHOD_LABELS["echo"] == "echo"
    assert registry.report_settings("echo", {"level": 0.1}) == ["level"]
    assert reproduce_command({"kind": "echo", "level": 0.75}) == "python -m compress_core echo --level 0.75"


def test_a_method_whose_spec_kind_disagrees_is_refused():
    with pytest.raises(ValueError, match="KIND"):
        Method(kind="other", spec=EchoSpec, run=_run_echo, label="x", colour="#000000", help="x")


def test_api_run_ids_match_the_store_format(tmp_path):
    from compress_core.runs.store import RUN_ID_RE

    result = api.run({"kind": "train", "model": "mlp", "hidden": [8], "epochs": 1}, home=tmp_path)
    assert RUN_ID_RE.match(result.id)
