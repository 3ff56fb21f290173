"""End to end in Chromium: lecture mode on the Learn page (a shared ?lecture=1 link, Next, the section in the
URL) and the figure downloads (one figure as SVG, a lesson's figures as a zip), as a browser gets them.

Screenshots (1280 x 800, the view a projector shows) go to test-output/screenshots/.
"""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from compress_core.runs import jobs

from compress_core.present import figure_export, teach

from test_browser import no_exception, settle

needs_renderer = pytest.mark.skipif(figure_export.renderer_problem() is not None,
                                    reason=f"no figure renderer here: {figure_export.renderer_problem()}")


@pytest.fixture(scope="module")
def lab(request, browser, tmp_path_factory):
    """URL of a dashboard whose home holds the Learn page's trained model (so the page draws at once)."""
    server = request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    home = tmp_path_factory.mktemp("lecture_home")
    assert jobs.record_foreground(teach.TEACHING_SPEC.to_dict(), home=home)["status"] == "finished"
    port = server.free_port()
    process = server.start_app(home, port, home / "streamlit.log")
    url = f"http://localhost:{port}"
    try:
        server.wait_healthy(url, process)
        yield url
    finally:
        server.stop_app(process, home)


@pytest.fixture
def projector(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def chart(page, key: str):
    page.locator(f".st-key-{key} .main-svg").first.wait_for(timeout=60_000)


def test_lecture_link_pages_one_section_at_a_time(lab, projector, screenshots):
    page = projector
    page.goto(f"{lab}/learn?lecture=1")
    chart(page, "learn_prune_units")
    settle(page)
    no_exception(page)
    page.screenshot(path=str(screenshots / "30_lecture_pruning.png"))
    assert page.locator(".st-key-learn_struct_speed").count() == 0  # one section per screen
    assert page.get_by_role("tab").count() == 0
    assert not page.get_by_role("heading", name="Learn", exact=True).is_visible()  # the screen starts at the section
    assert page.locator(".st-key-learn_prune_try").count() == 0  # secondary controls hidden
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "22px"
    page.locator(".st-key-learn_lecture_next button").click()
    chart(page, "learn_struct_speed")
    settle(page)
    no_exception(page)
    assert page.locator(".st-key-learn_prune_units").count() == 0
    assert "lecture=1" in page.url and "section=2" in page.url  # this slide's link
    page.screenshot(path=str(screenshots / "31_lecture_structured.png"))
    page.goto(page.url)  # the link opens the same slide in a new session
    chart(page, "learn_struct_speed")
    settle(page)
    assert page.locator(".st-key-learn_prune_units").count() == 0


def test_normal_mode_keeps_the_tabs(lab, projector, screenshots):
    page = projector
    page.goto(f"{lab}/learn")
    chart(page, "learn_prune_units")
    settle(page)
    no_exception(page)
    assert page.get_by_role("tab").count() == 9
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "16px"
    page.screenshot(path=str(screenshots / "32_learn_normal.png"))


@needs_renderer
def test_figure_and_lesson_downloads(lab, projector, tmp_path):
    page = projector
    page.goto(f"{lab}/learn")
    chart(page, "learn_prune_units")
    settle(page)
    page.locator(".st-key-learn_prune_hist_export button").first.click()
    with page.expect_download(timeout=120_000) as svg:
        page.locator(".st-key-learn_prune_hist_svg button").click()
    assert svg.value.suggested_filename.endswith(".svg")
    root = ET.parse(svg.value.path()).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    page.keyboard.press("Escape")
    with page.expect_download(timeout=120_000) as zipped:
        page.locator(".st-key-learn_zip_pruning-magnitude-pruning [data-testid^='stBaseButton']").first.click()
    assert zipped.value.suggested_filename == "pruning-magnitude-pruning-figures.zip"
    with zipfile.ZipFile(io.BytesIO(Path(zipped.value.path()).read_bytes())) as archive:
        names = archive.namelist()
    assert len(names) == 4 and [n[:3] for n in names] == ["01-", "01-", "02-", "02-"]
    no_exception(page)
