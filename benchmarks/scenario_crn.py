"""How much common random numbers narrow a scenario's difference from the baseline.

    python benchmarks/scenario_crn.py                      # data/sample, the example file
    python benchmarks/scenario_crn.py --method nuts --draws 4000 --names bigger_deals

Fits the forecast once, runs the scenarios as ``pipecast scenarios`` does (every scenario
with the baseline's seed: common random numbers), and simulates the baseline once more
with an independent seed. Per scenario it prints the standard deviation of the per-path
difference of the horizon total, ``scenario − baseline``, both ways: with the same seed
(what pipecast reports) and against the independently seeded baseline (what two separate
runs would give). ``paths ×`` is the variance ratio: how many times more paths independent
runs would need to estimate the mean difference as precisely. The table is the one in
``docs/scenarios.md`` ("Measured variance reduction").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def crn_table(run, scenarios, names=None) -> list[dict]:
    """Per scenario: mean difference and the SD of the per-path difference of the horizon
    total, with common random numbers and against an independently seeded baseline."""
    from simulations.engine.simulate import simulate
    from simulations.scenarios.results import run_scenarios

    res = run_scenarios(run, scenarios)
    n, seed = res.draws, res.seed
    base = res.total(res.baseline).sum(axis=1)
    other = simulate(run.inputs, n, seed + 1).total().sum(axis=1)  # an independent stream
    rows = []
    for name in names or [x for x in res.names if x != res.baseline]:
        scn = res.total(name).sum(axis=1)
        sd_crn, sd_ind = float(np.std(scn - base)), float(np.std(scn - other))
        rows.append({"scenario": name, "mean": float(np.mean(scn - base)),
                     "sd_crn": sd_crn, "sd_independent": sd_ind,
                     "paths": sd_ind ** 2 / sd_crn ** 2 if sd_crn > 0 else float("inf"),
                     "se_crn": sd_crn / np.sqrt(n), "se_independent": sd_ind / np.sqrt(n)})
    return rows


def to_markdown(rows: list[dict], draws: int) -> str:
    head = ("| scenario | Δ mean | SD of Δ, same seed | SD of Δ, independent seeds | "
            f"± on Δ mean ({draws:,} paths), same / independent | paths × |\n"
            "|---|---:|---:|---:|---:|---:|\n")

    def paths(x: float) -> str:
        return "∞ (SD 0)" if not np.isfinite(x) else f"{x:,.1f}"

    return head + "\n".join(
        f"| `{r['scenario']}` | {r['mean']:,.0f} | {r['sd_crn']:,.0f} | "
        f"{r['sd_independent']:,.0f} | {2 * r['se_crn']:,.0f} / {2 * r['se_independent']:,.0f}"
        f" | {paths(r['paths'])} |" for r in rows)


def main(argv: list[str] | None = None) -> None:
    from forecast import load_dataset
    from forecast.models.config import SamplerConfig
    from simulations.forecaster import run_forecast
    from simulations.scenarios.spec import ScenarioSet

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT / "data" / "sample"))
    p.add_argument("--as-of", default="2026-10-31")
    p.add_argument("--horizon", type=int, default=6)
    p.add_argument("--scenarios", default=str(ROOT / "data" / "scenarios" / "example.yaml"))
    p.add_argument("--names", nargs="*", default=None, help="scenarios to show (default all)")
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--method", choices=["nuts", "advi"], default="advi")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    run = run_forecast(load_dataset(args.data), args.as_of, horizon=args.horizon,
                       draws=args.draws, seed=args.seed,
                       sampler_config=SamplerConfig(method=args.method, progressbar=False),
                       progress=False)
    rows = crn_table(run, ScenarioSet.from_yaml(args.scenarios), args.names)
    print(f"{args.data}, as_of {args.as_of}, {args.horizon} months, {args.method} fit, "
          f"{args.draws:,} paths, seed {args.seed} (simulation seed {run.result.seed}); "
          f"horizon total; {time.perf_counter() - t0:.0f} s\n")
    print(to_markdown(rows, args.draws))


if __name__ == "__main__":
    main()
