"""Summaries of simulated revenue: tidy quantile frames, quota attainment, the draws table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulations.engine.quotas import quota_paths
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
    the horizon; ``p_attain`` is given only for complete periods. The rows are
    :func:`~simulations.engine.quotas.quota_paths`.
    """
    rows = []
    for q in quota_paths(result, quotas, booked, as_of):
        row = {"owner": q.owner, "kind": q.kind, "period": q.period, "quota": q.quota,
               "booked_to_date": q.booked_to_date, "complete": q.complete,
               "revenue": describe(q.revenue)}
        if q.complete:
            row["p_attain"] = q.p_attain
            row["expected_gap"] = float(np.mean(np.maximum(q.quota - q.revenue, 0.0)))
            row["attainment"] = {k: float(np.quantile(q.attainment, v))
                                 for k, v in QUANTILES.items()}
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
