"""`streamlit run` with time marks at the server's milestones, for `profile_cold_start.py --breakdown`.

    COLD_MARKS=/tmp/marks.jsonl python benchmarks/cold_start_marks.py run app.py [streamlit options]

Behaves as `python -m streamlit run ...` but appends one JSON line per milestone to `$COLD_MARKS`
(`{"mark": name, "t": epoch seconds}`): the interpreter running this file, `import streamlit` done, the
runtime's component manifest scan (start/end), the runtime created, the server listening, each browser
session created (the websocket connected), each script run's start and end, the entry script's (`app`)
and the page script's (`page`) start and end inside it (`StreamlitPage.run`), the file watcher's module
walk after a run (`watch_update`, only with `server.fileWatcherType` not "none") and the warm-up
thread's end (`warmup_done`). The marks come from wrapping those Streamlit methods in this process only
(nothing in the app changes), so the breakdown measures the code a plain `streamlit run app.py` runs,
plus a few microseconds per mark.

`COLD_CPROFILE=file` also cProfiles the first script run. `COLD_WARM_AT_START=1` starts the lab's
warm-up thread (`ui/warmup.py`) when the server starts listening instead of after the first page:
what a lifespan hook (Streamlit's `st.App`) would allow, measured without restructuring app.py.
`COLD_NODELAY_AT_BIND=1` sets `TCP_NODELAY` on Streamlit's listening socket as soon as it is bound, before the
browser's first request (`ui/startup.nodelay_at_bind`; the app itself can only do it from its first script
run, `startup.disable_nagle`, after the first page's static files were served with Nagle on), and
`COLD_SKIP_SCAN=1` skips the component manifest scan (`startup.skip_component_scan`): with both, the server
starts as `python -m ui.serve` starts it.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

_T0 = time.time()
_PATH = os.environ.get("COLD_MARKS")
_LOCK = threading.Lock()


def mark(name: str, t: float | None = None, **fields) -> None:
    if not _PATH:
        return
    line = json.dumps({"mark": name, "t": time.time() if t is None else t, **fields})
    with _LOCK, open(_PATH, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def _wrap(owner, attribute: str, name: str, label=None) -> None:
    """Mark `name.start` and `name.end` around each call of `owner.attribute`."""
    original = getattr(owner, attribute)

    def wrapped(*args, **kwargs):
        extra = label(*args) if label else {}
        mark(f"{name}.start", **extra)
        try:
            return original(*args, **kwargs)
        finally:
            mark(f"{name}.end", **extra)

    setattr(owner, attribute, wrapped)


def _wrap_pages(page_class) -> None:
    """`app.start/end` around the entry script (Streamlit runs app.py as the outer page) and
    `page.start/end` around the page it opens (`pages.run()` inside it)."""
    original = page_class.run
    depth = threading.local()

    def run(page, *args, **kwargs):
        level = getattr(depth, "n", 0)
        name = "app" if level == 0 else "page"
        mark(f"{name}.start", page=page.url_path or "home")
        depth.n = level + 1
        try:
            return original(page, *args, **kwargs)
        finally:
            depth.n = level
            mark(f"{name}.end", page=page.url_path or "home")

    page_class.run = run


def _profile_first(owner, attribute: str, path: str) -> None:
    import cProfile

    original = getattr(owner, attribute)
    state = {"done": False}

    def profiled(*args, **kwargs):
        if state["done"]:
            return original(*args, **kwargs)
        state["done"] = True
        profiler = cProfile.Profile()
        try:
            return profiler.runcall(original, *args, **kwargs)
        finally:
            profiler.dump_stats(path)

    setattr(owner, attribute, profiled)


def install() -> None:
    mark("python", _T0)
    import streamlit  # noqa: F401  (what `python -m streamlit` imports first)

    mark("streamlit_imported")
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.navigation.page import StreamlitPage
    from streamlit.runtime.app_session import AppSession
    from streamlit.runtime.runtime import Runtime
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
    from streamlit.web import bootstrap

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the app's root, for `ui`
    from ui import startup

    if os.environ.get("COLD_NODELAY_AT_BIND") == "1":  # what `python -m ui.serve` does
        startup.nodelay_at_bind()
    if os.environ.get("COLD_SKIP_SCAN") == "1":  # the same; the marks then time the skipped scan (~0 ms)
        startup.skip_component_scan()
    _wrap(BidiComponentManager, "discover_and_register_components", "manifest_scan")
    _wrap(Runtime, "__init__", "runtime_init")
    _wrap(AppSession, "__init__", "session_init")
    _wrap(ScriptRunner, "_run_script", "script")
    if os.environ.get("COLD_CPROFILE"):  # cProfile the first script run into this file (pstats format)
        _profile_first(ScriptRunner, "_run_script", os.environ["COLD_CPROFILE"])
    _wrap_pages(StreamlitPage)
    from streamlit.watcher.local_sources_watcher import LocalSourcesWatcher

    _wrap(LocalSourcesWatcher, "update_watched_modules", "watch_update")  # only with file watching on
    original_on_start = bootstrap._on_server_start

    def on_start(server):
        mark("server_listening")
        from ui import warmup  # cheap (no work at import); the app imports the same module later

        threading.Thread(target=lambda: warmup.done.wait() and mark("warmup_done"), daemon=True).start()
        if os.environ.get("COLD_WARM_AT_START") == "1":  # the experiment st.App's lifespan hook would allow
            warmup.start()
        return original_on_start(server)

    bootstrap._on_server_start = on_start


if __name__ == "__main__":
    install()
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    sys.exit(cli.main())
