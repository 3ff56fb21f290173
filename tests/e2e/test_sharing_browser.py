"""End to end in Chromium: a shared lab (`COMPRESS_LAB_SHARED=1`) as a viewer and as an operator, and permalinks.

The server runs in shared mode with an operator password from its environment, on a home
that already holds one finished run made through the engine (the same path as the CLI).
A viewer sees the run but its Cancel/Delete are disabled and the one viewer line says why;
a wrong password is refused in one line; the right one turns the visitor into an operator
whose Delete is enabled. `runs?run=ID` opens that run; an unknown id gets one line.
Screenshots go to the test's tmp folder and to test-output/screenshots/.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from compress_core.runs import jobs
from compress_core.specs import TrainSpec

from test_browser import no_exception, open_page, settle, shot  # the other browser tests' helpers

PASSWORD = "correct horse battery staple"
VIEWER_TEXT = "This lab is shared: viewers can look at runs"


@pytest.fixture(scope="module")
def shared_lab(request, browser, tmp_path_factory):
    """(URL, run id) of a shared-mode dashboard whose home holds two finished training runs; the id is the older
    one, which the Runs page does not pick by itself (it picks the newest), so a link that opens it is tested."""
    server = request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    home = tmp_path_factory.mktemp("shared_home")
    result = jobs.record_foreground(TrainSpec(epochs=1).to_dict(), home=home)
    assert result["status"] == "finished"
    assert jobs.record_foreground(TrainSpec(epochs=2).to_dict(), home=home)["status"] == "finished"
    port = server.free_port()
    process = server.start_app(home, port, home / "streamlit.log",
                               env={"COMPRESS_LAB_SHARED": "1", "COMPRESS_LAB_OPERATOR_PASSWORD": PASSWORD})
    url = f"http://localhost:{port}"
    try:
        server.wait_healthy(url, process)
        yield url, result["id"]
    finally:
        server.stop_app(process, home)


def keep(page, tmp_path: Path, screenshots: Path, name: str) -> Path:
    """A full-page screenshot in the test's tmp folder, copied beside the other browser tests' screenshots."""
    shot(page, tmp_path, name)
    shutil.copy(tmp_path / f"{name}.png", screenshots / f"{name}.png")
    return tmp_path / f"{name}.png"


def button(page, key: str):
    """The button of widget `key` (a button with help= nests its button in a tooltip wrapper: take the first)."""
    return page.locator(f".st-key-{key} button").first


def sign_in(page, password: str) -> None:
    box = page.locator(".st-key-access_password input")
    box.fill(password)
    box.press("Enter")  # commits the text input's value before the click
    settle(page)
    button(page, "access_sign_in").click()
    settle(page)


def test_viewer_has_no_controls_until_the_operator_signs_in(shared_lab, page, screenshots, tmp_path):
    url, run_id = shared_lab
    open_page(page, f"{url}/runs?run={run_id}", "Runs")
    settle(page)
    no_exception(page)
    assert page.get_by_text("Viewer: shared lab").count() == 1
    assert button(page, "runs_delete").is_disabled()
    assert button(page, "runs_cancel").is_disabled()
    assert page.get_by_text(VIEWER_TEXT).count() >= 1
    keep(page, tmp_path, screenshots, "20_shared_viewer_runs")

    open_page(page, f"{url}/prune", "Prune")  # no run button for a viewer: disabled, or not drawn at all
    settle(page)
    no_exception(page)
    run_button = page.locator(".st-key-prune_run button")
    assert run_button.count() == 0 or run_button.first.is_disabled()
    assert page.get_by_text(VIEWER_TEXT).count() >= 1

    open_page(page, f"{url}/runs?run={run_id}", "Runs")
    settle(page)
    sign_in(page, "not the password")
    errors = page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]')
    assert errors.count() == 1 and errors.first.inner_text().strip() == "Wrong password."
    assert button(page, "runs_delete").is_disabled()
    keep(page, tmp_path, screenshots, "21_shared_wrong_password")

    sign_in(page, PASSWORD)
    button(page, "access_sign_out").wait_for(timeout=15_000)
    # retried until the sign-in's rerun has settled: while it runs, the old sidebar element can still be on the page
    expect(page.locator('[data-testid="stSidebar"]').get_by_text("Operator")).to_have_count(1, timeout=15_000)
    no_exception(page)
    assert page.get_by_text("Viewer: shared lab").count() == 0
    assert button(page, "runs_delete").is_enabled()  # a finished run: Delete allowed
    assert page.get_by_text(VIEWER_TEXT).count() == 0
    keep(page, tmp_path, screenshots, "22_shared_operator_runs")


def test_run_permalink_opens_the_run_and_an_unknown_id_gets_one_line(shared_lab, page, screenshots, tmp_path):
    url, run_id = shared_lab
    open_page(page, f"{url}/runs?run={run_id}", "Runs")
    settle(page)
    no_exception(page)
    assert run_id in page.locator(".st-key-runs_selected input").input_value()
    assert page.get_by_text(f"runs?run={run_id}").count() >= 1  # the page's own link, to copy
    keep(page, tmp_path, screenshots, "23_permalink_run")

    unknown = "r20000101-000000-deadbeef"
    open_page(page, f"{url}/runs?run={unknown}", "Runs")
    settle(page)
    no_exception(page)
    assert run_id not in page.locator(".st-key-runs_selected input").input_value()  # the newest run, as without a link
    warning = page.locator('[data-testid="stMain"] [data-testid="stAlert"]', has_text="does not have")
    assert warning.count() == 1
    assert unknown in warning.inner_text() and len(warning.inner_text().strip().splitlines()) == 1
    keep(page, tmp_path, screenshots, "24_permalink_unknown")
