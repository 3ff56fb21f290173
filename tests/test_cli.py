import json
import subprocess
import sys

import pytest

from compress_core.cli.main import build_parser, main

REQUIRED_METRICS = {"accuracy", "loss", "baseline_accuracy", "params_total", "params_nonzero", "sparsity",
                    "compression_ratio", "flops_dense", "flops_effective", "theoretical_speedup", "size_fp32_bytes",
                    "size_sparse_bytes", "latency_ms_b1", "latency_ms_b64", "speedup_b64", "duration_s"}


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("argv, fragment", [
    (["prune", "--model", "vgg", "--amount", "0.5"], "unknown model 'vgg'; allowed: mlp, lenet300"),
    (["prune", "--model", "lenet300", "--amount", "1.5"], "amount must be in [0, 1); got 1.5"),
    (["prune", "--model", "lenet300", "--amount", "0.5", "--finetune-epochs", "-2"], "finetune_epochs must be in"),
    (["train", "--model", "lenet300", "--epochs", "-1"], "epochs must be in"),
    (["train", "--model", "lenet300", "--dataset", "missing.csv"], "file not found"),
    (["prune", "--model", "lenet300"], "--amount"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(argv, fragment, tmp_path, capsys):
    code = main([*argv, "--home", str(tmp_path)] if argv[0] != "frobnicate" else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "Traceback" not in err


def test_prune_json_through_a_real_process(lab_home):
    """The issue's contract, run as a user would: one JSON object with all the keys."""
    out = subprocess.run([sys.executable, "-m", "compress_core", "prune", "--model", "lenet300", "--dataset", "digits",
                          "--method", "l1", "--scope", "global", "--amount", "0.9", "--finetune-epochs", "3",
                          "--json", "--home", str(lab_home)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {"id", "kind", "status", "spec", "metrics", "layers", "history"} <= set(result)
    assert result["status"] == "finished" and result["kind"] == "prune"
    assert REQUIRED_METRICS <= set(result["metrics"])
    assert result["spec"]["amount"] == 0.9
    assert {"name", "params", "nonzero", "sparsity"} <= set(result["layers"][0])
    assert {"epoch", "test_accuracy", "train_loss"} <= set(result["history"][0])
    assert result["environment"]["threads"] >= 1

    # the run is recorded in the store and visible through `runs`
    assert main(["runs", "show", result["id"], "--json", "--home", str(lab_home)]) == 0


def test_runs_commands(lab_home, tmp_path, capsys):
    assert main(["train", "--model", "mlp", "--hidden", "16", "--epochs", "2", "--json", "--home", str(lab_home)]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["kind"] == "train" and run["metrics"]["accuracy"] > 0.5
    assert main(["runs", "list", "--json", "--kind", "train", "--home", str(lab_home)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert run["id"] in [r["id"] for r in listed]
    out_file = tmp_path / "runs.csv"
    assert main(["runs", "export", "--format", "csv", "--out", str(out_file), "--home", str(lab_home)]) == 0
    assert run["id"] in out_file.read_text()
    assert main(["runs", "delete", run["id"], "--home", str(lab_home)]) == 0
    capsys.readouterr()
    assert main(["runs", "show", run["id"], "--home", str(lab_home)]) == 2
    assert "no run" in capsys.readouterr().err
