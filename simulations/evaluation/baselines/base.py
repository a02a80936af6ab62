"""What every baseline shares: the horizon's months, the base classes, deal timing."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from forecast.data.snapshot import Snapshot
from simulations.engine.horizon import make_horizon

OTHER = "(other)"
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


# --------------------------------------------------------------------------- months


def first_month(as_of: str | pd.Timestamp) -> pd.Period:
    """Month 1 of a forecast made at ``as_of``: the month holding ``as_of + 1 day``."""
    return (pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)).to_period("M")


def horizon_months(as_of: str | pd.Timestamp, horizon: int) -> list[str]:
    """The ``horizon`` months after ``as_of`` as ``YYYY-MM`` strings (month 1 first).

    The same months as :func:`simulations.engine.horizon.make_horizon`.

    Parameters
    ----------
    as_of
        The forecast date.
    horizon
        Number of months (>= 1).
    """
    return list(make_horizon(as_of, horizon).months)


def _parse_months(month_periods: Iterable[str | pd.Period], as_of: pd.Timestamp
                  ) -> list[pd.Period]:
    first = first_month(as_of)
    periods = []
    for m in month_periods:
        if isinstance(m, pd.Period):
            p = m.asfreq("M")
        elif isinstance(m, str) and MONTH_RE.match(m.strip()):
            p = pd.Period(m.strip(), freq="M")
        else:
            raise ValueError(f"month {m!r} is not a YYYY-MM month")
        if p < first:
            raise ValueError(f"month {p} is not after as_of={as_of.date()}: the first month "
                             f"of the horizon is {first}")
        periods.append(p)
    return periods


def first_month_fraction(as_of: pd.Timestamp) -> float:
    """Share of month 1 that lies after ``as_of`` (1.0 for a month-end ``as_of``)."""
    first = first_month(as_of)
    remaining = (first.end_time.normalize() - pd.Timestamp(as_of).normalize()).days
    return min(remaining, first.days_in_month) / first.days_in_month


def _close_months(dates: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Calendar month of each date; dates on or before ``as_of`` go to month 1."""
    dates = pd.to_datetime(dates).astype("datetime64[ns]")
    first = first_month(as_of)
    months = dates.dt.to_period("M")
    return months.where(~(dates <= as_of), first)


# --------------------------------------------------------------------------- base classes


class Baseline:
    """Common interface of the baselines: ``fit(snapshot)`` then ``predict_revenue``."""

    name: str = "baseline"

    def __init__(self) -> None:
        self.snapshot_: Snapshot | None = None

    @property
    def as_of(self) -> pd.Timestamp:
        return self._fitted().as_of

    def _fitted(self) -> Snapshot:
        if self.snapshot_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(snapshot) first")
        return self.snapshot_

    def fit(self, snapshot: Snapshot) -> Baseline:  # pragma: no cover - abstract
        raise NotImplementedError

    def _contributions(self, periods: list[pd.Period]) -> pd.DataFrame:
        """Expected revenue rows ``owner``, ``month`` (Period), ``revenue``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def owners(self) -> list[str]:
        """Every rep with a deal in the snapshot (the columns of a per-owner forecast)."""
        return sorted(self._fitted().deals["owner"].unique())

    def predict_revenue(self, month_periods: Sequence[str | pd.Period], *,
                        by_owner: bool = False) -> pd.Series | pd.DataFrame:
        """Expected booked revenue per month (point forecast).

        Parameters
        ----------
        month_periods
            ``YYYY-MM`` months, none before month 1 (the month holding ``as_of + 1 day``).
        by_owner
            Split by rep.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            A Series indexed by month (``YYYY-MM``, in the order given) named ``revenue``;
            with ``by_owner`` a frame of months by owners (every rep in the snapshot),
            whose row sums are the Series.
        """
        snap = self._fitted()
        periods = _parse_months(month_periods, snap.as_of)
        labels = [str(p) for p in periods]
        contrib = self._contributions(periods)
        contrib = contrib[contrib["month"].isin(set(periods))]
        owners = self.owners()
        table = (contrib.assign(month=contrib["month"].astype(str))
                 .pivot_table(index="month", columns="owner", values="revenue",
                              aggfunc="sum", fill_value=0.0)
                 .reindex(index=labels, columns=owners, fill_value=0.0)
                 .astype(float))
        table.index.name = "month"
        table.columns.name = "owner"
        if by_owner:
            return table
        return table.sum(axis=1).rename("revenue")


class _TimeToClose:
    """Historical time from entering a stage to being won, for timing open deals.

    For each stage ``s``: the days from the start of the spell in ``s`` to ``closed_at``
    of every deal that had a spell in ``s`` and was won by ``as_of``.
    """

    def __init__(self, snapshot: Snapshot) -> None:
        deals = snapshot.deals
        won = deals.loc[deals["status"] == "won", ["deal_id", "closed_at"]]
        spells = snapshot.spells[["deal_id", "stage_idx", "start"]].merge(won, on="deal_id")
        days = (spells["closed_at"] - spells["start"]).dt.days.to_numpy(dtype=float)
        self.by_stage = {int(s): np.sort(days[(spells["stage_idx"] == s).to_numpy()])
                         for s in spells["stage_idx"].unique()}
        self.pooled = np.sort(days)

    @staticmethod
    def _conditional_median(times: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
        """Median of ``T - d`` over ``T > d`` for each elapsed ``d``; 0 where no ``T > d``.

        ``times`` is sorted and not empty.
        """
        k = np.searchsorted(times, elapsed, side="right")
        m = len(times) - k
        safe = np.maximum(m, 1)
        lo = np.minimum(k + (safe - 1) // 2, len(times) - 1)
        hi = np.minimum(k + safe // 2, len(times) - 1)
        med = (times[lo] + times[hi]) / 2 - elapsed
        return np.where(m > 0, med, 0.0)

    def remaining_days(self, stage_idx: np.ndarray, days_in_stage: np.ndarray) -> np.ndarray:
        """Expected days from ``as_of`` to close (>= 0; 0 = overdue → month 1).

        The median remaining time ``T - d`` over historical won deals from the same stage
        that were still open ``d`` days after entering it (``T > d``), ``d`` being the
        deal's days in stage; the result is rounded up to whole days. Stages with no won history use all stages pooled; with no
        won deal at all every deal is due at once (month 1).
        """
        stage_idx = np.asarray(stage_idx, dtype=int)
        elapsed = np.asarray(days_in_stage, dtype=float)
        out = np.zeros(len(stage_idx))
        for s in np.unique(stage_idx):
            mask = stage_idx == s
            times = self.by_stage.get(int(s), self.pooled)
            if len(times):
                out[mask] = self._conditional_median(times, elapsed[mask])
        return np.ceil(out)


class DealBaseline(Baseline):
    """A baseline that forecasts each open deal: ``p_win * amount`` at one close date."""

    def __init__(self) -> None:
        super().__init__()
        self.deal_forecasts_: pd.DataFrame | None = None
        self._timing: _TimeToClose | None = None

    def fit(self, snapshot: Snapshot) -> DealBaseline:
        """Learn from ``snapshot`` and forecast its open deals.

        Parameters
        ----------
        snapshot
            What was known at ``as_of``.

        Returns
        -------
        self
        """
        self.snapshot_ = snapshot
        self._timing = _TimeToClose(snapshot)
        self._learn(snapshot)
        open_ = snapshot.open_deals
        p = self.predict_proba(open_) if len(open_) else np.zeros(0)
        close = self._close_dates(snapshot, open_)
        self.deal_forecasts_ = pd.DataFrame({
            "deal_id": open_["deal_id"].to_numpy(),
            "owner": open_["owner"].to_numpy(),
            "stage": open_["stage"].to_numpy(),
            "amount": open_["amount"].to_numpy(dtype=float),
            "p_win": p,
            "expected_revenue": p * open_["amount"].to_numpy(dtype=float),
            "close_date": close.to_numpy(),
            "close_month": _close_months(close, snapshot.as_of).to_numpy(),
        })
        return self

    def _learn(self, snapshot: Snapshot) -> None:
        """Fit whatever ``predict_proba`` needs (nothing by default)."""

    def predict_proba(self, deals: pd.DataFrame) -> np.ndarray:  # pragma: no cover
        """Win probability of each deal (rows of a snapshot's ``deals``)."""
        raise NotImplementedError

    def _timed_dates(self, snapshot: Snapshot, deals: pd.DataFrame) -> pd.Series:
        """Close dates from the historical time to close (``as_of`` + remaining days)."""
        if self._timing is None:
            raise RuntimeError("not fitted")
        days = self._timing.remaining_days(deals["stage_idx"].to_numpy(),
                                           deals["days_in_stage"].to_numpy())
        dates = snapshot.as_of + pd.to_timedelta(days, unit="D")
        return pd.Series(dates, index=deals.index).astype("datetime64[ns]")

    def _close_dates(self, snapshot: Snapshot, deals: pd.DataFrame) -> pd.Series:
        return self._timed_dates(snapshot, deals)

    def total(self) -> float:
        """Sum of ``p_win * amount`` over all open deals, whatever their close date."""
        self._fitted()
        return float(self.deal_forecasts_["expected_revenue"].sum())

    def _contributions(self, periods: list[pd.Period]) -> pd.DataFrame:
        f = self.deal_forecasts_
        return pd.DataFrame({"owner": f["owner"], "month": f["close_month"],
                             "revenue": f["expected_revenue"]})


def stage_positions(snapshot: Snapshot, deals: pd.DataFrame) -> np.ndarray:
    """Stage position of each deal (from ``stage_idx`` or the ``stage`` name)."""
    if "stage_idx" in deals:
        return deals["stage_idx"].to_numpy(dtype=int)
    index = {s: i for i, s in enumerate(snapshot.stages)}
    idx = deals["stage"].map(index)
    if idx.isna().any():
        bad = sorted(set(deals.loc[idx.isna(), "stage"]))
        raise ValueError(f"unknown stages {bad}; pipeline stages are {list(snapshot.stages)}")
    return idx.to_numpy(dtype=int)
