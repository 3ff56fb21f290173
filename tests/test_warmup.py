"""The background warm-up (`ui/warmup.py`) fills the shared caches the preview pages read first,
and never trains anything itself."""
from compress_core.context import RunContext
from compress_core.models.zoo import prunable_layers
from compress_core.runs import jobs
from compress_core.specs import PruneSpec
from compress_core.training.baseline import get_baseline
from ui import common, preview_cache, warmup


def test_warm_up_loads_the_default_baseline_into_the_pages_shared_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_HOME", str(tmp_path))
    spec = PruneSpec()
    assert warmup.warm_default_baseline() is False  # nothing on disk: nothing trained, nothing queued
    assert jobs.open_store(tmp_path).list_runs() == []
    get_baseline(spec.baseline_spec(), RunContext.create(home=tmp_path))  # a prepared lab
    assert warmup.warm_default_baseline() is True
    base = common.cached_baseline(spec.baseline_spec())
    assert base is common.baseline(spec.baseline_spec(), "t")  # the object the pages get: loaded once, shared
    edges, counts = common.baseline_weights(base.info["key"], base.model)
    assert counts.sum() == sum(p.numel() for p in base.model.parameters() if p.dim() > 1)
    calls = []
    monkeypatch.setattr(preview_cache.preview, "prune_preview", lambda *a, **k: calls.append(a))
    cached = preview_cache.prune(preview_cache.key_of(base), base, spec.method, spec.scope, spec.amount, spec.seed,
                                 edges)
    assert calls == [] and 0.45 < cached["sparsity"] < 0.55  # the default preview was computed by the warm-up
    monkeypatch.setattr(preview_cache.preview, "quantize_preview", lambda *a, **k: calls.append(a))
    layer = prunable_layers(base.model)[0][0]
    grid, pending = preview_cache.quantize_progressive(preview_cache.key_of(base), base, layer, 4, "channel", 0)
    assert calls == [] and pending is None and len(grid["levels"]) == 15  # the Quantize page's first preview too


WARM_IN_ORDER = """
import json, sys
from ui import warmup
warmup.start()
warmup.done.wait(600)
print(json.dumps({"timings": list(warmup.timings), "learn": all(m in sys.modules for m in warmup.LATER_MODULES),
                  "sklearn": "sklearn" in sys.modules}))
"""


def test_warm_up_runs_in_the_order_the_next_visits_need(tmp_path):
    """Imports, then the shared baseline and its preview, then the Learn page's modules (the attention lesson's
    text split imports scikit-learn: 0.9 s of a Learn visit otherwise), then the settle step."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    get_baseline(PruneSpec().baseline_spec(), RunContext.create(home=tmp_path))
    env = {**os.environ, "COMPRESS_LAB_HOME": str(tmp_path), "COMPRESS_LAB_WARMUP_DELAY": "0",
           "PYTHONPATH": str(root)}
    env.pop("COMPRESS_LAB_WARMUP", None)
    env.pop("COMPRESS_LAB_DATA_DIR", None)
    done = subprocess.run([sys.executable, "-c", WARM_IN_ORDER], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"timings": ["imports", "baseline", "learn", "settled"], "learn": True, "sklearn": True}
    line = [x for x in done.stderr.splitlines() if x.startswith(warmup.DONE_LINE)]  # what bench_ui --after-warmup reads
    assert len(line) == 1 and list(json.loads(line[0][len(warmup.DONE_LINE):])) == out["timings"]


SETTLE = """
import gc, inspect, json, sys
from ui import warmup  # app.py imports it before Streamlit's first look-up
inspect.getmodule(sys._getframe())  # as Streamlit's start-up does: inspect now knows the files loaded so far
import plotly.graph_objects  # loaded after it (the warm-up imports torch and more after Home's first look-up)
warmup.settle()
file = inspect.getabsfile(plotly.graph_objects)
print(json.dumps({"indexed": inspect.modulesbyfile.get(file), "frozen": gc.get_freeze_count()}))
"""


def test_settle_indexes_modules_loaded_late_and_freezes_unless_told_not_to():
    """A first chart's `declare_component` then finds its module without walking sys.modules; the objects alive
    after the warm-up leave the collector's work (`COMPRESS_LAB_GC_FREEZE=0`: they stay)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for freeze, frozen in (("1", True), ("0", False)):
        env = {**os.environ, "PYTHONPATH": str(root), "COMPRESS_LAB_GC_FREEZE": freeze}
        done = subprocess.run([sys.executable, "-c", SETTLE], cwd=root, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["indexed"] == "plotly.graph_objects"
        assert (out["frozen"] > 0) is frozen


def test_collections_are_logged_when_asked(tmp_path):
    import gc
    import json

    path = tmp_path / "gc.jsonl"
    timer = warmup.log_collections(str(path))
    try:
        gc.collect()  # a full collection
    finally:
        gc.callbacks.remove(timer)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["gen"] for x in lines] == [2] and lines[0]["ms"] >= 0


def test_a_stage_waits_while_a_preview_is_moving_and_gives_up_after_the_limit(monkeypatch):
    """The warm-up's stages after the imports hold the GIL for 0.2-1.6 s: each starts only once no preview fragment
    has run for QUIET_S (or, with a visitor who never pauses, after QUIET_MAX_S)."""
    import threading

    from ui import profile

    monkeypatch.setattr(warmup, "_last_activity", [float("-inf")])
    assert warmup.wait_for_quiet(quiet_s=0.3, max_s=5) < 0.05  # nobody is moving anything: no wait

    @profile.timed("test-preview")
    def preview_fragment():
        return "drawn"

    assert preview_fragment() == "drawn"  # a preview ran now (profile.timed tells the warm-up, LAB_PROFILE or not)
    assert 0.2 <= warmup.wait_for_quiet(quiet_s=0.3, max_s=5) < 5

    moving = threading.Event()

    def visitor():  # a preview every 50 ms until told to stop
        while not moving.wait(0.05):
            preview_fragment()

    preview_fragment()
    thread = threading.Thread(target=visitor, daemon=True)
    thread.start()
    try:
        assert 0.5 <= warmup.wait_for_quiet(quiet_s=0.3, max_s=0.6) < 3  # never quiet: proceeds after max_s
    finally:
        moving.set()
        thread.join()
