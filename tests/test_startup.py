"""Start-up tweaks (`ui/startup.py`) and settings (`.streamlit/config.toml`) that shorten a cold start.

`skip_repl_check` spares the first element of a fresh server Streamlit's REPL check
(`inspect.stack()`, 0.18 s); if a Streamlit upgrade renames the flag it relies on, the first test fails
and says so. The config keeps file watching off (a LocalSourcesWatcher per session walks sys.modules
after script runs).
"""
import tomllib
from pathlib import Path

from streamlit import delta_generator, env_util

from ui import startup

ROOT = Path(__file__).resolve().parents[1]


def test_repl_check_is_skipped_on_the_first_element(monkeypatch):
    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    calls = []
    monkeypatch.setattr(env_util, "is_repl", lambda: calls.append(1) or False)
    assert startup.skip_repl_check() is True  # the flag still exists in this Streamlit
    delta_generator._maybe_print_use_warning()
    assert calls == []  # no inspect.stack() walk
    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    delta_generator._maybe_print_use_warning()
    assert calls == [1]  # without the tweak Streamlit would have run it


def test_file_watching_is_off_and_run_on_save_stays_off():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none" and config["server"]["runOnSave"] is False
