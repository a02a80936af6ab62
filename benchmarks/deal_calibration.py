"""Held-out calibration of pipecast's deal win probabilities, beside simple baselines.

Protocol (see ``docs/scoring_deals.md``): generate a synthetic dataset with known
covariate effects; fit pipecast on what was known at ``--as-of`` (a NUTS fit by default);
score every deal open at ``as_of``; then look at what happened to those deals in the rest
of the data.

* **Eventual win** (the headline): outcome 1 if the deal was won by the end of the data,
  0 if lost; deals still open at the end are left out (reported as ``undecided``).
  Prediction: ``p_win``.
* **Won in the horizon** (no deal left out): outcome 1 if won by the horizon's last day.
  Prediction: ``p_win_in_horizon``.

Baselines on the same deals, fitted on the same snapshot: the base rate (share of deals
decided by ``as_of`` that were won, one number for every deal), stage conversion rates
(:class:`simulations.evaluation.baselines.StageConversion`) and a ridge-penalised logistic regression
(:class:`simulations.evaluation.baselines.LogisticWin`, statsmodels) on stage, log amount, owner,
segment and the covariates. Beside them, the *oracle*: each deal's win probability under
the generator's true parameters, the best any model could do (its mean against the
observed rate says how lucky the held-out outcomes were).

Run (about 5-10 minutes on 2 cores)::

    PYTHONPATH=. python benchmarks/deal_calibration.py --n-deals 5000 --seed 1 \
        --as-of 2025-12-31 --plot docs/img/drivers_benchmark.png
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from forecast.data.dataset import dataset_from_frames
from forecast.data.snapshot import build_snapshot
from forecast.models.config import SamplerConfig
from simulations.engine.horizon import make_horizon
from simulations.evaluation.baselines import LogisticWin, StageConversion
from simulations.evaluation.deal_scores import driver_table, score_deals  # noqa: E402
from simulations.evaluation.scoring import brier_score, log_loss, reliability_table
from simulations.forecaster import PipelineForecaster
from simulations.plots.drivers import plot_drivers  # noqa: E402
from simulations.synthetic.generator import GeneratorConfig, generate


def outcomes(final: pd.DataFrame, deal_ids: pd.Series, as_of: pd.Timestamp,
             horizon_end: pd.Timestamp) -> pd.DataFrame:
    """What became of ``deal_ids``: ``won_eventually`` (NaN while still open at the end)
    and ``won_in_horizon`` (won on or before ``horizon_end``)."""
    f = final.set_index("deal_id").loc[deal_ids.to_numpy()]
    decided = f["status"] != "open"
    won = f["status"] == "won"
    in_h = won & (f["closed_at"] <= horizon_end)
    return pd.DataFrame({"deal_id": deal_ids.to_numpy(),
                         "won_eventually": np.where(decided, won.astype(float), np.nan),
                         "won_in_horizon": in_h.astype(float).to_numpy()})


def baselines(snapshot, covariates: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Win probabilities of the open deals under each baseline."""
    opn = snapshot.open_deals
    closed = snapshot.closed_deals
    base = float((closed["status"] == "won").mean())
    stage = StageConversion().fit(snapshot).predict_proba(opn)
    logit = LogisticWin(categorical=("owner", "segment", *covariates)).fit(snapshot)
    return {"base rate": np.full(len(opn), base), "stage conversion": stage,
            "logistic (statsmodels)": logit.predict_proba(opn)}


def markdown(frame: pd.DataFrame, fmt: str) -> str:
    """A Markdown table of ``frame`` (floats formatted with ``fmt``)."""
    def cell(v) -> str:
        return format(v, fmt) if isinstance(v, float | np.floating) else str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def score_table(preds: dict[str, np.ndarray], y: np.ndarray) -> pd.DataFrame:
    rows = []
    for name, p in preds.items():
        rel = reliability_table(p, y, bins=10)
        rows.append({"method": name, "brier": brier_score(p, y), "log_loss": log_loss(p, y),
                     "mean_p": float(np.mean(p)), "bins_within": int(rel["within"].sum()),
                     "bins": len(rel)})
    return pd.DataFrame(rows)


def oracle_p_win(snapshot, truth: dict, horizon, deal_ids: pd.Series) -> np.ndarray:
    """Each deal's eventual win probability under the generator's true parameters: the
    best any model could do, and the yardstick for how lucky the held-out outcomes were."""
    from benchmarks.true_parameter_check import true_posterior
    from simulations.engine.inputs import build_inputs
    from simulations.evaluation.deal_scores import deal_probabilities

    probs = deal_probabilities(build_inputs(snapshot, true_posterior(snapshot, truth), horizon))
    return pd.Series(probs.p_win[0], index=probs.deal_id).loc[deal_ids.to_numpy()].to_numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-deals", type=float, default=5000.0)
    parser.add_argument("--seed", type=int, default=1, help="dataset seed (fit seed + 1)")
    parser.add_argument("--as-of", default="2025-12-31")
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--method", choices=["nuts", "advi"], default="nuts")
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--plot", default=None, help="write the drivers plot here (PNG)")
    args = parser.parse_args(argv)

    data = generate(GeneratorConfig(n_deals=args.n_deals), args.seed)
    covs = tuple(data.pipeline["covariates"])
    ds = dataset_from_frames(data.deals, tuple(data.pipeline["stages"]), data.stage_history,
                             covariates=covs)
    snap = build_snapshot(ds, args.as_of)
    sampler = SamplerConfig(method=args.method, tune=args.tune, draws=args.samples, chains=2,
                            progressbar=False)
    t0 = time.perf_counter()
    post = PipelineForecaster(sampler_config=sampler).fit(snap, seed=args.seed + 1).posterior
    seconds = time.perf_counter() - t0
    hz = make_horizon(snap.as_of, args.horizon)
    horizon_end = snap.as_of + pd.Timedelta(days=hz.days)
    scores = score_deals(snap, post, hz)
    res = outcomes(data.deals, scores["deal_id"], snap.as_of, horizon_end)
    base = baselines(snap, covs)
    order = snap.open_deals.set_index("deal_id").index.get_indexer(scores["deal_id"])
    preds = {"pipecast": scores["p_win"].to_numpy(),
             **{k: v[order] for k, v in base.items()},
             "oracle (true parameters)": oracle_p_win(snap, data.truth, hz, scores["deal_id"])}
    d = post.diagnostics

    print(f"dataset: {len(data.deals)} deals, seed {args.seed}, data end {data.truth['end']}")
    print(f"fit at {snap.as_of.date()} on {len(snap.deals)} deals ({args.method}, "
          f"{seconds:.0f} s; R-hat max {d.get('rhat_max')}, divergences "
          f"{d.get('divergences')})")
    keep = ~np.isnan(res["won_eventually"].to_numpy())
    y = res["won_eventually"].to_numpy()[keep]
    print(f"\nEventual win: {keep.sum()} of {len(res)} deals open at as_of were decided by "
          f"the end ({(~keep).sum()} undecided, left out); win rate {y.mean():.3f}\n")
    print(markdown(score_table({k: v[keep] for k, v in preds.items()}, y), ".4f"))
    print("\nReliability of pipecast p_win (95% binomial band if calibrated):\n")
    rel = reliability_table(preds["pipecast"][keep], y, bins=10)
    print(markdown(rel, ".3f"))
    yh = res["won_in_horizon"].to_numpy()
    print(f"\nWon within the horizon ({hz.months[0]}..{hz.months[-1]}, to "
          f"{horizon_end.date()}): all {len(yh)} deals, rate {yh.mean():.3f}\n")
    ph = scores["p_win_in_horizon"].to_numpy()
    print(markdown(score_table({"pipecast p_win_in_horizon": ph}, yh), ".4f"))
    print()
    print(markdown(reliability_table(ph, yh, bins=10), ".3f"))
    inside = (scores["p_win_lo"] <= scores["p_win"]).mean()
    print(f"\n90% interval of p_win: mean width "
          f"{(scores['p_win_hi'] - scores['p_win_lo']).mean():.3f} ({inside:.0%} well-formed)")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        drivers = driver_table(snap, post)
        ax = plot_drivers(drivers, title=f"Drivers of winning (synthetic data, fit at "
                                         f"{snap.as_of.date()})")
        ax.figure.tight_layout()
        ax.figure.savefig(args.plot, dpi=110)
        print(f"\nwrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
