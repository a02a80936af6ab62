"""Fit once: what a saved posterior and the fit cache save, measured end to end.

Runs each command in its own process, as a user would, with a fresh fit cache
(``PIPECAST_CACHE_DIR`` in a temporary folder), and prints wall and CPU seconds (CPU: the
command and every process it started and waited for: chain processes, notebook kernels):

1. ``pipecast fit`` (the fit, saved to a file);
2. ``pipecast scenarios`` with ``--posterior`` that file, then the same with ``--no-cache``
   (fitting); the two ``scenarios.json`` must be identical;
3. ``pipecast report`` with the arguments of ``make report`` twice: the first fits (and
   fills the cache), the second reads the fit from the cache.

    python benchmarks/fit_once.py [--data data/sample] [--as-of 2026-10-31] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(label: str, args: list[str], env: dict) -> dict:
    """Run ``pipecast ARGS`` in a fresh process; wall and CPU seconds, exit code."""
    cmd = [sys.executable, "-m", "pipecast.cli", *args]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    row = {"step": label, "command": "pipecast " + " ".join(args), "exit": proc.returncode,
           "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "fit_reused": "(no sampling)" in proc.stderr}
    if proc.returncode != 0:
        row["stderr_tail"] = proc.stderr[-2000:]
    print(f"{label:<34} wall {wall:7.1f} s   cpu {cpu:7.1f} s   exit {proc.returncode}",
          flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/sample")
    ap.add_argument("--as-of", default="2026-10-31")
    ap.add_argument("--scenarios", default="data/scenarios/example.yaml")
    ap.add_argument("--seed", default="20261031")
    ap.add_argument("--draws", default="2000")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="pipecast-fit-once-") as tmp:
        t = Path(tmp)
        env = dict(os.environ, PIPECAST_CACHE_DIR=str(t / "cache"))
        base = ["--data", a.data, "--as-of", a.as_of, "--seed", a.seed]
        rows.append(timed("fit (saved to a file)", ["fit", *base, "--out", str(t / "fit.nc"),
                                                    "--quiet", "--no-cache"], env))
        scen = ["scenarios", *base, "--scenarios", a.scenarios, "--draws", a.draws]
        rows.append(timed("scenarios --posterior FILE",
                          [*scen, "--out", str(t / "s1"), "--posterior", str(t / "fit.nc")], env))
        rows.append(timed("scenarios (fits, --no-cache)",
                          [*scen, "--out", str(t / "s2"), "--no-cache"], env))
        same = (t / "s1" / "scenarios.json").read_bytes() == \
            (t / "s2" / "scenarios.json").read_bytes() if rows[-1]["exit"] == 0 else None
        report = ["report", *base, "--draws", a.draws, "--out", str(t / "reports"), "--force"]
        rows.append(timed("report, 1st (fits, fills cache)", report, env))
        rows.append(timed("report, 2nd (cache hit)", report, env))
    result = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "platform": platform.platform()},
              "data": a.data, "as_of": a.as_of, "seed": a.seed, "draws": a.draws,
              "scenarios_identical_with_and_without_posterior": same, "steps": rows}
    print(f"scenarios.json identical with and without --posterior: {same}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    return 0 if all(r["exit"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
