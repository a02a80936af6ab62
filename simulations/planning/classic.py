"""The textbook pipeline arithmetic a recommendation is compared with.

:func:`classic_counts` (won deals = target ÷ average deal size, leads = won deals ÷ win
rate, per rep) and :func:`classic_formulas` (those counts plus velocity, coverage and the
qualify-by date, from :mod:`forecast.data.metrics` on a snapshot, for a
:class:`~simulations.planning.targets.Target`): the ``classic`` block of
``recommendation.json``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulations.planning.targets import Target

# --------------------------------------------------------------------------- classic


def classic_counts(target: float, avg_deal_size: float, win_rate: float, n_reps: int,
                   win_rate_qualified: float = float("nan")) -> dict:
    """The textbook pipeline arithmetic (the issue's formulas), counts rounded up.

    * ``deals_needed`` (won deals) = ``target ÷ average deal size``;
    * ``leads_needed`` = ``deals_needed ÷ win rate`` (won ÷ closed, of all deals from their
      creation, i.e. from the first stage);
    * ``deals_per_rep``, ``leads_per_rep`` = the counts ÷ number of reps;
    * ``qualified_deals_needed`` = ``deals_needed ÷ win rate from the qualified stage``
      (an extra, comparable with the simulated count of qualified deals).

    NaN or non-positive inputs give ``None``.
    """
    def up(x: float) -> int | None:
        return int(np.ceil(x - 1e-9)) if np.isfinite(x) else None

    def div(a: float | None, b: float) -> float:
        return a / b if a is not None and np.isfinite(b) and b > 0 else float("nan")

    deals = up(div(target, avg_deal_size))
    leads = up(div(deals, win_rate))
    reps = max(int(n_reps), 1)
    return {"deals_needed": deals, "leads_needed": leads,
            "deals_per_rep": up(div(deals, reps)), "leads_per_rep": up(div(leads, reps)),
            "qualified_deals_needed": up(div(deals, win_rate_qualified))}


def classic_formulas(snapshot, target: Target, stage: int, n_reps: int) -> dict:
    """The issue's classic formulas for ``target``, from :mod:`forecast.data.metrics` on
    ``snapshot`` (all history to ``as_of``), for the target's rep, team or company.

    Inputs: ``avg_deal_size`` = mean won amount (:func:`~forecast.data.metrics.deal_sizes`),
    ``win_rate`` = won ÷ closed deals (:func:`~forecast.data.metrics.win_rates`),
    ``cycle_days`` = mean creation-to-win days of won deals
    (:func:`~forecast.data.metrics.cycle_length`), ``n_reps``, ``pipeline_amount`` = open
    amount of the target's reps, ``remaining_target`` = target − booked so far.

    Formulas: :func:`classic_counts` (deals, leads, per rep);
    ``pipeline_velocity_per_day`` = ``deals_needed × win_rate × avg_deal_size ÷
    cycle_days`` (``…_per_month`` × 30.44); ``coverage_ratio`` = ``pipeline_amount ÷
    remaining_target``. Extras: ``win_rate_from_stage`` and ``qualified_deals_needed``
    (:func:`~forecast.data.metrics.funnel`), ``velocity_now_per_month`` (today's open
    pipeline, :func:`~forecast.data.metrics.pipeline_velocity`), ``coverage_needed`` = ``1 ÷
    win_rate``, ``qualify_by`` = period end − ``cycle_days``.
    """
    from forecast.data import metrics

    by, group = {"rep": ("owner", target.name), "team": ("team", target.name)}.get(
        target.kind, (None, metrics.ALL))

    def pick(frame: pd.DataFrame, col: str) -> float:
        row = frame[frame["group"] == group]
        return float(row[col].iloc[0]) if len(row) else float("nan")

    sizes = metrics.deal_sizes(snapshot, by)
    fun = metrics.funnel(snapshot, by)
    fun = fun[fun["stage_idx"] == stage]
    win_rate = pick(metrics.win_rates(snapshot, by), "win_rate")
    win_q = pick(fun, "win_rate_from_stage")
    avg = pick(sizes, "won_amount_mean")
    cycle = pick(metrics.cycle_length(snapshot, by).summary, "mean_won_cycle_days")
    velocity_now = pick(metrics.pipeline_velocity(snapshot, by), "velocity_per_month")
    open_deals = snapshot.open_deals
    pipeline = float(open_deals.loc[open_deals["owner"].isin(target.owners), "amount"].sum())
    remaining = target.remaining
    out = {"target": target.amount, "booked_to_date": target.booked_to_date,
           "remaining_target": remaining, "avg_deal_size": avg,
           "median_deal_size": pick(sizes, "won_amount_median"), "win_rate": win_rate,
           "win_rate_from_stage": win_q, "cycle_days": cycle, "n_reps": int(n_reps)}
    out.update(classic_counts(target.amount, avg, win_rate, n_reps, win_q))
    deals = out["deals_needed"]
    per_day = (deals * win_rate * avg / cycle
               if deals is not None and np.isfinite(win_rate * avg) and cycle > 0 else None)
    out["pipeline_velocity_per_day"] = per_day
    out["pipeline_velocity_per_month"] = (per_day * metrics.DAYS_PER_MONTH
                                          if per_day is not None else None)
    out["velocity_now_per_month"] = velocity_now
    out["pipeline_amount"] = pipeline
    out["coverage_ratio"] = pipeline / remaining if remaining > 0 else None
    out["coverage_needed"] = 1.0 / win_rate if win_rate > 0 else None
    end = pd.Period(target.months[-1], "M").end_time.normalize()
    out["qualify_by"] = (str((end - pd.Timedelta(days=float(np.ceil(cycle)))).date())
                         if np.isfinite(cycle) else None)
    return out
