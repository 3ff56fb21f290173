"""The stakeholder report: built from real runs, self-contained, escaped, reproducible."""
from __future__ import annotations

import json
import re
import shlex
from html.parser import HTMLParser

import pytest

from compress_core.cli import main as cli
from compress_core.methods.registry import get_method

from compress_core.runs import jobs
from compress_core.present.report import build_report, full_spec, report_runs, reproduce_command, trade_off

SPECS = [
    {"kind": "train", "model": "mlp", "hidden": [32], "dataset": "digits", "epochs": 2},
    {"kind": "prune", "model": "mlp", "hidden": [32], "dataset": "digits", "amount": 0.8, "baseline_epochs": 2,
     "finetune_epochs": 1},
    {"kind": "prune", "model": "mlp", "hidden": [32], "dataset": "digits", "amount": 0.5, "method": "structured",
     "baseline_epochs": 2, "finetune_epochs": 1},
    {"kind": "quantize", "model": "mlp", "hidden": [32], "dataset": "digits", "scheme": "fake", "bits": 4,
     "granularity": "tensor", "baseline_epochs": 2},
    {"kind": "distill", "model": "mlp", "hidden": [8], "teacher": "mlp", "teacher_hidden": [32], "teacher_epochs": 2,
     "dataset": "digits", "epochs": 1, "temperature": 2.0, "scratch": False},
]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.external, self.text = 0, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if (tag == "script" and "src" in attrs) or (tag == "link" and "href" in attrs):
            self.external.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("report_home")


@pytest.fixture(scope="module")
def runs(home):
    ids = [jobs.record_foreground(spec, home=home)["id"] for spec in SPECS]
    return [jobs.get(i, home) for i in ids]


def test_report_is_self_contained_and_names_every_run(runs):
    page = build_report(runs, title="Q3 <review>")
    parser = _Tags()
    parser.feed(page)
    parser.close()
    text = "".join(parser.text)
    assert all(run["id"] in text for run in runs)
    assert parser.external == [] and not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert page.count('id="pareto-0"') == 1 and "Plotly.newPlot" in page
    assert len(re.findall(r"^\* plotly\.js v", page, re.M)) == 1  # the library is embedded exactly once
    assert "Q3 &lt;review&gt;" in page and "<review>" not in page
    for heading in ("Best trade-offs", "Runs by method", "Baselines", "How the figures were measured",
                    "Reproduce every run"):
        assert heading in text
    assert "threads" in text and runs[0]["environment"]["torch"] in text


def test_same_runs_same_file(runs):
    assert build_report(runs) == build_report(list(reversed(runs)))


def test_user_text_is_escaped(runs):
    evil = {**runs[1], "notes": ["<script>alert(1)</script>"],
            "spec": {**runs[1]["spec"], "dataset": "<img src=x onerror=alert(1)>.csv"}}
    page = build_report([evil])
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page


def test_trade_off_sentence(runs):
    assert re.fullmatch(r"\d+\.\d× smaller, .+, [+-]\d+\.\d points accuracy \(.+\)", trade_off(runs[1]))


def test_reproduce_command_gives_the_same_spec(runs, home, capsys):
    for run in runs:
        argv = shlex.split(reproduce_command(run["spec"]))
        assert argv[:3] == ["python", "-m", "compress_core"], argv
        args = cli.build_parser().parse_args(argv[3:])
        assert get_method(run["kind"]).spec_from_args(args).to_dict() == full_spec(run["spec"])
    # and running it records a run with that very spec
    argv = shlex.split(reproduce_command(runs[1]["spec"]))[3:]
    assert cli.main([*argv, "--home", str(home), "--json"]) == 0
    assert full_spec(json.loads(capsys.readouterr().out)["spec"]) == full_spec(runs[1]["spec"])


def test_spec_without_an_option_falls_back_to_python():
    command = reproduce_command({**SPECS[1], "lr": 0.01})  # no command-line option sets lr
    assert command.startswith("python -c ") and '"lr":0.01' in command


def test_cli_report_matches_build_report(runs, home, tmp_path, capsys):
    out = tmp_path / "report.html"
    ids = ",".join(r["id"] for r in runs[:2])
    assert cli.main(["report", "--runs", ids, "--out", str(out), "--home", str(home)]) == 0
    assert out.read_text(encoding="utf-8") == build_report(runs[:2])
    assert cli.main(["report", "--out", str(out), "--home", str(home)]) == 0
    assert out.read_text(encoding="utf-8") == build_report(report_runs(home))
    capsys.readouterr()
    assert cli.main(["report", "--runs", "r20250101-120000-0a1b2c3d", "--out", str(out), "--home", str(home)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no run with id 'r20250101-120000-0a1b2c3d'" in err


def test_runs_record_non_zero_flops_that_agree_with_the_density_scaled_count(runs):
    from compress_core.present.report_groups import flops_figures

    pruned = runs[1]["metrics"]  # 80 % of the weights masked
    assert pruned["flops_nonzero"] < 0.5 * pruned["flops_dense"]
    assert pruned["flops_nonzero"] == pruned["flops_effective"]  # two independent counts of the same thing
    figures = flops_figures(runs[1])
    assert figures["flops_dense"] == runs[1]["baseline"]["flops_dense"]
    assert figures["theoretical_speedup"] == pytest.approx(pruned["theoretical_speedup"])
    page = build_report(runs[:2])
    assert "theoretical speed-up (FLOPs)" in page and "dense FLOPs" in page
