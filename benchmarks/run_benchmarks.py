"""pipecast benchmarks: simulation, model fit, samplers, and ``pipecast report`` end to end.

    python benchmarks/run_benchmarks.py            # everything (see docs/performance.md)
    python benchmarks/run_benchmarks.py --quick    # a smaller grid, a couple of minutes
    make benchmark                                 # the same as the first line

Every case runs in its own process (:mod:`benchmarks.cases`), one after the other, so
that peak memory and compile times are each case's own. Results are printed as they come
and written between the ``results`` markers of ``docs/performance.md`` (the rest of that
file is prose kept as it is); ``--json FILE`` also keeps the raw measurements.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

#: targets of issue 7 on a 2-core machine
FIT_TARGET_S = 60.0
SIM_TARGET_S = 10.0
SIM_TARGET_MB = 2048.0


def plan(quick: bool) -> dict[str, list[dict]]:
    """The cases to run."""
    if quick:
        return {
            "engine": [dict(n_open=1_000, draws=1_000), dict(n_open=10_000, draws=1_000),
                       dict(n_open=10_000, draws=10_000)],
            "fit": [dict(n_deals=10_000, sampler=default_sampler())],
            "samplers": [],
            "report": [],
        }
    return {
        "engine": [dict(n_open=n, draws=d) for n in (1_000, 10_000, 100_000)
                   for d in (1_000, 10_000)],
        "fit": [dict(n_deals=n, sampler=default_sampler()) for n in (10_000, 100_000, 1_000_000)],
        "samplers": [dict(n_deals=10_000, sampler=s) for s in available_samplers()
                     if s != default_sampler()],
        "report": [dict()],
    }


def default_sampler() -> str:
    """The sampler ``SamplerConfig()`` uses."""
    sys.path.insert(0, str(ROOT))
    from forecast.model_config import SamplerConfig

    return SamplerConfig().nuts_sampler


def available_samplers() -> list[str]:
    """PyMC's own NUTS, nutpie and numpyro where installed, and ADVI."""
    out = ["pymc"]
    out += [s for s, mod in (("nutpie", "nutpie"), ("numpyro", "numpyro"))
            if importlib.util.find_spec(mod) is not None]
    return out + ["advi"]


def run_case(case: str, args: dict, timeout: float, fresh_compile: bool) -> dict:
    """One case in a fresh process; ``{"error": ...}`` when it fails or times out."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
    with tempfile.TemporaryDirectory(prefix="pipecast-bench-") as tmp:
        if fresh_compile:  # time PyTensor's C compilation as a first fit on a new machine
            env["PYTENSOR_FLAGS"] = ",".join(
                filter(None, [env.get("PYTENSOR_FLAGS", ""), f"base_compiledir={tmp}"]))
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cases.py"), case,
                                   json.dumps(args)], capture_output=True, text=True,
                                  timeout=timeout, env=env, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return {"case": case, **args, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {"case": case, **args, "error": (proc.stderr or proc.stdout)[-1500:]}
    return {**json.loads(lines[-1]), "process_seconds": wall}


def _f(x, digits: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def engine_table(rows: list[dict]) -> list[str]:
    out = ["| open deals | draws | months | seconds | CPU s | deal-draws/s | peak RSS (MiB) |"
           " target |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {_f(r['n_open'])} | {_f(r['draws'])} | 3 | failed: "
                       f"{r['error'].splitlines()[-1][:80]} | | | | |")
            continue
        target = ""
        if r["n_open"] == 10_000 and r["draws"] == 10_000:
            ok = r["seconds"] < SIM_TARGET_S and r["peak_rss_mb"] < SIM_TARGET_MB
            target = (f"{'met' if ok else 'missed'} (< {SIM_TARGET_S:.0f} s, "
                      f"< {SIM_TARGET_MB / 1024:.0f} GB)")
        out.append(f"| {_f(r['n_open'])} | {_f(r['draws'])} | {r['months']} | "
                   f"{_f(r['seconds'], 2)} | {_f(r['cpu_seconds'], 2)} | "
                   f"{r['deal_draws_per_s'] / 1e6:,.1f} M | {_f(r['peak_rss_mb'], 0)} | "
                   f"{target} |")
    return out


def fit_table(rows: list[dict]) -> list[str]:
    out = ["| deals | cells | sampler | generate s | snapshot s | cells+model s | fit s "
           "(compile + sample) | fit CPU s | R-hat max | ESS min | divergences | peak RSS "
           "(MiB) | target (fit < 60 s) |",
           "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {_f(r['n_deals'])} | | {r['sampler']} | failed: "
                       f"{r['error'].splitlines()[-1][:80]} | | | | | | | | | |")
            continue
        ok = r["fit_seconds"] < FIT_TARGET_S
        out.append(
            f"| {_f(r['n_deals'])} | {_f(r['n_cells'])} | {r['sampler']} | "
            f"{_f(r['generate_seconds'])} | {_f(r['snapshot_seconds'])} | "
            f"{_f(r['cells_seconds'])} | {_f(r['fit_seconds'])} "
            f"({_f(r['compile_seconds'])} + {_f(r['sample_seconds'])}) | "
            f"{_f(r['fit_cpu_seconds'])} | {_f(r['rhat_max'], 3)} | {_f(r['ess_bulk_min'], 0)} | "
            f"{_f(r['divergences'])} | {_f(r['peak_rss_mb'], 0)} | "
            f"{'met' if ok else 'missed'} |")
    return out


def report_table(rows: list[dict]) -> list[str]:
    out = ["| command | draws | seconds |", "|---|---:|---:|"]
    for r in rows:
        secs = f"failed ({r.get('error', '')[:60]})" if "error" in r or r.get("returncode") \
            else _f(r["seconds"])
        out.append(f"| `pipecast report --data data/sample --as-of 2026-10-31` | "
                   f"{_f(r.get('draws'))} | {secs} |")
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "n/a"
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"load average at start {load}")


def render(results: dict[str, list[dict]], quick: bool, started: str, info: str,
           seconds: float) -> str:
    lines = [BEGIN, "",
             f"Measured {started} with `python benchmarks/run_benchmarks.py"
             f"{' --quick' if quick else ''}` in {seconds / 60:.1f} min on {info}.", ""]
    if results.get("engine"):
        lines += ["### Simulation (`simulate`, 1,000 posterior draws, 3 months)", ""]
        lines += engine_table(results["engine"]) + [""]
    if results.get("fit"):
        lines += ["### Model fit (NUTS: 2 chains × (500 tune + 500 draws); a fresh PyTensor "
                  "compile cache)", ""]
        lines += fit_table(results["fit"]) + [""]
    if results.get("samplers"):
        lines += ["### Samplers on the same 10k-deal data", ""]
        lines += fit_table([r for r in results["fit"] if r.get("n_deals_target") == 10_000]
                           + results["samplers"]) + [""]
    if results.get("report"):
        lines += ["### End to end", ""] + report_table(results["report"]) + [""]
    return "\n".join(lines + [END])


def write_doc(block: str, path: Path = DOC) -> None:
    """Replace the results block of ``path`` (append one when it has none)."""
    text = path.read_text() if path.exists() else "# Performance\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Latest results\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller grid, a couple of minutes")
    ap.add_argument("--sections", default="engine,fit,samplers,report",
                    help="comma-separated subset of engine,fit,samplers,report")
    ap.add_argument("--timeout", type=float, default=900.0, help="per case, seconds")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    todo = plan(args.quick)
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    info = machine()
    print(f"pipecast benchmarks ({'quick' if args.quick else 'full'}) on {info}", flush=True)
    t0 = time.perf_counter()
    results: dict[str, list[dict]] = {}
    for section in sections:
        case = "fit" if section == "samplers" else section
        for case_args in todo.get(section, []):
            print(f"  {section} {case_args} ...", end=" ", flush=True)
            r = run_case(case, case_args, args.timeout, fresh_compile=case == "fit")
            results.setdefault(section, []).append(r)
            print("failed: " + r["error"].splitlines()[-1] if "error" in r else
                  json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                              for k, v in r.items() if k != "case"}), flush=True)
    total = time.perf_counter() - t0
    block = render(results, args.quick, started, info, total)
    print("\n" + block.replace(BEGIN, "").replace(END, ""))
    print(f"total {total / 60:.1f} min", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if not args.no_write:
        write_doc(block)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
