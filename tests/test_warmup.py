"""The background warm-up (`ui/warmup.py`) fills the shared caches the preview pages read first,
and never trains anything itself."""
from compress_core.context import RunContext
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
