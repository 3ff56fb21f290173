"""End to end in Chromium: the Learn page with its lessons, and the Report page's download opened as a file.

The dashboard runs on a home of its own that holds finished runs, the first of them the
training of the Learn page's model (so the page draws at once). Screenshots go to
test-output/screenshots/ (look at them after a UI change).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from compress_core.cli import main as cli

from compress_core.runs import jobs

from compress_core.present import teach
from compress_core.methods.quantize import QuantizeSpec
from compress_core.present.report import build_report, report_runs
from compress_core.specs import PruneSpec

from test_browser import no_exception, open_page, settle, shot  # the other browser test's page helpers

SPECS = [teach.TEACHING_SPEC, PruneSpec(amount=0.8, finetune_epochs=1), QuantizeSpec(scheme="fake", bits=4)]


@pytest.fixture(scope="module")
def lab(request, browser, tmp_path_factory):
    """(URL, home) of a dashboard whose home holds finished runs; started with conftest.py's helpers."""
    server = request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    home = tmp_path_factory.mktemp("learn_report_home")
    for spec in SPECS:  # the prune and quantize runs start from the lesson model's cached weights
        assert jobs.record_foreground(spec.to_dict(), home=home)["status"] == "finished"
    port = server.free_port()
    process = server.start_app(home, port, home / "streamlit.log")
    url = f"http://localhost:{port}"
    try:
        server.wait_healthy(url, process)
        yield url, home
    finally:
        server.stop_app(process, home)


def test_learn_page_lessons(lab, page, screenshots):
    url, _ = lab
    open_page(page, f"{url}/learn", "Learn")
    page.locator(".st-key-learn_prune_units .main-svg").first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    shot(page, screenshots, "09_learn_pruning")
    for tab, chart, name in (("Structured pruning", "learn_struct_speed", "09_learn_structured"),("Distillation", "learn_kd_similarity", "10_learn_distillation"),
                             ("Quantization", "learn_q_levels", "11_learn_quantization")):
        page.get_by_role("tab", name=tab).click()
        page.locator(f".st-key-{chart} .main-svg").first.wait_for(timeout=30_000)
        settle(page)
        no_exception(page)
        shot(page, screenshots, name)
    page.locator(".st-key-learn_q_try button").click()  # "try it": the Quantize page opens with 3 bits preset
    page.get_by_role("heading", name="Quantize", exact=True).wait_for(timeout=30_000)
    page.locator(".st-key-quantize_preview_grid .main-svg").first.wait_for(timeout=60_000)
    assert page.locator(".st-key-quantize_bits input[type='range']").input_value() == "3"
    no_exception(page)


def test_report_download_is_the_cli_file(lab, browser, screenshots, tmp_path):
    url, home = lab
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    try:
        tab = context.new_page()
        open_page(tab, f"{url}/report", "Report")
        tab.locator(".st-key-report_build button").click()
        button = tab.locator(".st-key-report_download button")
        button.wait_for(timeout=60_000)
        settle(tab)
        no_exception(tab)
        shot(tab, screenshots, "12_report_page")
        with tab.expect_download() as download:
            button.click()
        saved = tmp_path / "downloaded.html"
        download.value.save_as(saved)
        out = tmp_path / "cli.html"
        assert cli.main(["report", "--home", str(home), "--out", str(out)]) == 0
        assert saved.read_bytes() == out.read_bytes() == build_report(report_runs(home)).encode("utf-8")

        tab.goto(saved.as_uri())  # the file alone, as a stakeholder opens it
        tab.locator("#pareto-0 .main-svg").first.wait_for(timeout=30_000)
        assert tab.get_by_role("heading", name="Best trade-offs").count() == 1
        tab.wait_for_timeout(500)
        tab.screenshot(path=str(screenshots / "13_report_file.png"), full_page=True)
    finally:
        context.close()
