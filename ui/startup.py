"""Start-up tweaks for the first page a fresh server draws (issue 19: cold start to Home <= 1.5 s).

Streamlit checks, on the first element any script sends in a process, whether it runs in a Python
REPL (`delta_generator._maybe_print_use_warning` → `env_util.is_repl()`), only to print a "use
`streamlit run`" warning. The check calls `inspect.stack()`, which reads the source of every frame
and resolves every loaded module's file: 0.18 s of the 0.28 s that Home's first script run took
(cProfile of the first run, `benchmarks/cold_start_marks.py` with `COLD_CPROFILE`), on the critical
path of every cold start. Under `streamlit run` the warning can never apply (the runtime exists), so
`skip_repl_check` marks it as already shown. Streamlit-internal: if a later Streamlit drops the flag,
nothing breaks (the check simply runs again); `tests/test_startup.py` notices.
"""
from __future__ import annotations


def skip_repl_check() -> bool:
    """Mark Streamlit's once-per-process REPL warning as shown; returns whether the flag existed."""
    from streamlit import delta_generator

    if not hasattr(delta_generator, "_use_warning_has_been_displayed"):
        return False
    delta_generator._use_warning_has_been_displayed = True
    return True
