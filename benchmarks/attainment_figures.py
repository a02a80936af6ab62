"""Regenerate the figures of ``docs/attainment.md`` and the README (``docs/img/attainment_*.png``).

Fits the sample dataset at 2026-10-31 the way ``pipecast recommend --method advi`` does
(same seed, paths and sampler settings, so the numbers match the command's output in the
docs), then draws:

* ``attainment_ranking.png``: the leaders' view of the first month of the horizon;
* ``attainment_swing.png``: the swing deals of a team in that month (ranked by swing);
* ``attainment_recommend.png``: P(revenue ≥ target) against added qualified deals for the
  company target of the docs' ``pipecast recommend`` example.

    python benchmarks/attainment_figures.py            # ADVI, seed 0: a few minutes
    python benchmarks/attainment_figures.py --team velocity --out /tmp/img
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.data.dataset import load_dataset  # noqa: E402
from forecast.models.config import SamplerConfig  # noqa: E402
from simulations.engine.inputs import booked_to_date  # noqa: E402
from simulations.forecaster import run_forecast  # noqa: E402
from simulations.planning import attainment as att  # noqa: E402
from simulations.planning.recommend import recommend  # noqa: E402
from simulations.planning.targets import resolve_target  # noqa: E402
from simulations.plots.attainment import (  # noqa: E402
    plot_ranking,
    plot_recommendation,
    plot_swing_deals,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT / "data" / "sample"))
    p.add_argument("--as-of", default="2026-10-31")
    p.add_argument("--horizon", type=int, default=3)
    p.add_argument("--draws", type=int, default=2000, help="simulated paths (as the CLI)")
    p.add_argument("--seed", type=int, default=0, help="the run's seed (the CLI's default)")
    p.add_argument("--target", type=float, default=6_500_000,
                   help="company target over the horizon (the docs' example)")
    p.add_argument("--confidence", type=float, default=0.8)
    p.add_argument("--team", default="growth", help="team whose swing deals are drawn")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = p.parse_args(argv)

    # the CLI's --method advi with its default --chains/--tune/--samples
    sampler = SamplerConfig(method="advi", chains=2, tune=500, draws=500, progressbar=False)
    run = run_forecast(load_dataset(args.data), args.as_of, horizon=args.horizon,
                       draws=args.draws, seed=args.seed, sampler_config=sampler,
                       keep_deal_outcomes=True, progress=False)
    month = run.result.months[0]
    args.out.mkdir(parents=True, exist_ok=True)

    paths = att.quota_paths_of(run)
    table = att.attainment_table(paths)
    ax = plot_ranking(table, month)
    ax.figure.savefig(args.out / "attainment_ranking.png", dpi=110)
    shown = table[table["period"] == month]
    print(shown[["kind", "owner", "quota", "p_attain", "attainment_p50"]]
          .to_string(index=False))

    swing = att.swing_deals(paths, run.result, run.inputs, top=8)
    ax = plot_swing_deals(swing, args.team, month)
    ax.figure.savefig(args.out / "attainment_swing.png", dpi=110)

    target = resolve_target(run.inputs, args.target, booked=booked_to_date(run.snapshot))
    # the CLI's stream for the added deals: child 2 of the run's seed
    seed = np.random.SeedSequence(args.seed).spawn(3)[2]
    rec = recommend(run.inputs, run.result, target, args.confidence, seed=seed,
                    snapshot=run.snapshot)
    ax = plot_recommendation(rec)
    ax.figure.savefig(args.out / "attainment_recommend.png", dpi=110)
    print(f"recommend: {rec.deals_needed} qualified deals, {rec.leads_needed} leads "
          f"(P now {rec.p_attain_now:.0%}); classic {rec.classic['deals_needed']} won deals, "
          f"{rec.classic['qualified_deals_needed']} qualified deals, "
          f"{rec.classic['leads_needed']} leads")
    print(f"wrote {', '.join(f'attainment_{n}.png' for n in ('ranking', 'swing', 'recommend'))}"
          f" to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
