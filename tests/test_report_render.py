"""The monthly report as a person sees it: rendered in headless Chromium and Firefox.

Runs ``pipecast report`` on a small generated dataset (fast ADVI fit), loads the HTML in
headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it) and fails on images that
do not load, a page that scrolls sideways, tables wider than their area, text spilling out
of its box, script errors, raw column names or sampler logs above the headline; then in
headless Firefox (``firefox-esr``, also installed by ``.ci/run``), which must find the same
page. Each browser's tests are skipped, with the reason, where it is not installed.
"""

from __future__ import annotations

import re

import pytest
from helpers import fast_cli

from pipecast.cli import main
from pipecast.render_check import (
    check_html,
    check_html_firefox,
    find_chromium,
    find_firefox,
    screenshot,
)
from simulations.synthetic.generator import GeneratorConfig, generate, write_dataset

pytestmark = pytest.mark.slow

#: what nbconvert's stock template says on an image without alt text
NO_ALT = "No description has been provided for this image"
RAW_NAMES = ("booked_to_date", "expected_gap", "excess_days", "p_attain", "rhat_max",
             "conversion_to_next", "win_rate_from_stage", "threshold_days", "n_open")


def _browser(path: str | None, name: str, package: str) -> str:
    if path is None:
        pytest.skip(f"headless {name} is not installed (apt-get install -y {package}; "
                    ".ci/run installs it): the report is not checked in it")
    return path


@pytest.fixture(scope="module")
def chromium():
    return _browser(find_chromium(), "Chromium", "chromium")


@pytest.fixture(scope="module")
def firefox():
    return _browser(find_firefox(), "Firefox", "firefox-esr")


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    write_dataset(generate(GeneratorConfig.small(), seed=1), root / "ds")
    args = ["report", "--data", str(root / "ds"), "--as-of", "2026-10-31", "--out",
            str(root / "reports"), *fast_cli(draws=200)]
    assert main(args) == 0
    return root / "reports" / "2026-10" / "monthly_forecast.html"


def test_report_renders_without_layout_problems(chromium, report_html):
    found = check_html(report_html, chromium, width=1280)
    assert found["images"] >= 3, found  # waterfall, fan chart, funnel (at least)
    assert found["missing_images"] == [], found
    assert not found["page_overflow"], found
    assert found["wide_tables"] == [], found
    assert found["text_overflow"] == [], found
    assert found["errors"] == [], found  # nothing from the network, no script errors
    titles = [s["title"] for s in found["sections"]]
    assert titles[:2] == ["At a glance", "What changed since the last report"], titles
    # a narrow window (a laptop side by side with the CRM) must not scroll sideways either
    narrow = check_html(report_html, chromium, width=1024)
    assert not narrow["page_overflow"], narrow


def test_report_text_is_for_people(report_html):
    html = report_html.read_text(encoding="utf-8")
    text = re.sub(r"<style.*?</style>|<script.*?</script>", "", html, flags=re.S)
    for raw in RAW_NAMES:
        assert raw not in text, raw
    first = text.split("What changed since last month")[0]
    assert "Finished [100%]" not in first and "Sampling" not in first  # logs in the appendix
    assert "<details>" in text and "Appendix" in text
    assert "no covariate effects to show" not in text  # that figure is gone
    assert re.search(r"\d+%", first), "probabilities are shown as percentages"
    assert re.search(r"\d(\.\d+)?[kM]<", first), "amounts are shown in k/M"


def test_report_is_one_offline_file_with_alt_text(report_html):
    html = report_html.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\ssrc=", html), "no script from anywhere"
    assert not re.search(r"<link[^>]*href=\"https?:", html), "no stylesheet from the network"
    assert not re.search(r"\ssrc=\"https?:", html), "every image embedded"
    imgs = re.findall(r"<img[^>]*>", html)
    assert len(imgs) >= 3
    for img in imgs:
        alt = re.search(r'alt="([^"]*)"', img)
        assert alt and len(alt.group(1)) > 20 and NO_ALT not in alt.group(1), img[:200]


def test_first_screen_screenshot(chromium, report_html, tmp_path):
    from PIL import Image

    png = screenshot(report_html, tmp_path / "first.png", chromium, width=1280, height=900)
    image = Image.open(png).convert("RGB")
    assert image.size == (1280, 900)
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # not a blank page


def test_report_renders_the_same_in_firefox(chromium, firefox, report_html, tmp_path):
    seen = check_html_firefox(report_html, firefox, width=1280, png=tmp_path / "firefox.png")
    assert seen["missing_images"] == [] and seen["errors"] == [], seen
    assert not seen["page_overflow"], seen
    assert seen["wide_tables"] == [] and seen["text_overflow"] == [], seen
    assert (tmp_path / "firefox.png").stat().st_size > 10_000  # a page was drawn
    # the same page as in Chromium: images, sections in order, text; fonts differ a little
    chrome = check_html(report_html, chromium, width=1280)
    assert seen["images"] == chrome["images"] >= 3
    assert ([s["title"] for s in seen["sections"]]
            == [s["title"] for s in chrome["sections"]])
    assert seen["text"] == pytest.approx(chrome["text"], rel=0.01)
    assert seen["page_height"] == pytest.approx(chrome["page_height"], rel=0.15)


@pytest.mark.parametrize("browser", ["chromium", "firefox"])
def test_the_checks_see_a_broken_page(browser, request, tmp_path):
    path = request.getfixturevalue(browser)
    page = tmp_path / "broken.html"
    page.write_text('<html><head><title>x</title></head><body><p>text</p>'
                    '<img src="missing.png" alt="a missing image">'
                    '<div style="width:3000px">too wide</div>'
                    '<script>console.error("boom"); notDefined();</script></body></html>')
    found = (check_html if browser == "chromium" else check_html_firefox)(page, path)
    assert found["missing_images"], found
    assert found["page_overflow"], found
    errors = " ".join(found["errors"])
    assert "console: boom" in errors and "script:" in errors, found
