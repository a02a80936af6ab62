"""The quarter calendar on generated data: calibration with it, and no harm without a pattern.

    python benchmarks/calendar_calibration.py --seeds 1 20 --plain-seeds 8 \
        --write docs/calendar-calibration
    python benchmarks/calendar_calibration.py --page-only docs/calendar-calibration
    python benchmarks/calendar_calibration.py --seeds 7 20 --plain-seeds 0 \
        --cases cases.jsonl --merge docs/calendar-calibration --write docs/calendar-calibration

For each generator seed, a dataset of ``--deals`` deals from the quarter-end preset
(``GeneratorConfig.quarter_end()``: won late in a quarter, lost early, a random effect per
month) and, for the first ``--plain-seeds`` seeds, one from the default generator (no
calendar: what the calendar costs where there is none). Each is forecast once, three months ahead,
with the calendar on and off (``pipeline.yaml``'s ``calendar``), at the product's default
sampler, as of a month end that cycles with the seed through a quarter's first, second and
third month (2026-04-30, 2026-05-31, 2026-06-30), and scored against what the generator then
booked (:func:`simulations.evaluation.backtest.backtest` on the one date, no baselines), two
runs at a time in worker processes.

``--write PREFIX`` writes ``PREFIX.json`` (every case: seed, data, calendar, as-of, month,
months ahead, month of quarter, booked, P10/P50/P90, PIT, CRPS, coverage), ``PREFIX.png``
(PIT histograms) and ``PREFIX.md``, generated from the JSON; ``--page-only PREFIX``
regenerates the page and the figure from the JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AS_OF = ("2026-04-30", "2026-05-31", "2026-06-30")
HORIZON, DEALS = 3, 1500
DATA = ("quarter_end", "plain")


def one_case(seed: int, data: str, calendar: bool, deals: int) -> list[dict]:
    """Score one forecast: ``data`` generated with ``seed``, the calendar on or off."""
    from forecast.models.config import SamplerConfig
    from simulations.evaluation.backtest import backtest
    from simulations.evaluation.backtest_result import month_of_quarter
    from simulations.synthetic.generator import GeneratorConfig, generate

    base = GeneratorConfig.quarter_end() if data == "quarter_end" else GeneratorConfig()
    generated = generate(replace(base, n_deals=float(deals)), seed)
    generated = replace(generated, pipeline={**generated.pipeline, "calendar": calendar})
    as_of = AS_OF[seed % 3]
    t0 = time.perf_counter()
    result = backtest(generated.to_dataset(), as_of, as_of, horizon=HORIZON, seed=seed,
                      sampler_config=SamplerConfig(progressbar=False), baselines=(),
                      progress=False)
    seconds = time.perf_counter() - t0
    s = result.scores
    total = s[(s["level"] == "total") & (s["method"] == "pipecast")].copy()
    total["month_of_quarter"] = month_of_quarter(total["month"]).to_numpy()
    run = result.summary()["runs"][0].get("pipecast") or {}
    cols = ["as_of", "month", "month_ahead", "month_of_quarter", "y", "p10", "p50", "p90",
            "pit", "crps", "coverage_80", "coverage_50"]
    return [{"seed": seed, "data": data, "calendar": calendar, "seconds": round(seconds, 1),
             "rhat_max": run.get("rhat_max"), "divergences": run.get("divergences"), **row}
            for row in total[cols].to_dict(orient="records")]


def run_cases(case, tasks: list[tuple], switch: str, workers: int,
              log: Path | None = None) -> tuple[dict[tuple, list[dict]], float]:
    """Run ``case(*task)`` for every task (``(seed, data, switch on, deals)``) in ``workers``
    processes; with ``log``, each task's rows are appended to it as it ends and those already
    in it are read rather than run again. Returns the rows by ``(seed, data, switch)`` and
    the wall seconds, counting the logged tasks' share (they ran ``workers`` at a time)."""
    done: dict[tuple, list[dict]] = {}
    if log is not None and log.exists():
        for line in log.read_text().splitlines():
            rows = json.loads(line)
            done[(rows[0]["seed"], rows[0]["data"], rows[0][switch])] = rows
    todo = [t for t in tasks if t[:3] not in done]
    logged_s = sum(done[t[:3]][0]["seconds"] for t in tasks if t[:3] in done) / workers
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        for rows in (pool.map(case, *zip(*todo, strict=True)) if todo else ()):
            done[(rows[0]["seed"], rows[0]["data"], rows[0][switch])] = rows
            if log is not None:
                with log.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(rows, default=str) + "\n")
            print(f"{rows[0]['data']} seed {rows[0]['seed']} {switch} {rows[0][switch]}: "
                  f"{rows[0]['seconds']:.0f} s", file=sys.stderr, flush=True)
    return done, time.perf_counter() - t0 + logged_s


def measure(seeds: list[int], plain_seeds: int, deals: int, workers: int,
            log: Path | None = None) -> dict:
    """Every forecast of ``seeds``; with ``log``, each is appended to it as it ends and
    those already in it are read rather than run again."""
    tasks = [(seed, data, cal, deals) for seed in seeds for data in DATA
             for cal in (True, False) if data != "plain" or seed in seeds[:plain_seeds]]
    done, wall_s = run_cases(one_case, tasks, "calendar", workers, log)
    cases = [row for t in tasks for row in done[t[:3]]]
    return {"command": f"python benchmarks/calendar_calibration.py --seeds {seeds[0]} "
                       f"{seeds[-1]} --plain-seeds {plain_seeds} --deals {deals} "
                       "--write PREFIX",
            "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "settings": {"seeds": seeds, "plain_seeds": seeds[:plain_seeds], "deals": deals, "as_of": AS_OF, "horizon": HORIZON,
                         "workers": workers, "sampler": "NUTS (defaults)",
                         "wall_s": round(wall_s, 1)},
            "cases": cases}


#: the settings two runs must share to be merged
MERGE_KEYS = ("deals", "as_of", "horizon", "sampler")


def check_mergeable(old: dict, settings: dict) -> None:
    """Refuse a merge of runs whose settings differ (compared as JSON stores them: a tuple
    read back is a list)."""
    def as_json(v):
        return json.loads(json.dumps(v))

    differ = [k for k in MERGE_KEYS if as_json(old["settings"][k]) != as_json(settings[k])]
    if differ:
        raise SystemExit(f"--merge: the runs differ in {differ}")


def merge(old: dict, new: dict) -> dict:
    """One result of two runs of different seeds (same settings otherwise)."""
    seeds = {c["seed"] for c in old["cases"]}
    if seeds & {c["seed"] for c in new["cases"]}:
        raise SystemExit("--merge: the runs share seeds")
    check_mergeable(old, new["settings"])
    s = dict(new["settings"])
    s["seeds"] = sorted(set(old["settings"]["seeds"]) | set(new["settings"]["seeds"]))
    s["plain_seeds"] = sorted(set(old["settings"].get("plain_seeds", []))
                              | set(new["settings"].get("plain_seeds", [])))
    s["wall_s"] = round(old["settings"]["wall_s"] + new["settings"]["wall_s"], 1)
    return {"command": f"{old['command']}; then {new['command']} --merge PREFIX",
            "date": new["date"], "settings": s, "cases": old["cases"] + new["cases"]}


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r[key] is not None]
    return sum(vals) / len(vals) if vals else float("nan")


def _bias(rows: list[dict]) -> float:
    """Σ(P50 − booked) ÷ Σ booked: the bias of the medians as a share of what was booked
    (a mean of ratios would be ruled by the months that booked next to nothing)."""
    return sum(c["p50"] - c["y"] for c in rows) / sum(c["y"] for c in rows)


def _groups(cases: list[dict], key: str):
    """``("| data | calendar | value", cases)`` for each data kind, calendar on/off and value
    1, 2, 3 of ``key`` that has cases."""
    for data in DATA:
        for cal in (True, False):
            for value in (1, 2, 3):
                rows = [c for c in cases if c["data"] == data and c["calendar"] == cal
                        and c[key] == value]
                if rows:
                    yield f"| {data.replace('_', '-')} | {'on' if cal else 'off'} | {value}", rows


def _ranges(values: list[int]) -> str:
    """``[1, 2, 3, 21, 22]`` → ``"1–3 and 21–22"``."""
    runs: list[list[int]] = []
    for v in sorted(values):
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    parts = [f"{x[0]}–{x[-1]}" if len(x) > 1 else str(x[0]) for x in runs]
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)


def _coverage_noise(cases: list[dict]) -> str:
    """How far each months-ahead coverage of the calendar on quarter-end data lies from its
    nominal level, in standard errors of a calibrated forecast's coverage (binomial)."""
    ahead = {k: [c for c in cases if c["data"] == "quarter_end" and c["calendar"]
                 and c["month_ahead"] == k] for k in (1, 2, 3)}
    n = len(ahead[1])
    if not n:
        return ""
    parts = []
    for level, key in ((0.8, "coverage_80"), (0.5, "coverage_50")):
        zs = [f"{(_mean(rows, key) - level) / (level * (1 - level) / len(rows)) ** 0.5:+.1f}"
              for rows in ahead.values() if rows]
        se = (level * (1 - level) / n) ** 0.5
        parts.append(f"the {level:.0%} coverage {' / '.join(zs)} standard errors from "
                     f"{level:.2f} (one standard error: {se:.2f} with {n} cases)")
    return ("With the calendar on quarter-end data, 1 / 2 / 3 months ahead: "
            + "; ".join(parts) + ". A calibrated forecast's coverage over n independent "
            f"cases is binomial: with n = {n} it falls in 0.75–0.85 with probability "
            f"{_in_band(n, 0.8, 0.75, 0.85):.2f} and in 0.45–0.55 with probability "
            f"{_in_band(n, 0.5, 0.45, 0.55):.2f}, for each month ahead.")


def _in_band(n: int, p: float, lo: float, hi: float) -> float:
    """P(lo ≤ X/n ≤ hi) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, x) * p ** x * (1 - p) ** (n - x) for x in range(n + 1)
               if lo - 1e-12 <= x / n <= hi + 1e-12)


def page(r: dict, prefix: str) -> str:
    s = r["settings"]
    cases = r["cases"]
    name = Path(prefix).name
    out = ["# The quarter calendar on generated data", "",
           f"Generated by `benchmarks/calendar_calibration.py` from `{name}.json` (measured "
           f"{r['date']}, {s['wall_s'] / 60:.0f} min on the 2-core machine):", "",
           f"    {r['command'].replace('PREFIX', 'docs/' + name)}", "",
           f"Generator seeds {_ranges(s['seeds'])}, {s['deals']:,} deals each: "
           "the quarter-end preset (`GeneratorConfig.quarter_end()`: won late in a quarter, "
           "lost early, a random effect per month) for every seed, and the default "
           f"generator (no calendar) for seeds {_ranges(s.get('plain_seeds', s['seeds']))}. "
           "Each dataset forecast once, "
           f"{s['horizon']} months ahead, with `calendar: true` and `false`, at the "
           "product's default sampler, as of a month end cycling with the seed through a "
           f"quarter's first, second and third month ({', '.join(s['as_of'])}); company "
           "totals against what the generator booked.", "",
           "## Coverage and bias by months ahead", "",
           "| data | calendar | months ahead | cases | 80% coverage | 50% coverage | mean PIT "
           "| Σ(P50 − booked) ÷ Σ booked | mean CRPS |", "|---|---|---|---|---|---|---|---|---|"]
    for label, rows in _groups(cases, "month_ahead"):
        out.append(f"{label} | {len(rows)} | {_mean(rows, 'coverage_80'):.2f} | "
                   f"{_mean(rows, 'coverage_50'):.2f} | {_mean(rows, 'pit'):.2f} | "
                   f"{_bias(rows):+.0%} | {_mean(rows, 'crps') / 1e3:,.0f}k |")
    out += ["", "## By month of the quarter (all months ahead)", "",
            "| data | calendar | month of quarter | cases | 80% coverage | Σ(P50 − booked) ÷ "
            "Σ booked |", "|---|---|---|---|---|---|"]
    for label, rows in _groups(cases, "month_of_quarter"):
        out.append(f"{label} | {len(rows)} | {_mean(rows, 'coverage_80'):.2f} | "
                   f"{_bias(rows):+.0%} |")
    crps = {(d, c): _mean([x for x in cases if x["data"] == d and x["calendar"] == c], "crps")
            for d in DATA for c in (True, False)}
    fits = [c for c in cases if c["month_ahead"] == 1]
    missed = [c for c in fits if (c["rhat_max"] or 0) >= 1.01 or (c["divergences"] or 0) > 0]
    out += ["", f"![PIT histograms]({name}.png)", "", "## Reading", "",
            f"On quarter-end data the calendar's mean CRPS is {crps[('quarter_end', True)] / 1e3:,.0f}k "
            f"against {crps[('quarter_end', False)] / 1e3:,.0f}k without it "
            f"({crps[('quarter_end', True)] / crps[('quarter_end', False)] - 1:+.1%}); on data "
            f"with no calendar {crps[('plain', True)] / 1e3:,.0f}k against "
            f"{crps[('plain', False)] / 1e3:,.0f}k "
            f"({crps[('plain', True)] / crps[('plain', False)] - 1:+.1%}: the price of the "
            "calendar where there is none). "
            + (f"{len(missed)} of {len(fits)} fits missed the convergence bar (R-hat < 1.01, "
               "no divergences)." if missed else
               f"All {len(fits)} fits met the convergence bar (R-hat < 1.01, no divergences)."),
            "", _coverage_noise(cases), ""]
    return "\n".join(out)


def figure(r: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    for ax, ahead in zip(axes, (1, 2, 3), strict=True):
        for cal, color in ((True, "#2f7d32"), (False, "#999999")):
            pits = [c["pit"] for c in r["cases"] if c["data"] == "quarter_end"
                    and c["calendar"] == cal and c["month_ahead"] == ahead]
            ax.hist(pits, bins=5, range=(0, 1), color=color, alpha=0.6,
                    label=f"calendar {'on' if cal else 'off'}")
        ax.set_title(f"{ahead} month{'s' if ahead > 1 else ''} ahead")
        ax.set_xlabel("PIT of the booked total")
    axes[0].set_ylabel("forecasts (quarter-end data)")
    axes[0].legend(frameon=False, fontsize=8)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs=2, default=(1, 20), metavar=("FIRST", "LAST"))
    ap.add_argument("--plain-seeds", type=int, default=8,
                    help="how many of the seeds also get a dataset without a calendar")
    ap.add_argument("--deals", type=int, default=DEALS)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--write", default=None, metavar="PREFIX")
    ap.add_argument("--page-only", default=None, metavar="PREFIX")
    ap.add_argument("--cases", default=None, metavar="LOG.jsonl",
                    help="append each forecast to LOG as it ends; forecasts already in it "
                    "are read, not run again (an interrupted run goes on from there)")
    ap.add_argument("--merge", default=None, metavar="PREFIX",
                    help="add this run's cases to PREFIX.json (another run's seeds)")
    args = ap.parse_args()
    if args.page_only:
        results = json.loads(Path(f"{args.page_only}.json").read_text())
    else:
        seeds = list(range(args.seeds[0], args.seeds[1] + 1))
        old = json.loads(Path(f"{args.merge}.json").read_text()) if args.merge else None
        if old is not None:  # before the hours of fitting, not after
            check_mergeable(old, {"deals": args.deals, "as_of": AS_OF, "horizon": HORIZON,
                                  "sampler": "NUTS (defaults)"})
        results = measure(seeds, args.plain_seeds, args.deals, args.workers,
                          Path(args.cases) if args.cases else None)
        if args.write:  # this run's own cases, kept whatever the merge does
            Path(f"{args.write}.run.json").write_text(json.dumps(results, indent=1,
                                                                 default=str) + "\n")
        if old is not None:
            results = merge(old, results)
        if args.write:
            Path(f"{args.write}.json").write_text(json.dumps(results, indent=1,
                                                             default=str) + "\n")
    prefix = args.page_only or args.write
    if prefix:
        figure(results, f"{prefix}.png")
        Path(f"{prefix}.md").write_text(page(results, prefix))
    print(page(results, prefix or "calendar-calibration"))


if __name__ == "__main__":
    main()
