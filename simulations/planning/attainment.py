"""Quota attainability: per quota row, the simulated revenue of its period, the chance of
reaching the quota, a leaders' ranking, and the swing deals that move that chance most.

Everything here reads a finished :class:`~simulations.engine.simulate.SimulationResult`; nothing is
refitted. Revenue of a quota row = revenue already booked in the period by ``as_of`` plus
the simulated revenue of the period's months inside the horizon: the rows come from
:func:`simulations.engine.quotas.quota_paths`, as do ``summary.json``'s.

>>> paths = quota_paths_of(run)                                       # doctest: +SKIP
>>> attainment_table(paths)                     # leaders' view      # doctest: +SKIP
>>> swing_deals(paths, with_deal_outcomes(run), run.inputs, top=5)    # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulations.engine.inputs import SimulationInputs, booked_to_date
from simulations.engine.quotas import QuotaPaths, quota_paths
from simulations.engine.simulate import SimulationResult, simulate

#: kinds of quota rows, in the order the leaders' view lists them
KINDS = ("total", "team", "rep")


def quota_paths_of(run) -> list[QuotaPaths]:
    """:func:`quota_paths` of a :class:`~simulations.forecaster.ForecastRun`."""
    snap = run.snapshot
    return quota_paths(run.result, snap.dataset.quotas, booked_to_date(snap), snap.as_of)


def attainment_table(paths: list[QuotaPaths]) -> pd.DataFrame:
    """The leaders' view: reps, teams and the total ranked side by side per period.

    Returns
    -------
    pandas.DataFrame
        One row per complete quota row: ``period``, ``kind``, ``owner``, ``team`` (the
        rep's team; the team itself for a team row), ``quota``, ``booked_to_date``,
        ``revenue_p50``, ``p_attain``, ``attainment_p10``/``_p50``/``_p90`` (revenue ÷
        quota), ``expected_gap`` (mean shortfall ``max(quota − revenue, 0)``), ``rank``
        (1 = most likely to attain, within period and kind; ties share a rank). Sorted by
        period, kind (total, team, rep) and rank. Incomplete periods are left out.
    """
    rows = []
    for p in paths:
        if not p.complete:
            continue
        att = p.attainment
        rows.append({
            "period": p.period, "kind": p.kind, "owner": p.owner, "team": p.team,
            "quota": p.quota, "booked_to_date": p.booked_to_date,
            "revenue_p50": float(np.median(p.revenue)), "p_attain": p.p_attain,
            "attainment_p10": float(np.quantile(att, 0.1)),
            "attainment_p50": float(np.quantile(att, 0.5)),
            "attainment_p90": float(np.quantile(att, 0.9)),
            "expected_gap": float(np.mean(np.maximum(p.quota - p.revenue, 0.0))),
        })
    cols = ["period", "kind", "owner", "team", "quota", "booked_to_date", "revenue_p50",
            "p_attain", "attainment_p10", "attainment_p50", "attainment_p90", "expected_gap",
            "rank"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    out["rank"] = (out.groupby(["period", "kind"])["p_attain"]
                   .rank(method="min", ascending=False).astype(int))
    out["_kind"] = out["kind"].map({k: i for i, k in enumerate(KINDS)})
    out = out.sort_values(["period", "_kind", "rank", "owner"]).drop(columns="_kind")
    return out[cols].reset_index(drop=True)


def attainment_draws(paths: list[QuotaPaths], period: str | None = None,
                     kind: str | None = None) -> pd.DataFrame:
    """Attainment per simulated path, tidy: ``period``, ``kind``, ``owner``, ``draw``,
    ``attainment`` (revenue ÷ quota), for complete quota rows (optionally one period or kind).
    """
    parts = [pd.DataFrame({"period": p.period, "kind": p.kind, "owner": p.owner,
                           "draw": np.arange(len(p.revenue)), "attainment": p.attainment})
             for p in paths if p.complete and (period is None or p.period == period.upper())
             and (kind is None or p.kind == kind)]
    if not parts:
        return pd.DataFrame(columns=["period", "kind", "owner", "draw", "attainment"])
    return pd.concat(parts, ignore_index=True)


def with_deal_outcomes(run) -> SimulationResult:
    """The run's simulation with each open deal's outcome per path.

    Returns ``run.result`` when it already has them; otherwise simulates again with the
    run's seed and number of paths, which reproduces its revenue exactly (the engine's
    random streams do not depend on ``keep_deal_outcomes``) and adds the deal outcomes.
    """
    res = run.result
    if res.deal_month is not None:
        return res
    return simulate(run.inputs, res.n_draws, seed=res.seed, keep_deal_outcomes=True)


def _booked_if_won(inputs: SimulationInputs) -> np.ndarray:
    """Each open deal's expected booked amount when won: amount × E[booked ÷ expected]."""
    ratio = float(np.mean(np.exp(inputs.ratio_mu + 0.5 * inputs.ratio_sigma ** 2)))
    return inputs.deals.amount * ratio * inputs.size_multiplier


def swing_deals(paths: list[QuotaPaths], result: SimulationResult, inputs: SimulationInputs,
                top: int | None = 10, rank_by: str = "swing") -> pd.DataFrame:
    """The open deals whose outcome moves each quota row's ``p_attain`` most.

    For a quota row and an open deal of one of its reps, path by path (common random
    numbers: every other deal keeps its simulated outcome):

    * ``p_attain_if_lost`` — share of paths reaching the quota with the deal's revenue in
      the period removed (not won in the period);
    * ``p_attain_if_won`` — the same with the deal won in the period at its expected
      booked amount (``amount`` × the model's mean booked ÷ expected ratio);
    * ``impact`` = ``p_attain_if_won − p_attain_if_lost`` (≥ 0): how far the deal's outcome
      swings the chance of attaining;
    * ``p_win_in_period`` — the deal's simulated chance ``p`` of being won inside the
      period; ``gain_if_won`` = ``p_attain_if_won − p_attain`` and
      ``loss_if_lost`` = ``p_attain − p_attain_if_lost`` split the swing by what is
      already expected of the deal;
    * ``swing`` = ``2·p·(1 − p)·impact``: the expected change of ``p_attain`` once the
      deal's outcome is known (``p·gain + (1 − p)·loss`` when ``p_attain`` is the mix
      ``p·if_won + (1 − p)·if_lost``). A large deal that will almost surely not close
      this period has a large ``impact`` but little ``swing``; a coin-flip deal that
      decides the quota has both.

    This is a counterfactual on the same paths, not a comparison of paths where the deal
    happened to win with paths where it did not, so it is not confounded by the posterior
    draws the deals share and is estimated from all paths.

    Parameters
    ----------
    paths
        Quota rows (:func:`quota_paths` of the same ``result``).
    result
        The simulation, with ``keep_deal_outcomes`` (see :func:`with_deal_outcomes`).
    inputs
        The simulation's inputs (the open deals' owners, stages, amounts).
    top
        Deals kept per quota row (``None``: all).
    rank_by
        ``"swing"`` (default: the deals whose outcome moves ``p_attain`` most, given how
        likely each outcome is) or ``"impact"`` (the largest difference between outcomes).

    Returns
    -------
    pandas.DataFrame
        ``owner``, ``kind``, ``period`` (the quota row), ``rank``, ``deal_id``,
        ``deal_owner``, ``stage``, ``amount``, ``p_win_in_period``, ``p_attain``,
        ``p_attain_if_won``, ``p_attain_if_lost``, ``impact``, ``swing``, ``gain_if_won``,
        ``loss_if_lost``. Complete rows only; deals with no impact are left out.
    """
    if rank_by not in ("swing", "impact"):
        raise ValueError(f"rank_by must be 'swing' or 'impact', got {rank_by!r}")
    if result.deal_month is None or result.deal_revenue is None:
        raise ValueError("swing_deals needs deal outcomes: simulate with "
                         "keep_deal_outcomes=True (or use with_deal_outcomes(run))")
    d = inputs.deals
    owner_names = np.array(inputs.owners, dtype=object)[d.owner]
    stage_names = np.array(inputs.stages, dtype=object)[d.stage]
    if_won_amount = _booked_if_won(inputs)
    frames = []
    for p in paths:
        if not p.complete or not p.months:
            continue
        mine = np.flatnonzero(np.isin(owner_names, p.members))
        if not len(mine):
            continue
        won_in = np.isin(result.deal_month[:, mine], p.months)
        dr = np.where(won_in, result.deal_revenue[:, mine], 0.0)
        rest = p.revenue[:, None] - dr
        if_lost = (rest >= p.quota).mean(axis=0)
        if_won = (rest + if_won_amount[mine][None, :] >= p.quota).mean(axis=0)
        f = pd.DataFrame({
            "owner": p.owner, "kind": p.kind, "period": p.period,
            "deal_id": d.deal_id[mine], "deal_owner": owner_names[mine],
            "stage": stage_names[mine], "amount": d.amount[mine],
            "p_win_in_period": won_in.mean(axis=0), "p_attain": p.p_attain,
            "p_attain_if_won": if_won, "p_attain_if_lost": if_lost,
        })
        f["impact"] = f["p_attain_if_won"] - f["p_attain_if_lost"]
        p_w = f["p_win_in_period"]
        f["swing"] = 2 * p_w * (1 - p_w) * f["impact"]
        f["gain_if_won"] = f["p_attain_if_won"] - f["p_attain"]
        f["loss_if_lost"] = f["p_attain"] - f["p_attain_if_lost"]
        other = "impact" if rank_by == "swing" else "swing"
        f = f[f["impact"] > 0].sort_values([rank_by, other, "amount", "deal_id"],
                                           ascending=[False, False, False, True])
        f = f.head(top) if top is not None else f
        frames.append(f.assign(rank=np.arange(1, len(f) + 1)))
    cols = ["owner", "kind", "period", "rank", "deal_id", "deal_owner", "stage", "amount",
            "p_win_in_period", "p_attain", "p_attain_if_won", "p_attain_if_lost", "impact",
            "swing", "gain_if_won", "loss_if_lost"]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]
