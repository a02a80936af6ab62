"""pipecast benchmarks: simulation, model fit, samplers, and ``pipecast report`` end to end.

    python benchmarks/run_benchmarks.py            # the default grid, under 10 minutes
    python benchmarks/run_benchmarks.py --full     # + 100k and 1M-deal fits, all samplers
    make benchmark                                 # the same as the first line
    make benchmark-full                            # the same as the second

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

#: every section, in the order they run
SECTIONS = "engine,report,fit,samplers"
#: targets of issue 7 on a 2-core machine
FIT_TARGET_S = 60.0
SIM_TARGET_S = 10.0
SIM_TARGET_MB = 2048.0


def plan(full: bool) -> dict[str, list[dict]]:
    """The cases to run.

    The default grid fits in 10 minutes on 2 cores: the engine, ``pipecast report`` end to
    end, then a 10k-deal NUTS fit with the PyTensor compile cache as ``make report`` left it
    (a user's second fit). ``full`` (about an hour) adds 100k open deals × 1k paths, fits of
    10k, 100k and 1M deals and every installed sampler, each with a fresh, empty compile
    cache (a first fit on a new machine, compile included).
    """
    if not full:
        return {
            "engine": [dict(n_open=1_000, draws=1_000), dict(n_open=10_000, draws=1_000),
                       dict(n_open=10_000, draws=10_000), dict(n_open=100_000, draws=10_000)],
            "report": [dict()],
            "fit": [dict(n_deals=10_000, sampler=default_sampler())],
            "samplers": [],
        }
    return {
        "engine": [dict(n_open=n, draws=d) for n in (1_000, 10_000, 100_000)
                   for d in (1_000, 10_000)],
        "report": [dict()],
        "fit": [dict(n_deals=n, sampler=default_sampler()) for n in (10_000, 100_000, 1_000_000)],
        "samplers": [dict(n_deals=10_000, sampler=s) for s in available_samplers()
                     if s != default_sampler()],
    }


def default_sampler() -> str:
    """The sampler ``SamplerConfig()`` uses."""
    sys.path.insert(0, str(ROOT))
    from forecast.models.config import SamplerConfig

    return SamplerConfig().nuts_sampler


def available_samplers() -> list[str]:
    """PyMC's own NUTS, nutpie where installed, and ADVI (the samplers pipecast offers)."""
    out = ["pymc"]
    out += [s for s in ("nutpie",) if importlib.util.find_spec(s) is not None]
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
    out = ["| command | draws | first run: fits (s) | second run: the cached fit (s) |",
           "|---|---:|---:|---:|"]
    for r in rows:
        failed = "error" in r or r.get("returncode")
        secs = (f"failed ({r.get('error', r.get('stderr_tail', ''))[:60]})" if failed
                else f"{_f(r['seconds'])} | {_f(r.get('seconds_cached'))}")
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


def render(results: dict[str, list[dict]], runs: list[dict]) -> str:
    """The results block of ``docs/performance.md``; ``runs`` say which command measured
    which sections."""
    lines = [BEGIN, ""]
    for run in runs:
        lines += [f"Measured {run['started']} with `{run['command']}` in "
                  f"{run['seconds'] / 60:.1f} min on {run['info']} "
                  f"(sections: {', '.join(run['sections'])}).", ""]
    if results.get("engine"):
        lines += ["### Simulation (`simulate`, 1,000 posterior draws, 3 months)", ""]
        lines += engine_table(results["engine"]) + [""]
    if results.get("fit"):
        cache = ("a fresh, empty PyTensor compile cache: compile included, as on a new machine"
                 if results["fit"][0].get("fresh_compile", True) else
                 "a warm PyTensor compile cache, as after `pipecast report`: a user's next fit")
        sys.path.insert(0, str(ROOT))
        from forecast.models.config import SamplerConfig

        d = SamplerConfig()
        lines += [f"### Model fit (NUTS at the defaults: {d.chains} chains × ({d.tune} tune + "
                  f"{d.draws} draws), sampling on while the bar is missed; {cache})", ""]
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
    ap.add_argument("--full", action="store_true",
                    help="also fit 100k and 1M deals and compare every installed sampler "
                         "(about an hour)")
    ap.add_argument("--warm-cache", action="store_true",
                    help="with --full: fit with the compile cache as it is (compare data sizes "
                         "without paying the one-off C compilation in every case)")

    ap.add_argument("--sections", default=SECTIONS,
                    help="comma-separated subset of engine,fit,samplers,report")
    ap.add_argument("--timeout", type=float, default=900.0, help="per case, seconds")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--merge", type=Path,
                    help="the --json file of an earlier run: its sections that this run does "
                         "not measure are kept in the tables (and the page says which run "
                         "measured what)")
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    todo = plan(args.full)
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    info = machine()
    print(f"pipecast benchmarks ({'full' if args.full else 'default'} grid) on {info}",
          flush=True)
    t0 = time.perf_counter()
    results: dict[str, list[dict]] = {}
    for section in sections:
        case = "fit" if section == "samplers" else section
        for case_args in todo.get(section, []):
            print(f"  {section} {case_args} ...", end=" ", flush=True)
            fresh = case == "fit" and args.full and not args.warm_cache
            r = {**run_case(case, case_args, args.timeout, fresh_compile=fresh),
                 **({"fresh_compile": fresh} if case == "fit" else {})}
            results.setdefault(section, []).append(r)
            print("failed: " + r["error"].splitlines()[-1] if "error" in r else
                  json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                              for k, v in r.items() if k != "case"}), flush=True)
    total = time.perf_counter() - t0
    command = "python benchmarks/run_benchmarks.py" + (" --full" if args.full else "") + (
        " --warm-cache" if args.warm_cache else "") + (
        f" --sections {args.sections}" if args.sections != SECTIONS else "") + (
        f" --merge {args.merge}" if args.merge else "")
    runs = [dict(started=started, command=command, seconds=total, info=info,
                 sections=[s for s in sections if results.get(s)])]
    if args.merge:
        earlier = json.loads(args.merge.read_text())
        kept = {k: v for k, v in earlier["results"].items() if k not in results}
        runs = [dict(r, sections=[s for s in r["sections"] if s in kept])
                for r in earlier["runs"]] + runs
        runs = [r for r in runs if r["sections"]]
        results = {**kept, **results}
    block = render(results, runs)
    print("\n" + block.replace(BEGIN, "").replace(END, ""))
    print(f"total {total / 60:.1f} min", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "results": results}, indent=2))
    if not args.no_write:
        write_doc(block)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
