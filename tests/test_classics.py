"""The lottery-ticket and distillation classics, the `classic` command, and the comparison and figure."""
from __future__ import annotations

import json

import pytest

from compress_core.classics.registry import all_classics, classic_spec, get_classic
from compress_core.classics.runs import classic_runs, latest_runs, one_per_seed
from compress_core.cli import main as cli
from compress_core.errors import CompressError
from compress_core.methods.registry import method_for
from compress_core.present.classics import compare_rows, comparison_text, lottery_figure, lottery_series, spread_table


def test_both_classics_are_registered_as_presets_of_ordinary_run_kinds():
    names = [c.name for c in all_classics()]
    assert {"lottery-ticket", "distillation"} <= set(names)
    lottery = classic_spec("lottery-ticket")
    assert method_for(lottery).kind == "lottery" and lottery.model == "lenet300"
    assert (lottery.rate, lottery.rounds, lottery.rewind_iteration, lottery.controls) == (0.2, 15, 0, True)
    assert (1 - lottery.rate) ** lottery.rounds == pytest.approx(0.035, abs=0.001), "down to the paper's 3.6 %"
    distill = classic_spec("distillation", seed=2)
    assert method_for(distill).kind == "distill" and distill.seed == 2
    assert (distill.train_fraction, distill.transfer, distill.teacher) == (0.1, "all", "lenet300")
    assert classic_spec("lottery-ticket", quick=True).rounds < lottery.rounds


def test_a_classic_refuses_models_the_paper_did_not_use():
    with pytest.raises(CompressError, match="reproduces the paper's models only: lenet300; got 'lenet5'"):
        classic_spec("lottery-ticket", model="lenet5")


def test_paper_rows_are_the_papers_numbers():
    rows = get_classic("distillation").paper_rows("mlp")
    assert [round(r["accuracy_pct"], 2) for r in rows] == [99.33, 98.54, 99.26, 0.72]  # 67, 146, 74 errors
    lottery = get_classic("lottery-ticket").paper_rows("lenet300")
    assert [(r["weights_pct"], r["verdict"]) for r in lottery] == [(21.1, ">= dense"), (3.6, ">= dense"),
                                                                    (21.1, "< dense")]


def test_compare_rows_gives_numeric_gaps_and_text_matches():
    paper = [{"stage": "a", "x": 1.0, "v": "up"}, {"stage": "b", "x": 2.0, "v": "up"}]
    ours = [{"stage": "b", "x": 2.5, "v": "down"}, {"stage": "a", "x": None, "v": "up"}, {"stage": "c", "x": 3.0}]
    rows = compare_rows(paper, ours)
    assert [r["stage"] for r in rows] == ["a", "b", "c"], "matched by label, extra rows of ours at the end"
    assert rows[0]["gap x"] is None and rows[0]["gap v"] == "same"
    assert rows[1]["gap x"] == pytest.approx(0.5) and rows[1]["gap v"] == "differs"
    assert rows[2]["paper x"] is None and rows[2]["ours x"] == 3.0
    text = comparison_text(rows)
    assert text.splitlines()[0].split()[:2] == ["stage", "paper"] and "0.50" in text


def _lottery_run(seed, dense, rows):
    return {"spec": {"seed": seed}, "metrics": {"baseline_accuracy": dense, "rounds": [
        {"round": i + 1, "remaining_fraction": f, "accuracy": a, "reinit_accuracy": r, "random_mask_accuracy": m}
        for i, (f, a, r, m) in enumerate(rows)]}}


def test_lottery_figure_shows_each_variant_with_its_seed_spread():
    runs = [_lottery_run(0, 0.97, [(0.8, 0.97, 0.95, 0.94), (0.64, 0.96, 0.92, 0.90)]),
            _lottery_run(1, 0.95, [(0.8, 0.99, 0.93, 0.92), (0.64, 0.98, 0.90, 0.88)])]
    fig = lottery_figure(runs)
    names = [t.name for t in fig.data]
    assert names == ["winning ticket (rewound)", "same mask, random re-init", "random mask, same sparsity"]
    ticket = fig.data[0]
    assert list(ticket.x) == [80.0, 64.0] and list(ticket.y) == pytest.approx([98.0, 97.0])
    assert list(ticket.error_y.array) == pytest.approx([1.0, 1.0]) and ticket.error_y.visible
    assert "2 seeds" in fig.layout.title.text and fig.layout.xaxis.type == "log"
    assert fig.layout.shapes, "the dense line and its seed band"
    table = spread_table(runs)
    assert table[0]["weights_pct"] == 80.0 and table[0]["ticket min"] == pytest.approx(97.0)
    assert lottery_series([])["variants"] == {}


def test_lottery_our_rows_read_the_nearest_round():
    run = _lottery_run(0, 0.97, [(0.5, 0.975, 0.95, 0.94), (0.2, 0.97, 0.90, 0.91), (0.04, 0.95, 0.80, 0.70)])
    rows = get_classic("lottery-ticket").our_rows(run)
    assert [r["weights_pct"] for r in rows] == pytest.approx([20.0, 4.0, 20.0])
    assert [r["verdict"] for r in rows] == [">= dense", "< dense", "< dense"]
    assert rows[2]["vs_dense_pp"] == pytest.approx(-7.0)


def test_classic_list_and_unknown_name(capsys):
    assert cli.main(["classic", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"lottery-ticket", "distillation"} <= {c["name"] for c in listed}
    assert cli.main(["classic", "nope"]) == 2
    assert "unknown classic 'nope'; allowed:" in capsys.readouterr().err
    assert cli.main(["classic", "lottery-ticket", "--model", "resnet"]) == 2
    assert "reproduces the paper's models only" in capsys.readouterr().err


def test_classic_quick_runs_through_the_store_and_compares(lab_home, capsys):
    assert cli.main(["classic", "lottery-ticket", "--quick", "--seed", "1", "--home", str(lab_home), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "lottery" and out["status"] == "finished" and out["spec"]["seed"] == 1
    for key in ("accuracy", "baseline_accuracy", "sparsity", "compression_ratio"):
        assert isinstance(out["metrics"][key], float)
    assert len(out["metrics"]["rounds"]) == 2
    classic = out["classic"]
    assert classic["name"] == "lottery-ticket" and classic["quick"] and classic["differs"]
    assert len(classic["comparison"]) == 3 and classic["comparison"][0]["paper weights_pct"] == 21.1
    assert classic["our_rows"][0]["weights_pct"] == pytest.approx(25.0, abs=0.5)
    # the store finds it as a quick run of the classic, not a full one
    assert classic_runs("lottery-ticket", lab_home) == []
    runs, quick = latest_runs("lottery-ticket", lab_home)
    assert quick and runs[0]["id"] == out["id"] and one_per_seed(runs + runs) == runs[:1]
    assert cli.main(["classic", "lottery-ticket", "--quick", "--home", str(lab_home)]) == 0
    text = capsys.readouterr().out
    assert "Lottery tickets (Frankle & Carbin 2019)" in text and "what differs:" in text
    assert "winning ticket" in text and "random re-init" in text
    runs, _ = latest_runs("lottery-ticket", lab_home)
    assert {r["spec"]["seed"] for r in one_per_seed(runs)} == {0, 1}


def test_classic_distillation_quick_reads_the_distill_run(lab_home, capsys):
    assert cli.main(["classic", "distillation", "--quick", "--home", str(lab_home), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "distill" and out["spec"]["transfer"] == "all" and out["spec"]["train_fraction"] == 0.1
    ours = {r["model"]: r["accuracy_pct"] for r in out["classic"]["our_rows"]}
    assert ours["distilled student"] == pytest.approx(100 * out["metrics"]["accuracy"])
    assert ours["gain of distillation (pp)"] == pytest.approx(100 * out["metrics"]["gain_vs_scratch"])
    gaps = {r["model"]: r["gap accuracy_pct"] for r in out["classic"]["comparison"]}
    assert gaps["teacher"] == pytest.approx(ours["teacher"] - 99.33)
