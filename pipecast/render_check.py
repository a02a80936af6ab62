"""Look at a report as a person would: headless Chromium screenshots and layout checks.

Used by ``tests/test_report_render.py`` and ``benchmarks/report_screenshots.py``. Chromium
(Debian's ``chromium`` package) runs with no network features, a throw-away profile and
no sandbox (containers). :func:`check_html` loads a copy of the HTML with a small script
that reports, after the page has loaded: images that did not load, the page scrolling
sideways, tables wider than the area they sit in, text spilling out of its box, and
JavaScript errors.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--hide-scrollbars",
         "--disable-extensions", "--mute-audio")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")

_CHECK_ID = "pipecast-render-check"
_CHECK_JS = """<script>
window.__pipecastErrors = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  window.__pipecastErrors.push(e.message ? 'script: ' + e.message
                               : 'resource: ' + (t.src || t.href || t.tagName));
}, true);
window.addEventListener('load', function () {
  var vw = document.documentElement.clientWidth;
  var imgs = Array.prototype.slice.call(document.images);
  var missing = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; })
                    .map(function (i) { return (i.getAttribute('src') || '').slice(0, 60); });
  var wide = [];
  document.querySelectorAll('table').forEach(function (t) {
    var box = t.closest('.jp-OutputArea-output, .output_html, .output_subarea') || t.parentElement;
    var w = t.getBoundingClientRect().width, avail = box.clientWidth;
    if (w > avail + 1) {
      var head = t.querySelector('th') || t;
      wide.push(Math.round(w) + 'px table in ' + avail + 'px: ' + head.textContent.trim().slice(0, 40));
    }
  });
  var spill = [];
  document.querySelectorAll('td, th, p, li, h1, h2, h3, h4, summary, caption, pre').forEach(function (el) {
    var cs = getComputedStyle(el);
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1 && cs.overflowX === 'visible') {
      spill.push(el.tagName + ': ' + el.textContent.trim().slice(0, 60));
    }
  });
  var out = document.createElement('pre');
  out.id = '@CHECK_ID@';
  out.style.display = 'none';
  out.textContent = JSON.stringify({
    images: imgs.length, missing_images: missing,
    page_overflow: document.documentElement.scrollWidth > vw + 1,
    page_width: document.documentElement.scrollWidth, viewport_width: vw,
    wide_tables: wide, text_overflow: spill, errors: window.__pipecastErrors,
    text: document.body.innerText.length,
    page_height: document.documentElement.scrollHeight,
    sections: Array.prototype.map.call(document.querySelectorAll('h2'), function (h) {
      return {title: h.textContent.replace('\u00b6', '').trim(),
              top: Math.round(h.getBoundingClientRect().top + window.scrollY)};
    })
  });
  document.body.appendChild(out);
});
</script>""".replace("@CHECK_ID@", _CHECK_ID)


def find_chromium() -> str | None:
    """The Chromium executable, or ``None`` when none is installed."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(chromium: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="pipecast-chromium-") as profile:
        return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)


def check_html(html: str | Path, chromium: str, width: int = 1280, height: int = 1000,
               timeout: float = 180) -> dict:
    """Load ``html`` in headless Chromium at ``width`` × ``height`` and report problems.

    Returns
    -------
    dict
        ``images`` (count), ``missing_images``, ``page_overflow`` (the page scrolls
        sideways), ``page_width``, ``viewport_width``, ``wide_tables``, ``text_overflow``,
        ``errors`` (script errors and resources that failed to load), ``text`` (characters
        of visible text), ``page_height``, ``sections`` (each ``h2``'s ``title`` and
        ``top`` in pixels).

    Raises
    ------
    RuntimeError
        Chromium did not return the page (its stderr is in the message).
    """
    source = Path(html).read_text(encoding="utf-8")
    page = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + _CHECK_JS, source, count=1)
    with tempfile.TemporaryDirectory(prefix="pipecast-render-") as tmp:
        copy = Path(tmp) / "page.html"
        copy.write_text(page, encoding="utf-8")
        done = _run(chromium, [f"--window-size={width},{height}", "--virtual-time-budget=15000",
                               "--dump-dom", copy.as_uri()], timeout)
    match = re.search(rf'<pre id="{_CHECK_ID}"[^>]*>(.*?)</pre>', done.stdout, re.S)
    if match is None:
        raise RuntimeError(f"chromium returned no checked page (exit {done.returncode}): "
                           f"{done.stderr[-2000:]}")
    import html as html_lib

    return json.loads(html_lib.unescape(match.group(1)))


def screenshot(html: str | Path, png: str | Path, chromium: str, width: int = 1280,
               height: int = 900, fragment: str = "", timeout: float = 180) -> Path:
    """Save what a ``width`` × ``height`` window shows of ``html`` (scrolled to
    ``#fragment`` when given) as ``png``."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    url = Path(html).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    done = _run(chromium, [f"--window-size={width},{height}", "--virtual-time-budget=15000",
                           f"--screenshot={png}", url], timeout)
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): "
                           f"{done.stderr[-2000:]}")
    return png
