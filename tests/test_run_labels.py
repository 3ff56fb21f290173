"""The torch-free label table (`methods/labels.py`) agrees with the registries it stands in for,
and the pages that only list runs draw them without importing torch.

Home and Runs read labels, colours, settings and pages of the built-in run kinds from that table
so a cold server shows its run list without importing every method module (and torch, ~1 s).
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from compress_core.explore.explain import explainable
from compress_core.methods import half_precision, labels
from compress_core.methods.criteria import criteria
from compress_core.methods.registry import all_methods, describe
from compress_core.present import plots
from apptest_helpers import markdown_columns

ROOT = Path(__file__).resolve().parents[1]

SPECS = {  # one spec dict per built-in kind, with the fields its description reads
    "train": [{"epochs": 3}, {}],
    "prune": [{"amount": 0.9, "scope": "global", "schedule": "oneshot", "finetune_epochs": 2},
              {"method": "structured", "amount": 0.5, "finetune_epochs": 1},
              {"pattern": "2:4", "method": "l1", "finetune_epochs": 0}, {"layer_amounts": {"a": 0.5}}],
    "distill": [{"teacher": "lenet300", "temperature": 4.0, "alpha": 0.5, "train_fraction": 0.1, "epochs": 3},
                {"teacher": "mlp"}],
    "quantize": [{"scheme": "fake", "bits": 4, "granularity": "channel"}, {"scheme": "int8"}, {"scheme": "bf16"}],
    "pipeline": [{"steps": [{"kind": "prune"}, {"kind": "quantize"}]}],
    "deep-compression": [{"amount": 0.9, "conv_bits": 8, "fc_bits": 5}, {"layer_amounts": {"x": 0.1}}],
    "lottery": [{"rounds": 3, "rate": 0.2, "rewind_iteration": 10}],
    "plan": [{"target_size": 20000, "allow": ["prune", "quantize"], "finetune_epochs": 1},
             {"target_flops": 1e6, "allow": ["prune"]}, {"target_latency_ms": 0.5, "batch": 1}],
}


def test_every_built_in_kind_has_the_label_colour_order_and_page_it_registers():
    methods = {m.kind: m for m in all_methods()}
    assert set(labels.KINDS) == set(methods)  # a new method module needs its line in labels.KINDS
    for kind, m in methods.items():
        known = labels.KINDS[kind]
        assert (known.label, known.colour, known.order, known.page) == (m.label, m.colour, m.order, m.page), kind
        assert m.describe is known.describe, kind  # one copy of each description
        assert known.has_baseline == (hasattr(m.spec, "baseline_spec") or hasattr(m.spec, "teacher_spec")), kind


def test_descriptions_and_explainability_match_the_registry_and_explain():
    assert set(SPECS) == set(labels.KINDS)
    for kind, specs in SPECS.items():
        for spec in specs:
            assert labels.describe(kind, spec) == describe(kind, spec) != ""
        for status in ("finished", "failed"):
            run = {"kind": kind, "status": status, "spec": specs[0]}
            assert labels.explainable(run) == explainable(run), (kind, status)
    assert labels.describe("no-such-kind", {}) is None and labels.explainable({"kind": "x"}) is None
    assert describe("no-such-kind", {}) == ""  # the registry still answers unknown kinds


def test_criteria_and_figure_styles_match_the_registries():
    assert list(labels.CRITERIA.items()) == [(c.name, (c.colour, c.label)) for c in criteria()]
    assert list(labels.styles().items()) == list(plots._styles().items())  # same keys, values and order
    assert labels.HALF_SCHEMES == half_precision.HALF_SCHEMES
    for key, (colour, label) in plots._styles().items():
        assert plots.color_of(key) == colour and plots.label_of(key) == label == labels.method_label(key)
    assert labels.method_label("echo") is None and plots.label_of("echo") == "echo"


LIST_PAGES = textwrap.dedent("""
    import json, sys
    from compress_core.runs.store import RunStore
    store = RunStore(sys.argv[1])
    specs = json.loads(sys.argv[2])
    for kind, spec in specs.items():
        run_id = store.create_run(kind, {"kind": kind, "model": "lenet300", "dataset": "digits", **spec},
                                  status="running")
        store.finish(run_id, {"metrics": {"accuracy": 0.9, "baseline_accuracy": 0.95, "accuracy_change": -0.05,
                                          "size_bytes": 1000, "size_form": "fp32"}})
    from streamlit.testing.v1 import AppTest
    out = {}
    for page in ("pages/home.py", "pages/runs.py"):
        at = AppTest.from_file(sys.argv[3], default_timeout=120)
        if page != "pages/home.py":
            at.switch_page(page)
        at.run()
        out[page] = {"exceptions": [e.message for e in at.exception], "errors": [e.value for e in at.error],
                     "tables": [df.value.to_dict("list") for df in at.dataframe],
                     "markdown_tables": [m.value for m in at.markdown if m.value.startswith("| run |")],
                     "pandas": "pandas" in sys.modules}
    out["torch"] = "torch" in sys.modules
    print(json.dumps(out, default=str))
""")


def test_home_and_runs_list_runs_of_every_kind_without_importing_torch(tmp_path):
    specs = {kind: SPECS[kind][0] for kind in SPECS}
    env = {**os.environ, "COMPRESS_LAB_HOME": str(tmp_path), "COMPRESS_LAB_WARMUP": "0"}
    done = subprocess.run([sys.executable, "-c", LIST_PAGES, str(tmp_path), json.dumps(specs), str(ROOT / "app.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    for page in ("pages/home.py", "pages/runs.py"):
        assert out[page]["exceptions"] == [] and out[page]["errors"] == [], out[page]
    home_table = markdown_columns(out["pages/home.py"]["markdown_tables"][0])
    assert sorted(home_table["method"]) == sorted(plots.label_of(plots.method_of(k, s)) for k, s in specs.items())
    assert sorted(home_table["setting"]) == sorted(describe(k, s) for k, s in specs.items())
    runs_table = out["pages/runs.py"]["tables"][0]
    assert sorted(runs_table["method"]) == sorted(home_table["method"])  # the Runs page's grid names them alike
    assert out["pages/home.py"]["pandas"] is False  # Home's static table: no pandas (0.5 s of a cold start)
    assert out["torch"] is False  # nothing on either page imported torch



EMPTY_HOME = textwrap.dedent("""
    import json, sys
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(sys.argv[1], default_timeout=120)
    at.run()
    print(json.dumps({"exceptions": [e.message for e in at.exception], "info": [i.value for i in at.info],
                      "pandas": "pandas" in sys.modules, "torch": "torch" in sys.modules}))
""")


def test_home_of_an_empty_lab_draws_without_pandas_or_torch(tmp_path):
    env = {**os.environ, "COMPRESS_LAB_HOME": str(tmp_path), "COMPRESS_LAB_WARMUP": "0"}
    done = subprocess.run([sys.executable, "-c", EMPTY_HOME, str(ROOT / "app.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["exceptions"] == [] and any("No runs yet" in i for i in out["info"])
    assert out["pandas"] is False and out["torch"] is False  # ~0.3 s and ~1 s less of a cold start
