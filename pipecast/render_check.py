"""Look at a report as a person would: headless Chromium and Firefox, screenshots and
layout checks.

Used by ``tests/test_report_render.py`` and ``benchmarks/report_screenshots.py``. Chromium
(Debian's ``chromium`` package) runs with no network features, a throw-away profile and
no sandbox (containers). :func:`check_html` loads a copy of the HTML with a small script
that reports, after the page has loaded: images that did not load, the page scrolling
sideways, tables wider than the area they sit in, text spilling out of its box, and
JavaScript errors (uncaught, and those logged with ``console.error``). :func:`check_html_firefox` runs the same script in headless Firefox
(Debian's ``firefox-esr``), which cannot print the page's DOM: the page is served from a
throw-away server on 127.0.0.1 and the script posts its findings back to it.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--hide-scrollbars",
         "--disable-extensions", "--mute-audio")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")
FIREFOX_CANDIDATES = ("firefox-esr", "firefox")
_RESULT_PATH = "/__pipecast_render_check"

_CHECK_ID = "pipecast-render-check"
_CHECK_JS = """<script>
window.__pipecastErrors = [];
(function () {  // what a page's scripts log as errors counts too
  var original = console.error;
  console.error = function () {
    window.__pipecastErrors.push('console: ' + Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
})();
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
  var found = JSON.stringify({
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
  out.textContent = found;
  document.body.appendChild(out);
  if (location.protocol === 'http:') {  // served by check_html_firefox: post the findings
    fetch('@RESULT_PATH@', {method: 'POST', body: found, keepalive: true});
  }
});
</script>""".replace("@CHECK_ID@", _CHECK_ID).replace("@RESULT_PATH@", _RESULT_PATH)


def find_chromium() -> str | None:
    """The Chromium executable, or ``None`` when none is installed."""
    return _find(CANDIDATES)


def find_firefox() -> str | None:
    """The Firefox executable (``firefox-esr`` first), or ``None`` when none is installed."""
    return _find(FIREFOX_CANDIDATES)


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
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
    page = _checked_page(html)
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


def _checked_page(html: str | Path) -> str:
    source = Path(html).read_text(encoding="utf-8")
    return re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + _CHECK_JS, source, count=1)


def check_html_firefox(html: str | Path, firefox: str, width: int = 1280, height: int = 1000,
                       png: str | Path | None = None, timeout: float = 180) -> dict:
    """:func:`check_html` in headless Firefox: the same findings, the same keys.

    The checked copy is served on 127.0.0.1 (a port of the system's choosing, this call
    only) and Firefox, with a throw-away profile, loads it to take a screenshot (kept as
    ``png`` when given); the page's script posts its findings back once loaded.

    Raises
    ------
    RuntimeError
        Firefox did not report the page (its stderr is in the message).
    """
    body = _checked_page(html).encode("utf-8")
    found: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            if self.path == _RESULT_PATH:
                found.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="pipecast-firefox-") as tmp:
            shot = Path(png).resolve() if png else Path(tmp) / "page.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / "profile").mkdir()
            url = f"http://127.0.0.1:{server.server_address[1]}/page.html"
            done = subprocess.run(
                [firefox, "--headless", "-no-remote", "-profile", str(Path(tmp) / "profile"),
                 f"--window-size={width},{height}", "--screenshot", str(shot), url],
                capture_output=True, text=True, timeout=timeout, check=False)
            deadline = time.monotonic() + 10
            while not found and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    if not found:
        raise RuntimeError(f"firefox reported no checked page (exit {done.returncode}): "
                           f"{done.stderr[-2000:]}")
    return found[0]
