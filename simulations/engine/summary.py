"""Summaries of simulated revenue: tidy quantile frames, quota attainment, the draws table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.periods import months_of
from simulations.engine.simulate import SimulationResult

QUANTILES = {"p10": 0.1, "p50": 0.5, "p90": 0.9}


def describe(samples: np.ndarray) -> dict[str, float]:
    """Mean and P10/P50/P90 of a 1-D sample."""
    out = {"mean": float(np.mean(samples))}
    out.update({k: float(np.quantile(samples, q)) for k, q in QUANTILES.items()})
    return out


def by_month(samples: np.ndarray, months: tuple[str, ...]) -> list[dict]:
    """``samples (n_draws, n_months)`` → one dict per month with mean and quantiles."""
    return [{"month": m, **describe(samples[:, i])} for i, m in enumerate(months)]


def team_revenue(result: SimulationResult) -> tuple[list[str], np.ndarray]:
    """``(teams, revenue (n_draws, n_months, n_teams))``."""
    teams = sorted(set(result.teams.get(o, "all") for o in result.owners))
    code = np.array([teams.index(result.teams.get(o, "all")) for o in result.owners])
    out = np.zeros(result.revenue.shape[:2] + (len(teams),))
    for t in range(len(teams)):
        out[:, :, t] = result.revenue[:, :, code == t].sum(axis=2)
    return teams, out


def quantile_frame(result: SimulationResult, by: str | None = None) -> pd.DataFrame:
    """Tidy frame: ``month`` (+ ``owner``/``team``), ``mean``, ``p10``, ``p50``, ``p90``."""
    if by is None:
        return pd.DataFrame(by_month(result.total(), result.months))
    if by == "owner":
        names, rev = list(result.owners), result.revenue
    elif by == "team":
        names, rev = team_revenue(result)
    else:
        raise ValueError("by must be None, 'owner' or 'team'")
    rows = [{by: n, **r} for k, n in enumerate(names) for r in by_month(rev[:, :, k],
                                                                          result.months)]
    return pd.DataFrame(rows)


def attainment(result: SimulationResult, quotas: pd.DataFrame | None,
               booked: pd.DataFrame, as_of: pd.Timestamp) -> list[dict]:
    """Per quota row: revenue in the period (booked to date + simulated) against quota.

    A period is *complete* when every month of it is either before ``as_of`` or inside
    the horizon; ``p_attain`` is given only for complete periods.
    """
    if quotas is None or quotas.empty:
        return []
    teams, team_rev = team_revenue(result)
    owners = list(result.owners)
    month_pos = {m: i for i, m in enumerate(result.months)}
    as_of_month = as_of.strftime("%Y-%m")
    rows = []
    for q in quotas.itertuples(index=False):
        months = months_of(q.period)
        if q.owner in owners:
            kind, paths = "rep", result.revenue[:, :, owners.index(q.owner)]
            members = [q.owner]
        elif q.owner in teams:
            kind, paths = "team", team_rev[:, :, teams.index(q.owner)]
            members = [o for o in owners if result.teams.get(o) == q.owner]
        elif q.owner in ("total", "all"):
            kind, paths, members = "total", result.total(), owners
        else:
            kind, paths, members = "rep", np.zeros(result.revenue.shape[:2]), [q.owner]
        past = booked[booked["owner"].isin(members) & booked["month"].isin(months)]
        done = float(past["revenue"].sum())
        cols = [month_pos[m] for m in months if m in month_pos]
        complete = all(m in month_pos or m <= as_of_month for m in months)
        # a month that started before as_of is covered by booked + simulated rest
        total = done + (paths[:, cols].sum(axis=1) if cols else np.zeros(len(paths)))
        row = {"owner": q.owner, "kind": kind, "period": q.period, "quota": float(q.quota),
               "booked_to_date": done, "complete": bool(complete),
               "revenue": describe(total)}
        if complete:
            att = total / q.quota if q.quota > 0 else np.full(len(total), np.inf)
            row["p_attain"] = float(np.mean(total >= q.quota))
            row["expected_gap"] = float(np.mean(np.maximum(q.quota - total, 0.0)))
            row["attainment"] = {k: float(np.quantile(att, v)) for k, v in QUANTILES.items()}
        else:
            row["p_attain"] = None
            row["note"] = "the period ends after the forecast horizon; raise --horizon"
        rows.append(row)
    return rows


def draws_frame(result: SimulationResult) -> pd.DataFrame:
    """The contract's ``draws.parquet``: ``draw``, ``month``, ``owner``, ``revenue``."""
    n_d, n_m, n_o = result.revenue.shape
    return pd.DataFrame({
        "draw": np.repeat(np.arange(n_d), n_m * n_o).astype(np.int32),
        "month": np.tile(np.repeat(np.array(result.months, dtype=object), n_o), n_d),
        "owner": np.tile(np.array(result.owners, dtype=object), n_d * n_m),
        "revenue": result.revenue.reshape(-1),
    })
