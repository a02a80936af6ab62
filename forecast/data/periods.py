"""Calendar periods as text: months ``YYYY-MM`` and quarters ``YYYY-Qn``.

Quotas, forecasts and reports name periods this way (see CONTRACT.md). Every bound
returned here is a *date* (midnight ``Timestamp``) and both ends are inclusive, matching
the inclusive ``as_of`` of a :class:`~forecast.data.snapshot.Snapshot`: a deal closed on
``end`` belongs to the period.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_PERIOD = re.compile(r"^(\d{4})-(?:(0[1-9]|1[0-2])|[Qq]([1-4]))$")


def _parse(period: str) -> tuple[int, int | None, int | None]:
    match = _PERIOD.match(str(period).strip())
    if match is None:
        raise ValueError(f"period {period!r} must be YYYY-MM or YYYY-Qn (e.g. 2024-03, 2024-Q1)")
    year, month, quarter = match.groups()
    return int(year), int(month) if month else None, int(quarter) if quarter else None


def period_bounds(period: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of a period, both inclusive.

    Parameters
    ----------
    period
        ``YYYY-MM`` (a calendar month) or ``YYYY-Qn`` (a calendar quarter, ``n`` in 1..4;
        a lower-case ``q`` is accepted).

    Returns
    -------
    tuple of pandas.Timestamp
        ``(start, end)`` at midnight; a date ``d`` is in the period iff ``start <= d <= end``.

    Examples
    --------
    >>> period_bounds("2024-02")
    (Timestamp('2024-02-01 00:00:00'), Timestamp('2024-02-29 00:00:00'))
    >>> period_bounds("2024-Q4")
    (Timestamp('2024-10-01 00:00:00'), Timestamp('2024-12-31 00:00:00'))
    """
    year, month, quarter = _parse(period)
    first_month = month if month is not None else 3 * (quarter - 1) + 1
    n_months = 1 if month is not None else 3
    start = pd.Timestamp(year=year, month=first_month, day=1)
    end = start + pd.DateOffset(months=n_months) - pd.Timedelta(days=1)
    return start, pd.Timestamp(end)


def quarter_of(month: str | pd.Timestamp) -> str:
    """The ``YYYY-Qn`` quarter of a month ``YYYY-MM`` (or of a date).

    Examples
    --------
    >>> quarter_of("2024-05")
    '2024-Q2'
    """
    if isinstance(month, str) and _PERIOD.match(month.strip()):
        year, m, q = _parse(month)
        if q is not None:
            return f"{year}-Q{q}"
    else:
        ts = pd.Timestamp(month)
        year, m = ts.year, ts.month
    return f"{year}-Q{(m - 1) // 3 + 1}"


def months_of(period: str) -> list[str]:
    """The ``YYYY-MM`` months making up a period (one for a month, three for a quarter)."""
    start, end = period_bounds(period)
    return [p.strftime("%Y-%m") for p in pd.period_range(start, end, freq="M")]


def month_periods(as_of: str | pd.Timestamp, horizon: int) -> list[str]:
    """The ``horizon`` calendar months a forecast made at ``as_of`` covers.

    The first month is the month of the day after ``as_of``: if ``as_of`` is the last
    day of a month, the next month comes first; otherwise the (rest of the) month of
    ``as_of`` is the first period.

    Parameters
    ----------
    as_of
        The snapshot date (inclusive: everything up to and including it is known).
    horizon
        Number of months (≥ 0).

    Returns
    -------
    list of str
        ``YYYY-MM`` strings, consecutive, ``horizon`` of them.

    Examples
    --------
    >>> month_periods("2024-01-31", 2)
    ['2024-02', '2024-03']
    >>> month_periods("2024-01-15", 2)
    ['2024-01', '2024-02']
    """
    if horizon < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    first = (pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)).to_period("M")
    return [(first + k).strftime("%Y-%m") for k in range(int(horizon))]


#: slots of the (fiscal) quarter a week can fall in (see :func:`quarter_slot`)
QUARTER_SLOTS: tuple[str, ...] = ("month 1", "month 2", "month 3", "last two weeks")
#: days at the end of a quarter that make its own slot
QUARTER_END_DAYS = 14


def _check_fiscal_year_start(fiscal_year_start: int) -> int:
    if isinstance(fiscal_year_start, bool) or int(fiscal_year_start) != fiscal_year_start \
            or not 1 <= fiscal_year_start <= 12:
        raise ValueError(f"fiscal_year_start must be a month number 1..12, not "
                         f"{fiscal_year_start!r}")
    return int(fiscal_year_start)


def quarter_slot_and_change(days: np.ndarray,
                            fiscal_year_start: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The :func:`quarter_slot` of each date and the first later date in another slot
    (``datetime64[D]``): every date from ``days`` to the day before it is in that slot.

    Examples
    --------
    >>> slot, change = quarter_slot_and_change(
    ...     np.array(["2024-01-05", "2024-03-01", "2024-03-20"], dtype="datetime64[D]"))
    >>> slot.tolist(), change.astype(str).tolist()
    ([0, 2, 3], ['2024-02-01', '2024-03-18', '2024-04-01'])
    """
    shift = _check_fiscal_year_start(fiscal_year_start) - 1
    d = np.asarray(days).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    month_of_quarter = (month.astype(np.int64) - shift) % 3
    next_month = (month + 1).astype("datetime64[D]")
    quarter_end = (month + (3 - month_of_quarter)).astype("datetime64[D]")  # next quarter's 1st
    late_from = quarter_end - QUARTER_END_DAYS
    late = d >= late_from
    slot = np.where(late, 3, month_of_quarter)
    change = np.where(late, quarter_end, np.where(month_of_quarter == 2, late_from, next_month))
    return slot, change


def quarter_slot(days: np.ndarray, fiscal_year_start: int = 1) -> np.ndarray:
    """The slot of :data:`QUARTER_SLOTS` of each date (``datetime64[D]`` or day numbers
    since 1970-01-01): the month of its fiscal quarter (0, 1, 2), or 3 in the quarter's
    last :data:`QUARTER_END_DAYS` days.

    Parameters
    ----------
    days
        Dates, ``datetime64`` or integer day numbers since 1970-01-01.
    fiscal_year_start
        Month (1..12) the fiscal year starts in; its quarters start every three months
        from it (1: calendar quarters; 2: February–April, May–July, …). "Month 3" and the
        last two weeks are those of the fiscal quarter.

    Returns
    -------
    numpy.ndarray
        ``int64`` slot codes 0..3, the shape of ``days``.

    Examples
    --------
    >>> quarter_slot(np.array(["2024-01-31", "2024-02-01", "2024-03-17", "2024-03-18",
    ...                        "2024-12-31"], dtype="datetime64[D]")).tolist()
    [0, 1, 2, 3, 3]

    With a fiscal year from February, quarters run February–April, May–July, …:

    >>> quarter_slot(np.array(["2024-02-01", "2024-03-31", "2024-04-16", "2024-04-17",
    ...                        "2024-05-01", "2024-01-31"], dtype="datetime64[D]"),
    ...              fiscal_year_start=2).tolist()
    [0, 1, 2, 3, 0, 3]
    """
    return quarter_slot_and_change(days, fiscal_year_start)[0]


def quarter_number(days: np.ndarray, fiscal_year_start: int = 1) -> np.ndarray:
    """Fiscal quarters since the one starting in January 1970 (shifted by the fiscal year),
    ``int64``: consecutive quarters have consecutive numbers, so ``q − q0`` counts quarters.

    Examples
    --------
    >>> quarter_number(np.array(["1970-01-01", "2024-03-31", "2024-04-01"],
    ...                         dtype="datetime64[D]")).tolist()
    [0, 216, 217]
    """
    shift = _check_fiscal_year_start(fiscal_year_start) - 1
    month = np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return (month - shift) // 3


def quarter_number_and_change(days: np.ndarray,
                              fiscal_year_start: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quarter_number` of each date and the first day of the next quarter."""
    q = quarter_number(days, fiscal_year_start)
    return q, quarter_start(q + 1, fiscal_year_start)


def quarter_start(number: np.ndarray | int, fiscal_year_start: int = 1) -> np.ndarray:
    """First day (``datetime64[D]``) of the fiscal quarter of :func:`quarter_number`
    ``number``."""
    shift = _check_fiscal_year_start(fiscal_year_start) - 1
    months = 3 * np.asarray(number, dtype=np.int64) + shift
    return months.astype("datetime64[M]").astype("datetime64[D]")


def quarter_label(number: int, fiscal_year_start: int = 1) -> str:
    """A fiscal quarter's name by its months, ``YYYY-MM..MM`` of its first and last month
    (calendar quarters: ``2024-Q2``).

    Examples
    --------
    >>> quarter_label(217), quarter_label(217, fiscal_year_start=2)
    ('2024-Q2', '2024-05..07')
    """
    first = pd.Timestamp(quarter_start(int(number), fiscal_year_start))
    if fiscal_year_start == 1:
        return f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    last = first + pd.DateOffset(months=2)
    return f"{first:%Y-%m}..{last:%m}"
