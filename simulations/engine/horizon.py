"""The forecast horizon: calendar months after ``as_of``, in day offsets from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.periods import month_periods


@dataclass(frozen=True)
class Horizon:
    """Months simulated after ``as_of``.

    Month 1 is the month holding ``as_of`` + 1 day (so a month-end ``as_of`` starts with
    the next month; a mid-month one with the rest of its own month). Day offsets count
    from ``as_of``: day 1 is the day after it.

    Attributes
    ----------
    as_of
        Forecast date.
    months
        ``YYYY-MM`` labels.
    first_day, last_day
        Day offsets of each month's first and last simulated day.
    """

    as_of: pd.Timestamp
    months: tuple[str, ...]
    first_day: np.ndarray
    last_day: np.ndarray

    @property
    def n_months(self) -> int:
        return len(self.months)

    @property
    def days(self) -> int:
        return int(self.last_day[-1])

    @property
    def weeks(self) -> int:
        return int(np.ceil(self.days / 7))

    def day_month(self) -> np.ndarray:
        """Month index of every day offset ``0 .. 7·weeks + 7`` (−1 outside the horizon)."""
        out = np.full(7 * self.weeks + 8, -1, dtype=np.int64)
        for m in range(self.n_months):
            out[self.first_day[m]: self.last_day[m] + 1] = m
        return out

    def month_of_year(self) -> np.ndarray:
        return np.array([int(m[5:]) for m in self.months])

    def fraction_of_month(self) -> np.ndarray:
        """Share of each calendar month inside the horizon (the first may be partial)."""
        sizes = np.array([pd.Period(m, "M").days_in_month for m in self.months])
        return (self.last_day - self.first_day + 1) / sizes


def make_horizon(as_of: str | pd.Timestamp, n_months: int) -> Horizon:
    """The ``n_months`` calendar months after ``as_of``."""
    if n_months < 1:
        raise ValueError("the horizon must be at least one month")
    as_of = pd.Timestamp(as_of).normalize()
    months = month_periods(as_of, n_months)
    periods = [pd.Period(m, "M") for m in months]
    first = [max((p.start_time - as_of).days, 1) for p in periods]
    last = [(p.end_time.normalize() - as_of).days for p in periods]
    return Horizon(as_of=as_of, months=tuple(months), first_day=np.array(first),
                   last_day=np.array(last))
