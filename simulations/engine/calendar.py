"""The fiscal calendar at simulated dates: which quarter slot each simulated week falls in.

The deal-flow model's calendar effect (``pipeline.yaml``'s ``calendar: true``) moves the
weekly odds of advancing, winning and losing by where the week starts in its fiscal
quarter (:data:`~forecast.data.periods.QUARTER_SLOTS`). The engine needs those offsets at
the simulated weeks: the horizon's week ``k`` (days ``7k + 1 .. 7k + 7`` after ``as_of``),
and an open deal's current week, which began ``r`` days before the day after ``as_of``.
:func:`calendar_offsets` turns the posterior's ``(P, 3, 4)`` slot effects into those
arrays (:class:`~simulations.engine.inputs.SimulationInputs`' ``week_effect`` and
``part_effect``), and with the months' own variation (:func:`with_month_shocks`) each
week's month effect, drawn afresh per run (and with ``seasonal: true`` its month of
the year's, :func:`month_of_year_offsets`); with drift (``drift: true``) the random walk of
the stage intercepts continued into the quarters after ``as_of``'s (:func:`drift_levels`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.periods import quarter_number, quarter_slot


def calendar_weeks(days: int) -> int:
    """Weeks of a horizon of ``days`` days with their own calendar offsets (``K``): every
    week that starts in the horizon, and one more (a stage entered late in a week starts in
    the next one)."""
    return days // 7 + 2


def week_starts(as_of: str | pd.Timestamp, days: int) -> tuple[np.ndarray, np.ndarray]:
    """First days (``datetime64[D]``) of the horizon's weeks (:func:`calendar_weeks` of
    them, the first on the day after ``as_of``) and of an open deal's current week ``r``
    days into it (``r`` = 0..6: the week began on day ``1 − r``)."""
    day1 = np.datetime64(pd.Timestamp(as_of).date(), "D") + 1
    return day1 + 7 * np.arange(calendar_weeks(days)), day1 - np.arange(7)


def calendar_offsets(calendar: np.ndarray, as_of: str | pd.Timestamp, days: int,
                     fiscal_year_start: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The logit offsets of the simulated weeks.

    Parameters
    ----------
    calendar
        ``(P, 3, n_slots)`` effects of a week starting in each slot of its fiscal quarter on
        the advance, won and lost logits.
    as_of
        The forecast date: day 1 of the horizon is the day after.
    days
        Days of the horizon.
    fiscal_year_start
        Month the fiscal year starts in (``pipeline.yaml``).

    Returns
    -------
    week_effect
        ``(P, K, 3)``: row ``k`` the offsets of the week starting on day ``7k + 1``
        (:func:`calendar_weeks`).
    part_effect
        ``(P, 7, 3)``: row ``r`` those of the week starting on day ``1 − r``, the current
        week of an open deal ``r`` days into it.
    """
    calendar = np.asarray(calendar, dtype=float)
    weeks, parts = week_starts(as_of, days)
    week_slot = quarter_slot(weeks, fiscal_year_start=fiscal_year_start)
    part_slot = quarter_slot(parts, fiscal_year_start=fiscal_year_start)
    return (np.ascontiguousarray(calendar[:, :, week_slot].transpose(0, 2, 1)),
            np.ascontiguousarray(calendar[:, :, part_slot].transpose(0, 2, 1)))


def month_of_year_offsets(effects: np.ndarray, as_of: str | pd.Timestamp, days: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The logit offsets of the simulated weeks from the month-of-year effects.

    Parameters
    ----------
    effects
        ``(P, 3, 12)`` effects on the advance, won and lost logits of a week starting in
        each month of the year, January first (``pipeline.yaml``'s ``seasonal: true``).
    as_of, days
        The forecast date and the days of the horizon.

    Returns
    -------
    week_effect, part_effect
        ``(P, K, 3)`` and ``(P, 7, 3)``, laid out as :func:`calendar_offsets`' (a week
        takes the month of the day it starts on).
    """
    effects = np.asarray(effects, dtype=float)
    weeks, parts = week_starts(as_of, days)

    def month(d: np.ndarray) -> np.ndarray:
        return d.astype("datetime64[M]").astype(np.int64) % 12

    return (np.ascontiguousarray(effects[:, :, month(weeks)].transpose(0, 2, 1)),
            np.ascontiguousarray(effects[:, :, month(parts)].transpose(0, 2, 1)))


#: spawn key of the month effects' random numbers: posterior draw ``p`` and calendar month
#: ``key`` (``12·year + month − 1``) use ``SeedSequence(seed, spawn_key=(p, MONTH_STREAM,
#: key))``, apart from every path's stream
MONTH_STREAM = 1


def month_keys(months: tuple[str, ...] | list[str]) -> np.ndarray:
    """``12·year + month − 1`` of each ``YYYY-MM`` month."""
    return np.array([12 * int(m[:4]) + int(m[5:7]) - 1 for m in months], dtype=np.int64)


def month_shocks(month_sigma: np.ndarray, keys: np.ndarray, seed: int) -> np.ndarray:
    """``(P, len(keys), 3)`` effects of calendar months (:func:`month_keys`) on the advance,
    won and lost logits: ``Normal(0, month_sigma[p])``, drawn afresh for every future month
    from the run's ``seed``, the posterior draw and the month alone, so that a path's
    numbers do not depend on how the run is split, and a month has the same effect in runs
    of the same seed whatever their first month. The paths of one posterior draw share
    its months' effects, as they share its parameters."""
    out = np.empty((month_sigma.shape[0], len(keys), 3))
    for p in range(month_sigma.shape[0]):
        for i, key in enumerate(keys):
            rng = np.random.Generator(np.random.PCG64(
                np.random.SeedSequence(seed, spawn_key=(p, MONTH_STREAM, int(key)))))
            out[p, i] = rng.standard_normal(3) * month_sigma[p]
    return out


def with_month_shocks(week_effect: np.ndarray | None, month_sigma: np.ndarray,
                      horizon, seed: int) -> np.ndarray:
    """``week_effect`` (``None``: zeros) plus each horizon week's month effect
    (:func:`month_shocks`; a week takes the month of its first day) over ``horizon``
    (:class:`~simulations.engine.horizon.Horizon`)."""
    days, day_month = horizon.days, horizon.day_month()
    n_k = calendar_weeks(days) if week_effect is None else week_effect.shape[1]
    month = day_month[np.minimum(7 * np.arange(n_k) + 1, days)]
    shocks = month_shocks(month_sigma, month_keys(horizon.months), seed)
    base = np.zeros((month_sigma.shape[0], n_k, 3)) if week_effect is None else week_effect
    return base + shocks[:, month, :]


#: spawn key of the drift's future steps: ``(p, DRIFT_STREAM, quarter number)``
DRIFT_STREAM = 2


def drift_levels(drift_sigma: np.ndarray, as_of: str | pd.Timestamp, n_weeks: int,
                 seed: int, fiscal_year_start: int = 1) -> np.ndarray:
    """``(P, n_weeks, 3)`` level of the stage intercepts in the horizon's weeks against
    ``as_of``'s quarter (the fit's last, whose level ``a`` is): 0 in that quarter, then the
    random walk's steps ``Normal(0, drift_sigma[p])``, one per fiscal quarter entered,
    summed. A quarter's step is drawn from the run's ``seed``, the posterior draw and the
    quarter's :func:`~forecast.data.periods.quarter_number` alone (spawn key ``(p,
    DRIFT_STREAM, quarter)``), so a path's numbers do not depend on how the run is split."""
    day0 = np.datetime64(pd.Timestamp(as_of).date(), "D")
    weeks = day0 + 1 + 7 * np.arange(n_weeks)
    q0 = int(quarter_number(day0, fiscal_year_start))
    ahead = quarter_number(weeks, fiscal_year_start) - q0
    n_p = drift_sigma.shape[0]
    steps = np.zeros((n_p, int(ahead.max()) + 1, 3))
    for p in range(n_p):
        for j in range(1, steps.shape[1]):
            rng = np.random.Generator(np.random.PCG64(
                np.random.SeedSequence(seed, spawn_key=(p, DRIFT_STREAM, q0 + j))))
            steps[p, j] = rng.standard_normal(3) * drift_sigma[p]
    return np.cumsum(steps, axis=1)[:, ahead, :]


#: 28 years of days: the calendar's full cycle of weekdays and leap years
_CYCLE_DAYS = np.arange(np.datetime64("2000-01-01"), np.datetime64("2028-01-01"))


def slot_day_shares(fiscal_year_start: int = 1) -> np.ndarray:
    """``(4,)`` share of the days of a (fiscal) year in each quarter slot (month 1, 2, 3 less
    its last two weeks, the last two weeks), averaged over 28 years (leap years in step)."""
    return np.bincount(quarter_slot(_CYCLE_DAYS, fiscal_year_start=fiscal_year_start),
                       minlength=4) / len(_CYCLE_DAYS)


def month_day_shares() -> np.ndarray:
    """``(12,)`` share of the days of a year in each month, January first, averaged over 28
    years (leap years in step)."""
    return np.bincount(_CYCLE_DAYS.astype("datetime64[M]").astype(np.int64) % 12,
                       minlength=12) / len(_CYCLE_DAYS)
