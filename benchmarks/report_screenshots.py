"""Regenerate ``docs/img/report_*.png``: the monthly report as headless Chromium shows it.

Runs ``pipecast report`` on the bundled sample (``data/sample``) as of 2026-09-30 and then
2026-10-31 into a temporary folder, so that the second report's forecast bridge starts from
the first — or takes an existing report folder with ``--report`` — then, with headless
Chromium (Debian's ``chromium``):

* ``report_first_screen.png``: the first 1280 × 900 pixels (what a leader sees first);
* ``report_changes.png``: the "What changed since the last report" section (the pipeline
  waterfall and the forecast bridge);
* ``report_screenshots.json``: the layout checks of :func:`pipecast.render_check.check_html`
  (images, overflow, script errors), the same checks in headless Firefox where
  ``firefox-esr`` is installed, and the commands that made the reports.

    python benchmarks/report_screenshots.py                 # product defaults (NUTS): slow
    python benchmarks/report_screenshots.py --fast          # ADVI, 200 paths: minutes
    python benchmarks/report_screenshots.py --report reports/2026-10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipecast.render_check import (  # noqa: E402
    check_html,
    check_html_firefox,
    find_chromium,
    find_firefox,
    screenshot,
)

FAST = ["--method", "advi", "--advi-iterations", "3000", "--samples", "100", "--chains", "1",
        "--draws", "200"]
WIDTH = 1280


def make_report(data: Path, as_of: str, out: Path, fast: bool) -> tuple[Path, list[str]]:
    cmd = [str(Path(sys.executable).parent / "pipecast"), "report", "--data", str(data),
           "--as-of", as_of, "--out", str(out), "--quiet", *(FAST if fast else [])]
    subprocess.run(cmd, check=True)
    return out / as_of[:7], cmd


def make_reports(data: Path, dates: list[str], out: Path, fast: bool
                 ) -> tuple[Path, list[list[str]]]:
    """One report per date into ``out`` (earlier first); the last one's folder."""
    cmds = []
    for as_of in dates:
        folder, cmd = make_report(data, as_of, out, fast)
        cmds.append(cmd)
    return folder, cmds


def crop_section(full_png: Path, sections: list[dict], title: str, png: Path) -> bool:
    """Cut the section headed ``title`` (down to the next heading) out of a page shot."""
    from PIL import Image

    tops = [s["top"] for s in sections]
    hit = [i for i, s in enumerate(sections) if s["title"] == title]
    if not hit:
        return False
    i = hit[0]
    image = Image.open(full_png)
    top = max(tops[i] - 16, 0)
    bottom = min(tops[i + 1] - 16 if i + 1 < len(tops) else image.height, image.height)
    image.crop((0, top, image.width, bottom)).save(png, optimize=True)
    return True


def _portable(cmd: list[str], tmp: Path) -> list[str]:
    """The command as a reader would type it: no virtualenv or temporary paths."""
    out = []
    for i, c in enumerate(cmd):
        if i == 0:
            out.append(Path(c).name)
        elif c.startswith(str(tmp)):
            out.append("<temporary folder>")
        elif c.startswith(str(ROOT) + "/"):
            out.append(str(Path(c).relative_to(ROOT)))
        else:
            out.append(c)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "sample")
    parser.add_argument("--as-of", default="2026-10-31")
    parser.add_argument("--previous-as-of", default="2026-09-30",
                        help="the report made first, where the bridge starts (empty: none)")
    parser.add_argument("--report", type=Path, default=None,
                        help="an existing report folder (skips running the report)")
    parser.add_argument("--fast", action="store_true",
                        help="ADVI fit and 200 paths instead of the product defaults")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print("error: headless Chromium not found (apt-get install -y chromium)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pipecast-shots-") as tmp:
        if args.report is None:
            dates = [d for d in (args.previous_as_of, args.as_of) if d]
            folder, cmds = make_reports(args.data, dates, Path(tmp) / "reports", args.fast)
        else:
            folder, cmds = args.report, []
        html = folder / "monthly_forecast.html"
        checks = check_html(html, chromium, width=WIDTH)
        args.out.mkdir(parents=True, exist_ok=True)
        first = screenshot(html, args.out / "report_first_screen.png", chromium, WIDTH, 900)
        full = screenshot(html, Path(tmp) / "full.png", chromium, WIDTH,
                          min(int(checks["page_height"]) + 40, 16000))
        changes = args.out / "report_changes.png"
        cropped = crop_section(full, checks["sections"], "What changed since the last report",
                               changes)
        firefox = find_firefox()
        firefox_checks = check_html_firefox(html, firefox, WIDTH) if firefox else None
    record = {"report_commands": [_portable(c, Path(tmp)) for c in cmds],
              "chromium": chromium, "width": WIDTH, "checks": checks,
              "firefox": firefox, "firefox_checks": firefox_checks,
              "images": [first.name] + ([changes.name] if cropped else [])}
    (args.out / "report_screenshots.json").write_text(json.dumps(record, indent=2))
    print(json.dumps({k: checks[k] for k in ("images", "missing_images", "page_overflow",
                                             "wide_tables", "text_overflow", "errors")},
                     indent=2))
    print(f"wrote {', '.join(record['images'])} and report_screenshots.json to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
