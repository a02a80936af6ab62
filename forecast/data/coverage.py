"""Pipeline coverage: open pipeline against the quota still to win in a period.

``coverage = pipeline_amount / remaining_quota`` per rep, team or the company, with quota
rows resolved as :func:`resolve_quotas` describes. Part of the pipeline metrics
(:mod:`forecast.data.metrics`), apart because quota resolution is its own subject.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.dataset import current_teams
from forecast.data.metrics import ALL, TOTAL_NAMES, group_key
from forecast.data.periods import months_of, period_bounds
from forecast.data.snapshot import Snapshot


def _quota_of(quotas: pd.DataFrame, name: str, period: str) -> float:
    """Quota of ``name`` for ``period``; a quarter without a row sums its 3 months."""
    rows = quotas[quotas["owner"] == name].set_index("period")["quota"]
    if period in rows.index:
        return float(rows[period])
    months = months_of(period)
    if len(months) > 1 and all(m in rows.index for m in months):
        return float(rows[months].sum())
    return float("nan")


def _sum_known(values: list[float]) -> float:
    known = [v for v in values if not np.isnan(v)]
    return float(sum(known)) if known else float("nan")


def resolve_quotas(quotas: pd.DataFrame, period: str, by: str | None,
                   owner_team: dict[str, str]) -> dict[str, float]:
    """Quota of each group for ``period``.

    ``by="owner"``: the rep's row. ``by="team"``: the team's row, else the sum of its reps'
    quotas (reps with one). ``by=None``: the ``total``/``all`` row, else the sum of the
    teams' quotas (as for ``by="team"``). A quarter with no row of its own is the sum of its
    three monthly rows (when all three exist). Missing → NaN.
    """
    if by == "segment":
        raise ValueError("quotas are set per rep, team or total, not per segment")
    quotas = quotas.assign(owner=quotas["owner"].astype(str),
                           period=quotas["period"].astype(str).str.upper())
    period = period.upper()
    reps = set(owner_team) | (set(quotas["owner"]) - set(owner_team.values()) - set(TOTAL_NAMES))
    teams = set(owner_team.values())
    if by == "owner":
        return {r: _quota_of(quotas, r, period) for r in sorted(reps)}
    if by == "team":
        out = {}
        for t in sorted(teams):
            q = _quota_of(quotas, t, period)
            if np.isnan(q):
                q = _sum_known([_quota_of(quotas, r, period)
                                for r, tt in owner_team.items() if tt == t])
            out[t] = q
        return out
    for name in TOTAL_NAMES:
        q = _quota_of(quotas, name, period)
        if not np.isnan(q):
            return {ALL: q}
    return {ALL: _sum_known(list(resolve_quotas(quotas, period, "team", owner_team).values()))}


def coverage(snapshot: Snapshot, period: str, by: str | None = None,
             quotas: pd.DataFrame | None = None, expected_only: bool = False) -> pd.DataFrame:
    """Pipeline coverage of the quota still to win in ``period``.

    ``coverage = pipeline_amount / remaining_quota`` with
    ``remaining_quota = quota − won_in_period`` (wins with ``closed_at`` in the period, up
    to ``as_of``) and ``pipeline_amount`` the ``amount`` of deals open at ``as_of``.
    For ``by="team"`` deals count for their owner's team at ``as_of``
    (:meth:`~forecast.data.dataset.Dataset.owner_team` on the snapshot's deals).

    Parameters
    ----------
    period
        ``YYYY-MM`` or ``YYYY-Qn``.
    by
        ``None``, ``"owner"`` or ``"team"``.
    quotas
        ``owner``, ``period``, ``quota`` rows; defaults to the dataset's ``quotas``.
    expected_only
        Count only open deals with ``expected_close_at`` on or before the period's last
        day (overdue ones included); needs an ``expected_close_at`` column.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``period``, ``quota``, ``won_in_period``, ``remaining_quota``,
        ``n_open``, ``pipeline_amount``, ``coverage`` (NaN when the quota is unknown or
        already met, i.e. ``remaining_quota ≤ 0``), ``quota_met``.
    """
    if by not in (None, "owner", "team"):
        raise ValueError(f"coverage by must be None, 'owner' or 'team', got {by!r}")
    quotas = snapshot.dataset.quotas if quotas is None else quotas
    if quotas is None:
        raise ValueError("coverage needs quotas: the dataset has no quotas.csv")
    start, end = period_bounds(period)
    owner_team = current_teams(snapshot.deals)
    d = snapshot.deals.assign(team=snapshot.deals["owner"].map(owner_team))
    opn = d[d["status"] == "open"]
    if expected_only:
        if "expected_close_at" not in opn:
            raise ValueError("expected_only needs an expected_close_at column in deals")
        opn = opn[opn["expected_close_at"] <= end]
    won = d[(d["status"] == "won") & (d["closed_at"] >= start) & (d["closed_at"] <= end)]
    quota = resolve_quotas(quotas, period, by, owner_team)
    groups = sorted(set(quota) | set(group_key(d, by)))
    pipe = opn.groupby(group_key(opn, by))["amount"].agg(["sum", "size"])
    won_amt = won.groupby(group_key(won, by))["amount"].sum()
    out = pd.DataFrame({"group": groups, "period": period.upper()})
    out["quota"] = out["group"].map(quota).astype(float)
    out["won_in_period"] = out["group"].map(won_amt).fillna(0.0).astype(float)
    out["remaining_quota"] = out["quota"] - out["won_in_period"]
    out["n_open"] = out["group"].map(pipe["size"]).fillna(0).astype(int)
    out["pipeline_amount"] = out["group"].map(pipe["sum"]).fillna(0.0).astype(float)
    rem = out["remaining_quota"].where(out["remaining_quota"] > 0)
    out["coverage"] = out["pipeline_amount"] / rem
    out["quota_met"] = out["remaining_quota"] <= 0
    return out
