"""The run-rate baseline: trailing booked revenue, flat over the horizon."""

from __future__ import annotations

import pandas as pd

from forecast.data.snapshot import Snapshot
from simulations.evaluation.baselines.base import Baseline, first_month, first_month_fraction


class RunRate(Baseline):
    """Trailing average of booked revenue, flat over the horizon.

    The rate is the revenue of deals won in the ``window_months`` calendar months up to
    ``as_of`` (``(as_of - window, as_of]``) divided by ``window_months``; if the data start
    (first ``created_at``) is inside the window, by the months actually covered. Each
    month of the horizon gets the rate, month 1 only its share after ``as_of``. Per owner
    the same from each rep's wins.

    Parameters
    ----------
    window_months
        Length of the trailing window.

    Attributes
    ----------
    monthly_rate_
        Company revenue per month.
    owner_rates_
        Series of revenue per month by owner.
    """

    name = "run_rate"

    def __init__(self, window_months: int = 3) -> None:
        super().__init__()
        if window_months < 1:
            raise ValueError("window_months must be at least 1")
        self.window_months = window_months
        self.monthly_rate_: float | None = None
        self.owner_rates_: pd.Series | None = None

    def fit(self, snapshot: Snapshot) -> RunRate:
        """Compute the trailing rate from deals won by ``snapshot.as_of``.

        Parameters
        ----------
        snapshot
            What was known at ``as_of``.

        Returns
        -------
        self
        """
        self.snapshot_ = snapshot
        as_of = snapshot.as_of
        start = as_of - pd.DateOffset(months=self.window_months)
        deals = snapshot.deals
        data_start = deals["created_at"].min() - pd.Timedelta(days=1)
        covered_from = max(start, data_start)
        covered = self.window_months * (as_of - covered_from).days / (as_of - start).days
        won = deals[(deals["status"] == "won") & (deals["closed_at"] > start)
                    & (deals["closed_at"] <= as_of)]
        by_owner = won.groupby("owner")["amount"].sum()
        by_owner = by_owner.reindex(sorted(deals["owner"].unique()), fill_value=0.0)
        self.owner_rates_ = (by_owner / covered if covered > 0 else by_owner * 0.0).astype(float)
        self.monthly_rate_ = float(self.owner_rates_.sum())
        return self

    def _contributions(self, periods: list[pd.Period]) -> pd.DataFrame:
        first = first_month(self.as_of)
        frac = first_month_fraction(self.as_of)
        rows = []
        for p in periods:
            share = frac if p == first else 1.0
            rows.append(pd.DataFrame({"owner": self.owner_rates_.index,
                                      "month": p, "revenue": self.owner_rates_.to_numpy() * share}))
        if not rows:
            return pd.DataFrame({"owner": [], "month": [], "revenue": []})
        return pd.concat(rows, ignore_index=True)
