"""The simulator alone, without a fit: forecasts made with the generator's TRUE parameters.

For each generator seed a dataset is generated (``simulations.synthetic.generator``), a one-draw
:class:`~forecast.posterior.PipelinePosterior` is built from its ``truth.json`` values, and
the engine forecasts the months after ``--as-of``. If the simulation reproduces the
process that made the data, the realised revenue's PIT (share of simulated paths below it)
is uniform: mean 0.5, about 10% of cases above 0.9 and below 0.1. The script prints, per
month ahead, the mean realised and simulated revenue and the mean PIT.

    python benchmarks/true_parameter_check.py --seeds 1 20 --as-of 2026-04-30
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.calibration import synthetic  # noqa: E402
from forecast.data.snapshot import Snapshot, build_snapshot  # noqa: E402
from forecast.models.arrivals import arrival_data  # noqa: E402
from forecast.models.config import ModelConfig  # noqa: E402
from forecast.models.flow_density import CLOSED  # noqa: E402
from forecast.posterior import (  # noqa: E402  # noqa: E402
    OUTCOMES,
    AmountPosterior,  # noqa: E402
    ArrivalPosterior,  # noqa: E402
    FlowPosterior,
    ModelIndex,
    PipelinePosterior,
)
from simulations.engine.horizon import make_horizon  # noqa: E402
from simulations.engine.inputs import build_inputs  # noqa: E402
from simulations.engine.simulate import simulate  # noqa: E402
from simulations.synthetic.generator import GeneratorConfig, generate  # noqa: E402


def true_posterior(snapshot: Snapshot, truth: dict) -> PipelinePosterior:
    """A one-draw posterior holding the generator's true parameters."""
    index = ModelIndex.from_snapshot(snapshot)
    stages, owners, segs = list(index.stages), list(index.owners), list(index.segments)

    def grid(key: str, names: list[str]) -> np.ndarray:
        return np.array([[truth[key][k][n] for n in names] for k in OUTCOMES])[None]

    a = np.array([[CLOSED if truth["a"][k][s] is None else truth["a"][k][s] for s in stages]
                  for k in OUTCOMES])[None]
    spec = index.covariates
    beta_cat = [np.array([[truth["covariates"][col][lv] for lv in spec.levels[j]]])
                for j, col in enumerate(spec.columns)]
    flow = FlowPosterior(a=a, dur=np.array([truth["dur"][k] for k in OUTCOMES])[None],
                         owner_eff=grid("owner_effects", owners),
                         segment_eff=grid("segment_effects", segs),
                         sigma_owner=np.zeros((1, 3)), beta_cat=beta_cat,
                         beta_num=np.zeros((1, 0)))
    arr = truth["arrivals"]
    arrivals = ArrivalPosterior(
        b0=np.array([arr["b0"]]), owner_eff=np.array([[arr["u_owner"][o] for o in owners]]),
        season=np.array([arr["season"]]), alpha=np.array([arr["alpha"]]),
        active=arrival_data(snapshot, owners, ModelConfig()).active)
    mu = np.array([[truth["amounts"][g]["mu"] for g in segs]])
    sd = np.array([[truth["amounts"][g]["sigma"] for g in segs]])
    ratio = truth["ratio"]
    entry = np.zeros((1, len(stages)))
    entry[0, 0] = 1.0  # the generator creates every deal in the first stage
    amounts = AmountPosterior(
        mu=mu + ratio["mu"], sigma=np.sqrt(sd**2 + ratio["sigma"] ** 2),
        ratio_mu=np.array([ratio["mu"]]), ratio_sigma=np.array([ratio["sigma"]]),
        ratio_learned=True,
        segment_mix=np.array([[[truth["reps"][o]["segment_mix"][g] for g in segs]
                               for o in owners]]), entry_stage=entry)
    return PipelinePosterior(index=index, flow=flow, arrivals=arrivals, amounts=amounts,
                             diagnostics={}, fingerprint="", config={})


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs=2, default=[1, 20], metavar=("FIRST", "LAST"))
    ap.add_argument("--as-of", default="2026-04-30")
    ap.add_argument("--deals", type=int, default=2500)
    ap.add_argument("--horizon", type=int, default=3)
    ap.add_argument("--draws", type=int, default=4000)
    args = ap.parse_args(argv)
    rows = []
    for seed in range(args.seeds[0], args.seeds[1] + 1):
        truth = generate(replace(GeneratorConfig(), n_deals=float(args.deals)), seed).truth
        ds = synthetic(seed, args.deals)
        snap = build_snapshot(ds, args.as_of)
        inputs = build_inputs(snap, true_posterior(snap, truth),
                              make_horizon(snap.as_of, args.horizon))
        total = simulate(inputs, args.draws, seed).total()
        won = ds.deals[ds.deals["status"] == "won"]
        month = won["closed_at"].dt.strftime("%Y-%m")
        for i, m in enumerate(inputs.horizon.months):
            real = float(won.loc[month == m, "amount"].sum())
            rows.append({"seed": seed, "months_ahead": i + 1, "realised": real,
                         "simulated_mean": float(total[:, i].mean()),
                         "pit": float((total[:, i] < real).mean())})
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    table = df.groupby("months_ahead").agg(realised=("realised", "mean"),
                                           simulated=("simulated_mean", "mean"),
                                           mean_pit=("pit", "mean"))
    print(table.round(3).to_string())
    print(f"all: {len(df)} cases, mean PIT {df['pit'].mean():.3f} "
          f"(se {df['pit'].std() / np.sqrt(len(df)):.3f}), PIT > 0.9: "
          f"{(df['pit'] > 0.9).mean():.2f}, PIT < 0.1: {(df['pit'] < 0.1).mean():.2f}, "
          f"realised / simulated {df['realised'].sum() / df['simulated_mean'].sum():.3f}")
    return df


if __name__ == "__main__":
    main()
