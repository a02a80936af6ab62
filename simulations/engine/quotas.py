"""Quota rows resolved against a simulation: who counts, which months, what was booked.

The one place that decides what a quota row means (used by ``summary.json``'s ``quotas``
and by the leaders' attainment view): its owner is a rep, a team or the company
(``total``/``all``); its period (``YYYY-MM`` or ``YYYY-Qn``, any case) covers months that
are either booked already (before ``as_of``) or simulated (inside the horizon).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.metrics import TOTAL_NAMES
from forecast.data.periods import months_of
from simulations.engine.simulate import SimulationResult


@dataclass(frozen=True)
class QuotaPaths:
    """One quota row with its simulated period revenue.

    Attributes
    ----------
    owner
        The quota row's owner: a rep, a team, or ``total``/``all``.
    kind
        ``rep``, ``team`` or ``total``.
    team
        The rep's team, the team itself for a team row, ``""`` for the total.
    period
        ``YYYY-MM`` or ``YYYY-Qn``.
    quota
        The quota amount.
    members
        Reps whose revenue counts.
    booked_to_date
        Revenue won in the period up to ``as_of``.
    months
        Indexes of the period's months in the simulation horizon.
    complete
        Every month of the period is before ``as_of`` or inside the horizon.
    revenue
        ``(n_draws,)`` period revenue per simulated path (booked + simulated).
    """

    owner: str
    kind: str
    team: str
    period: str
    quota: float
    members: tuple[str, ...]
    booked_to_date: float
    months: tuple[int, ...]
    complete: bool
    revenue: np.ndarray

    @property
    def attainment(self) -> np.ndarray:
        """``(n_draws,)`` revenue ÷ quota (``inf`` for a zero quota)."""
        if self.quota <= 0:
            return np.full(len(self.revenue), np.inf)
        return self.revenue / self.quota

    @property
    def p_attain(self) -> float:
        """Share of paths reaching the quota (NaN for an incomplete period)."""
        return float(np.mean(self.revenue >= self.quota)) if self.complete else float("nan")


def _members(owner: str, owners: tuple[str, ...], teams: dict[str, str]) -> tuple[str, list[str]]:
    if owner in owners:
        return "rep", [owner]
    if owner in set(teams.get(o) for o in owners):
        return "team", [o for o in owners if teams.get(o) == owner]
    if owner in TOTAL_NAMES:
        return "total", list(owners)
    return "rep", [owner]  # a rep without deals in the model: simulated revenue 0


def quota_paths(result: SimulationResult, quotas: pd.DataFrame | None, booked: pd.DataFrame,
                as_of: pd.Timestamp) -> list[QuotaPaths]:
    """Simulated period revenue of every quota row.

    Parameters
    ----------
    result
        A simulation over the forecast horizon.
    quotas
        ``owner``, ``period``, ``quota`` rows (the dataset's ``quotas``); ``None`` → none.
    booked
        Revenue already won: ``owner``, ``month``, ``revenue``
        (:func:`simulations.engine.inputs.booked_to_date`).
    as_of
        The forecast date; months up to it count with their booked revenue.

    Returns
    -------
    list of QuotaPaths
        In the order of ``quotas``.
    """
    if quotas is None or quotas.empty:
        return []
    owners = tuple(result.owners)
    month_pos = {m: i for i, m in enumerate(result.months)}
    as_of_month = pd.Timestamp(as_of).strftime("%Y-%m")
    booked_by = booked.groupby(["owner", "month"])["revenue"].sum().to_dict()
    out = []
    for q in quotas.itertuples(index=False):
        period = str(q.period).upper()
        months = months_of(period)
        kind, members = _members(str(q.owner), owners, result.teams)
        cols = tuple(month_pos[m] for m in months if m in month_pos)
        idx = [owners.index(o) for o in members if o in owners]
        sim = (result.revenue[:, list(cols)][:, :, idx].sum(axis=(1, 2)) if cols and idx
               else np.zeros(result.n_draws))
        done = float(sum(booked_by.get((o, m), 0.0) for o in members for m in months))
        complete = all(m in month_pos or m <= as_of_month for m in months)
        team = {"rep": result.teams.get(str(q.owner), ""), "team": str(q.owner)}.get(kind, "")
        out.append(QuotaPaths(owner=str(q.owner), kind=kind, team=team, period=period,
                              quota=float(q.quota), members=tuple(members),
                              booked_to_date=done, months=cols, complete=bool(complete),
                              revenue=done + sim))
    return out


