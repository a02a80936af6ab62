"""Pipeline metrics at a snapshot: counts, sizes, win rates, cycle length, funnel, staleness.

Every function takes a :class:`~forecast.data.snapshot.Snapshot` (so everything is computed at
its explicit ``as_of``), an optional lookback start ``since`` (inclusive date) and a
grouping ``by`` (``None``, ``"owner"``, ``"team"`` or ``"segment"``), and returns a tidy
frame whose first column ``group`` holds the group (``"all"`` when ``by`` is ``None``).
Every group that has a deal in the snapshot gets a row, even with nothing in the window.
Definitions and formulas are in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight

from forecast.data.snapshot import Snapshot

#: Groupings every metric accepts.
GROUPINGS: tuple[str | None, ...] = (None, "owner", "team", "segment")
#: Value of the ``group`` column when ``by`` is ``None``.
ALL = "all"
#: Mean days in a calendar month (365.25 / 12), for per-month velocity.
DAYS_PER_MONTH = 30.44
#: Quota rows naming the whole company.
TOTAL_NAMES = ("total", "all")


# --------------------------------------------------------------------------- helpers


def _since(snapshot: Snapshot, since: str | pd.Timestamp | None) -> pd.Timestamp | None:
    if since is None:
        return None
    ts = pd.Timestamp(since).normalize()
    if ts > snapshot.as_of:
        raise ValueError(f"since={ts.date()} is after as_of={snapshot.as_of.date()}")
    return ts


def group_key(frame: pd.DataFrame, by: str | None) -> pd.Series:
    """The group of each row of ``frame`` (a deals-like frame)."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}, got {by!r}")
    if by is None:
        return pd.Series(ALL, index=frame.index, dtype=object)
    return frame[by].astype(str).astype(object)


def _groups(snapshot: Snapshot, by: str | None) -> list[str]:
    return sorted(pd.unique(group_key(snapshot.deals, by)))


def _closed_in(deals: pd.DataFrame, since: pd.Timestamp | None) -> pd.Series:
    closed = deals["status"] != "open"
    return closed if since is None else closed & (deals["closed_at"] >= since)


def _created_in(deals: pd.DataFrame, since: pd.Timestamp | None) -> pd.Series:
    return pd.Series(True, index=deals.index) if since is None else deals["created_at"] >= since


def _per_group(frame: pd.DataFrame, key: pd.Series, groups: list[str],
               fn: Callable[[pd.DataFrame], dict]) -> pd.DataFrame:
    """``fn`` applied to each group's rows (an empty frame for groups without rows)."""
    parts = {g: sub for g, sub in frame.groupby(key, sort=False)}
    empty = frame.iloc[0:0]
    return pd.DataFrame([{"group": g, **fn(parts.get(g, empty))} for g in groups])


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _median(values: pd.Series) -> float:
    return float(values.median()) if len(values) else float("nan")


# --------------------------------------------------------------------------- counts, sizes


def deal_counts(snapshot: Snapshot, by: str | None = None,
                since: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Deal and lead counts per group.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``n_open`` (open at ``as_of``), ``n_leads`` (open and in the first
        stage), ``n_created`` (created in the window), ``n_won``, ``n_lost``, ``n_closed``
        (closed in the window). Without ``since`` the window is all time up to ``as_of``.
    """
    start = _since(snapshot, since)
    d = snapshot.deals.assign(_created=_created_in(snapshot.deals, start),
                              _closed=_closed_in(snapshot.deals, start))

    def fn(g: pd.DataFrame) -> dict:
        is_open = g["status"] == "open"
        return {
            "n_open": int(is_open.sum()),
            "n_leads": int((is_open & (g["stage_idx"] == 0)).sum()),
            "n_created": int(g["_created"].sum()),
            "n_won": int((g["_closed"] & (g["status"] == "won")).sum()),
            "n_lost": int((g["_closed"] & (g["status"] == "lost")).sum()),
            "n_closed": int(g["_closed"].sum()),
        }

    return _per_group(d, group_key(d, by), _groups(snapshot, by), fn)


def deal_sizes(snapshot: Snapshot, by: str | None = None,
               since: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Average deal size: amounts of deals won in the window and of the open pipeline.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``n_won``, ``won_amount_total``, ``won_amount_mean``,
        ``won_amount_median``, ``n_open``, ``open_amount_total``, ``open_amount_mean``,
        ``open_amount_median`` (mean/median NaN for no deals, totals 0).
    """
    start = _since(snapshot, since)
    d = snapshot.deals
    won = d[_closed_in(d, start) & (d["status"] == "won")]
    opn = snapshot.open_deals
    groups = _groups(snapshot, by)
    won_part = _per_group(won, group_key(won, by), groups, lambda g: {
        "n_won": len(g), "won_amount_total": float(g["amount"].sum()),
        "won_amount_mean": _mean(g["amount"]), "won_amount_median": _median(g["amount"])})
    open_part = _per_group(opn, group_key(opn, by), groups, lambda g: {
        "n_open": len(g), "open_amount_total": float(g["amount"].sum()),
        "open_amount_mean": _mean(g["amount"]), "open_amount_median": _median(g["amount"])})
    return won_part.merge(open_part, on="group")


# --------------------------------------------------------------------------- win rate


def beta_interval(won: int, lost: int, level: float = 0.9,
                  prior: tuple[float, float] = (1.0, 1.0)) -> tuple[float, float, float]:
    """Posterior mean and equal-tailed credible interval of a win rate.

    With a ``Beta(a, b)`` prior and ``won`` wins out of ``won + lost`` closed deals the
    posterior is ``Beta(a + won, b + lost)``.

    Parameters
    ----------
    won, lost
        Counts of closed deals.
    level
        Posterior mass inside the interval (0.9: the 5% and 95% quantiles).
    prior
        ``(a, b)`` of the Beta prior; ``(1, 1)`` is uniform.

    Returns
    -------
    tuple of float
        ``(mean, lo, hi)``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    a, b = prior[0] + won, prior[1] + lost
    tail = (1 - level) / 2
    lo, hi = stats.beta.ppf([tail, 1 - tail], a, b)
    return float(a / (a + b)), float(lo), float(hi)


def win_rates(snapshot: Snapshot, by: str | None = None,
              since: str | pd.Timestamp | None = None, level: float = 0.9,
              prior: tuple[float, float] = (1.0, 1.0)) -> pd.DataFrame:
    """Win rate of deals closed in the window, with a Beta-posterior credible interval.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``n_won``, ``n_lost``, ``n_closed``, ``win_rate`` (won / closed, NaN
        when none closed), ``win_rate_mean`` (posterior mean), ``win_rate_lo``,
        ``win_rate_hi`` (the ``level`` equal-tailed interval of
        ``Beta(a + won, b + lost)``; the prior's interval when none closed).
    """
    counts = deal_counts(snapshot, by, since)[["group", "n_won", "n_lost", "n_closed"]]
    post = [beta_interval(w, lo, level, prior)
            for w, lo in zip(counts["n_won"], counts["n_lost"], strict=True)]
    out = counts.copy()
    out["win_rate"] = out["n_won"] / out["n_closed"].where(out["n_closed"] > 0)
    out["win_rate_mean"] = [p[0] for p in post]
    out["win_rate_lo"] = [p[1] for p in post]
    out["win_rate_hi"] = [p[2] for p in post]
    return out


# --------------------------------------------------------------------------- cycle length


@dataclass(frozen=True)
class CycleLength:
    """Time from creation to a win, as a Kaplan–Meier estimate.

    Attributes
    ----------
    summary
        One row per group: ``group``, ``n_deals`` (deals in the estimate), ``n_won``
        (events), ``n_censored`` (lost or still open), ``median_days_to_win`` and its
        confidence interval ``median_lo``/``median_hi`` (``inf`` when not bounded above),
        ``n_won_closed`` (wins closed in the window), ``mean_won_cycle_days`` and
        ``median_won_cycle_days`` (naive: over won deals only).
    curves
        The step functions: ``group``, ``days``, ``surv_prob`` (estimated share of deals
        not yet won ``days`` days after creation), ``surv_prob_se``, ``n_at_risk``,
        ``n_won``; one row per day with a win.
    level
        Confidence level of the median's interval.
    """

    summary: pd.DataFrame
    curves: pd.DataFrame
    level: float


def _km_frame(snapshot: Snapshot, since: pd.Timestamp | None) -> pd.DataFrame:
    """Deals at risk in the window: ``time`` (days), ``event`` (won), ``entry``."""
    d = snapshot.deals
    keep = (d["status"] == "open") | _closed_in(d, since)
    d = d[keep]
    # age_days is (closed_at or as_of) − created_at: the win time or the censoring time
    out = d.assign(time=d["age_days"].astype(float), event=(d["status"] == "won").astype(float))
    if since is not None:
        # left truncation: a deal created before `since` is observed from day (since − created)
        # on; statsmodels keeps a deal in the risk set at t only if entry < t
        lag = (since - d["created_at"]).dt.days.clip(lower=0)
        out["entry"] = lag - 0.5
    return out


def _km(sub: pd.DataFrame) -> SurvfuncRight | None:
    if sub.empty:
        return None
    entry = sub["entry"].to_numpy() if "entry" in sub else None
    return SurvfuncRight(sub["time"].to_numpy(), sub["event"].to_numpy(), entry=entry)


def cycle_length(snapshot: Snapshot, by: str | None = None,
                 since: str | pd.Timestamp | None = None, level: float = 0.9) -> CycleLength:
    """Sales-cycle length: Kaplan–Meier time from creation to win, lost and open censored.

    Every deal open at ``as_of`` or closed in the window enters the estimate: a won deal
    is an event at its cycle length (``closed_at − created_at`` in days), a lost deal is
    censored at its close, an open deal at ``as_of``. With ``since``, deals created before
    it are left-truncated (they join the risk set at the age they had on ``since``).
    Uses :class:`statsmodels.duration.survfunc.SurvfuncRight`; the median is its
    ``quantile(0.5)`` (first day the estimate drops strictly below 0.5) and the interval
    its ``quantile_ci`` (cloglog) at ``level``.

    Returns
    -------
    CycleLength
    """
    start = _since(snapshot, since)
    km = _km_frame(snapshot, start)
    d = snapshot.deals
    won = d[_closed_in(d, start) & (d["status"] == "won")]
    won_naive = _per_group(won, group_key(won, by), _groups(snapshot, by), lambda g: {
        "n_won_closed": len(g), "mean_won_cycle_days": _mean(g["age_days"]),
        "median_won_cycle_days": _median(g["age_days"])})
    rows, curves = [], []
    parts = dict(iter(km.groupby(group_key(km, by), sort=False)))
    for group in _groups(snapshot, by):
        sub = parts.get(group, km.iloc[0:0])
        sf = _km(sub)
        med = lo = hi = float("nan")
        if sf is not None and len(sf.surv_times):
            with np.errstate(divide="ignore", invalid="ignore"):
                med = float(sf.quantile(0.5))
                lo, hi = (float(x) for x in sf.quantile_ci(0.5, alpha=1 - level))
            curves.append(pd.DataFrame({
                "group": group, "days": sf.surv_times, "surv_prob": sf.surv_prob,
                "surv_prob_se": sf.surv_prob_se, "n_at_risk": sf.n_risk,
                "n_won": sf.n_events}))
        rows.append({"group": group, "n_deals": len(sub), "n_won": int(sub["event"].sum()),
                     "n_censored": int(len(sub) - sub["event"].sum()),
                     "median_days_to_win": med, "median_lo": lo, "median_hi": hi})
    summary = pd.DataFrame(rows).merge(won_naive, on="group")
    cols = ["group", "days", "surv_prob", "surv_prob_se", "n_at_risk", "n_won"]
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=cols)
    return CycleLength(summary=summary, curves=curve, level=level)


def deal_lifetime(snapshot: Snapshot, by: str | None = None,
                  since: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Average deal lifetime: days from creation to close, and age of the open deals.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``n_closed``, ``mean_lifetime_days`` (deals closed in the window, won or
        lost), ``mean_won_lifetime_days``, ``mean_lost_lifetime_days``, ``n_open``,
        ``mean_open_age_days`` (``as_of − created_at`` of open deals).
    """
    start = _since(snapshot, since)
    d = snapshot.deals
    closed = d[_closed_in(d, start)]
    opn = snapshot.open_deals
    groups = _groups(snapshot, by)
    c = _per_group(closed, group_key(closed, by), groups, lambda g: {
        "n_closed": len(g), "mean_lifetime_days": _mean(g["age_days"]),
        "mean_won_lifetime_days": _mean(g.loc[g["status"] == "won", "age_days"]),
        "mean_lost_lifetime_days": _mean(g.loc[g["status"] == "lost", "age_days"])})
    o = _per_group(opn, group_key(opn, by), groups, lambda g: {
        "n_open": len(g), "mean_open_age_days": _mean(g["age_days"])})
    return c.merge(o, on="group")


def pipeline_velocity(snapshot: Snapshot, by: str | None = None,
                      since: str | pd.Timestamp | None = None,
                      cycle: str = "mean_won") -> pd.DataFrame:
    """Pipeline velocity: expected revenue per day the open pipeline turns into.

    ``velocity_per_day = n_open × win_rate × won_amount_mean / cycle_days`` and
    ``velocity_per_month = velocity_per_day × 30.44``.

    Parameters
    ----------
    cycle
        ``"mean_won"``: the mean cycle of deals won in the window (the classic formula);
        ``"km_median"``: the Kaplan–Meier median time to win.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``n_open``, ``win_rate``, ``won_amount_mean``, ``cycle_days``,
        ``velocity_per_day``, ``velocity_per_month`` (NaN when a factor is undefined
        or ``cycle_days`` is 0).
    """
    if cycle not in ("mean_won", "km_median"):
        raise ValueError(f"cycle must be 'mean_won' or 'km_median', got {cycle!r}")
    wr = win_rates(snapshot, by, since)[["group", "win_rate"]]
    size = deal_sizes(snapshot, by, since)[["group", "n_open", "won_amount_mean"]]
    cyc = cycle_length(snapshot, by, since).summary
    col = "mean_won_cycle_days" if cycle == "mean_won" else "median_days_to_win"
    out = size[["group", "n_open"]].merge(wr, on="group").merge(
        size[["group", "won_amount_mean"]], on="group").merge(
        cyc[["group", col]].rename(columns={col: "cycle_days"}), on="group")
    days = out["cycle_days"].where(out["cycle_days"] > 0)
    out["velocity_per_day"] = out["n_open"] * out["win_rate"] * out["won_amount_mean"] / days
    out["velocity_per_month"] = out["velocity_per_day"] * DAYS_PER_MONTH
    return out


# --------------------------------------------------------------------------- funnel, stale


def funnel(snapshot: Snapshot, by: str | None = None,
           since: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Stage-to-stage conversion of the deals created in the window.

    A deal reached stage ``s`` if the furthest stage it entered by ``as_of`` (its
    ``stage_idx``; the maximum ``stage_idx`` of its spells) is ``≥ s``, so a deal that
    skipped ``s`` counts as having reached it.

    Returns
    -------
    pandas.DataFrame
        One row per group and stage: ``group``, ``stage``, ``stage_idx``, ``reached``,
        ``advanced`` (reached ``s + 1``), ``won``/``lost``/``still_open`` (furthest stage
        is ``s`` and the deal is won/lost/open), ``conversion_to_next`` =
        ``advanced / (advanced + won + lost)`` (deals whose fate at ``s`` is decided; NaN
        at the last stage or with none decided), ``won_after``/``lost_after`` (deals that
        reached ``s`` and were won/lost at any later point), ``win_rate_from_stage`` =
        ``won_after / (won_after + lost_after)``.
    """
    start = _since(snapshot, since)
    d = snapshot.deals[_created_in(snapshot.deals, start)]
    stages = snapshot.stages
    last = len(stages) - 1

    def fn(g: pd.DataFrame) -> list[dict]:
        k, status = g["stage_idx"].to_numpy(), g["status"].to_numpy()
        rows = []
        for s, name in enumerate(stages):
            at, after = k == s, k >= s
            adv = int((k > s).sum())
            won, lost = int((at & (status == "won")).sum()), int((at & (status == "lost")).sum())
            won_after = int((after & (status == "won")).sum())
            lost_after = int((after & (status == "lost")).sum())
            decided = adv + won + lost
            rows.append({
                "stage": name, "stage_idx": s, "reached": int(after.sum()), "advanced": adv,
                "won": won, "lost": lost, "still_open": int((at & (status == "open")).sum()),
                "conversion_to_next": adv / decided if s < last and decided else np.nan,
                "won_after": won_after, "lost_after": lost_after,
                "win_rate_from_stage": (won_after / (won_after + lost_after)
                                        if won_after + lost_after else np.nan),
            })
        return rows

    parts = dict(iter(d.groupby(group_key(d, by), sort=False)))
    frames = [pd.DataFrame(fn(parts.get(g, d.iloc[0:0]))).assign(group=g)
              for g in _groups(snapshot, by)]
    out = pd.concat(frames, ignore_index=True)
    return out[["group", *[c for c in out.columns if c != "group"]]]


def _won_spells(snapshot: Snapshot, since: pd.Timestamp | None) -> pd.DataFrame:
    """Stage spells of deals won in the window, with ``days`` spent and the deal's groups."""
    d = snapshot.deals
    won = d[_closed_in(d, since) & (d["status"] == "won")].set_index("deal_id")
    sp = snapshot.spells[snapshot.spells["deal_id"].isin(won.index)]
    return sp.assign(days=(sp["end"] - sp["start"]).dt.days,
                     team=sp["deal_id"].map(won["team"]))


def stage_time_thresholds(snapshot: Snapshot, quantile: float = 0.9,
                          since: str | pd.Timestamp | None = None,
                          by: str | None = None) -> pd.DataFrame:
    """Per stage, the ``quantile`` of days that deals which went on to win spent there.

    Uses the spells (stays in a stage) of deals won in the window; the quantile is
    numpy's default (linear interpolation). NaN where no won deal passed through a stage.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``stage``, ``stage_idx``, ``n_won_spells``, ``threshold_days``.
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    sp = _won_spells(snapshot, _since(snapshot, since))
    parts = dict(iter(sp.groupby(group_key(sp, by), sort=False)))
    rows = []
    for group in _groups(snapshot, by):
        sub = parts.get(group, sp.iloc[0:0])
        for s, name in enumerate(snapshot.stages):
            days = sub.loc[sub["stage_idx"] == s, "days"].to_numpy(dtype=float)
            rows.append({"group": group, "stage": name, "stage_idx": s, "n_won_spells": len(days),
                         "threshold_days": float(np.quantile(days, quantile)) if len(days)
                         else np.nan})
    return pd.DataFrame(rows)


def stale_deals(snapshot: Snapshot, quantile: float = 0.9,
                since: str | pd.Timestamp | None = None, by: str | None = None,
                group_thresholds: bool = False) -> pd.DataFrame:
    """Open deals that have been in their stage longer than won deals usually needed.

    A deal open at ``as_of`` is stale when ``days_in_stage > threshold_days`` of its stage
    (see :func:`stage_time_thresholds`). Stages without a threshold flag nothing.

    Parameters
    ----------
    quantile
        Quantile of won deals' time in the stage used as threshold (0.9 = P90).
    by
        Grouping written in the ``group`` column.
    group_thresholds
        If True each group gets thresholds from its own won deals; by default the
        thresholds come from all won deals (one norm for the company).

    Returns
    -------
    pandas.DataFrame
        One row per stale deal, longest overdue first: ``group``, ``deal_id``, ``owner``,
        ``team``, ``segment``, ``stage``, ``stage_idx``, ``days_in_stage``,
        ``threshold_days``, ``excess_days``, ``amount``.
    """
    thr = stage_time_thresholds(snapshot, quantile, since, by if group_thresholds else None)
    opn = snapshot.open_deals
    opn = opn.assign(group=group_key(opn, by).to_numpy())
    keys = ["group", "stage_idx"] if group_thresholds else ["stage_idx"]
    merged = opn.merge(thr[[*keys, "threshold_days"]], on=keys, how="left")
    stale = merged[merged["days_in_stage"] > merged["threshold_days"]]
    stale = stale.assign(excess_days=stale["days_in_stage"] - stale["threshold_days"])
    cols = ["group", "deal_id", "owner", "team", "segment", "stage", "stage_idx",
            "days_in_stage", "threshold_days", "excess_days", "amount"]
    return stale.sort_values(["excess_days", "deal_id"], ascending=[False, True])[cols] \
        .reset_index(drop=True)


# --------------------------------------------------------------------------- summary


def pipeline_summary(snapshot: Snapshot, by: str | None = None,
                     since: str | pd.Timestamp | None = None, level: float = 0.9,
                     stale_quantile: float = 0.9) -> pd.DataFrame:
    """One row per group with the key metrics, for reports.

    Returns
    -------
    pandas.DataFrame
        ``group``, counts (``n_open``, ``n_leads``, ``n_created``, ``n_won``, ``n_lost``),
        ``win_rate``/``win_rate_lo``/``win_rate_hi``, ``won_amount_mean``,
        ``won_amount_median``, ``open_amount_total``, ``open_amount_mean``,
        ``median_days_to_win`` (Kaplan–Meier), ``mean_won_cycle_days`` (naive),
        ``mean_lifetime_days``, ``mean_open_age_days``, ``velocity_per_month``,
        ``n_stale``, ``stale_amount``.
    """
    counts = deal_counts(snapshot, by, since).drop(columns="n_closed")
    wr = win_rates(snapshot, by, since, level)[["group", "win_rate", "win_rate_lo",
                                                 "win_rate_hi"]]
    size = deal_sizes(snapshot, by, since)[["group", "won_amount_mean", "won_amount_median",
                                            "open_amount_total", "open_amount_mean"]]
    cyc = cycle_length(snapshot, by, since, level).summary[
        ["group", "median_days_to_win", "mean_won_cycle_days"]]
    life = deal_lifetime(snapshot, by, since)[["group", "mean_lifetime_days",
                                               "mean_open_age_days"]]
    vel = pipeline_velocity(snapshot, by, since)[["group", "velocity_per_month"]]
    stale = stale_deals(snapshot, stale_quantile, since, by)
    st = stale.groupby("group").agg(n_stale=("deal_id", "size"), stale_amount=("amount", "sum"))
    out = counts
    for part in (wr, size, cyc, life, vel):
        out = out.merge(part, on="group")
    out["n_stale"] = out["group"].map(st["n_stale"]).fillna(0).astype(int)
    out["stale_amount"] = out["group"].map(st["stale_amount"]).fillna(0.0).astype(float)
    return out


def monthly_booked(snapshot: Snapshot, months: int = 12) -> pd.Series:
    """Won revenue per calendar month over the ``months`` before ``as_of``."""
    won = snapshot.deals[snapshot.deals["status"] == "won"]
    end = snapshot.as_of.to_period("M")
    index = pd.period_range(end - months + 1, end, freq="M")
    series = won.groupby(won["closed_at"].dt.to_period("M"))["amount"].sum()
    return series.reindex(index, fill_value=0.0)


def quarter_linearity(snapshot: Snapshot, quarters: int = 8) -> pd.DataFrame:
    """How a quarter's bookings fall over its months ("linearity"), per full calendar
    quarter ended by ``as_of`` and begun after the first deal was created (the last
    ``quarters`` of them).

    Returns
    -------
    pandas.DataFrame
        ``quarter`` (``YYYY-Qn``), ``booked``, then ``share_1``, ``share_2``, ``share_3``
        (each month's share of the quarter's won revenue) and ``won_1``..``won_3`` (won
        deals); empty when no full quarter with bookings has ended.
    """
    deals = snapshot.deals
    won = deals[deals["status"] == "won"]
    last = (snapshot.as_of + pd.Timedelta(days=1)).to_period("Q") - 1  # the last full one
    first = deals["created_at"].min()  # the data's start: quarters before it are partial
    if pd.isna(first):
        return pd.DataFrame(columns=["quarter", "booked", "share_1", "share_2", "share_3",
                                     "won_1", "won_2", "won_3"])
    first_full = max(first.to_period("Q") + (0 if first.is_quarter_start else 1),
                     last - quarters + 1)
    rows = []
    for q in pd.period_range(first_full, last, freq="Q") if first_full <= last else []:
        inq = won[won["closed_at"].dt.to_period("Q") == q]
        place = (inq["closed_at"].dt.month - 1) % 3 + 1
        booked = inq.groupby(place)["amount"].sum().reindex([1, 2, 3], fill_value=0.0)
        count = inq.groupby(place).size().reindex([1, 2, 3], fill_value=0)
        total = float(booked.sum())
        if total <= 0:
            continue
        rows.append({"quarter": f"{q.year}-Q{q.quarter}", "booked": total,
                     **{f"share_{k}": float(booked[k]) / total for k in (1, 2, 3)},
                     **{f"won_{k}": int(count[k]) for k in (1, 2, 3)}})
    return pd.DataFrame(rows, columns=["quarter", "booked", "share_1", "share_2", "share_3",
                                       "won_1", "won_2", "won_3"])
