"""Baseline revenue forecasts: the methods sales teams use today (see ``docs/scoring.md``).

Each baseline is fitted on a :class:`~forecast.data.snapshot.Snapshot` only, so it uses
nothing that was not known at ``as_of``, and gives point forecasts of booked revenue per
calendar month::

    model = BASELINES["stage_conversion"]().fit(snapshot)
    model.predict_revenue(["2024-07", "2024-08", "2024-09"])            # Series by month
    model.predict_revenue(["2024-07", "2024-08"], by_owner=True)        # months x owners

Months are ``YYYY-MM`` strings of the calendar months after ``as_of``: month 1 is the
month holding ``as_of + 1 day`` (for a mid-month ``as_of`` only the rest of that month
counts, for a month-end ``as_of`` it is the next month). :func:`horizon_months` lists
them. Revenue expected to close on or before ``as_of`` but not yet booked (an overdue
close date) is placed in month 1.

The deal-based baselines (:class:`WeightedPipeline`, :class:`StageConversion`,
:class:`LogisticWin`) give each open deal an expected revenue ``p_win * amount`` and one
expected close date, and put the whole expected revenue in that date's month; they keep
the per-deal figures in ``deal_forecasts_`` and give per-deal probabilities with
``predict_proba`` (for the deal-level Brier score). :class:`RunRate` ignores the pipeline.

Known limits: ``amount`` and ``expected_close_at`` have no history, so a snapshot taken
before the extract date sees their current values (see :mod:`forecast.data.snapshot`).
"""

from __future__ import annotations

from simulations.evaluation.baselines.base import Baseline, first_month_fraction, horizon_months
from simulations.evaluation.baselines.deal import StageConversion, WeightedPipeline
from simulations.evaluation.baselines.logistic import LogisticWin
from simulations.evaluation.baselines.run_rate import RunRate

__all__ = [
    "BASELINES",
    "Baseline",
    "LogisticWin",
    "RunRate",
    "StageConversion",
    "WeightedPipeline",
    "first_month_fraction",
    "horizon_months",
]

#: Baseline classes by the names the backtest reports them under.
BASELINES: dict[str, type[Baseline]] = {
    "weighted_pipeline": WeightedPipeline,
    "stage_conversion": StageConversion,
    "run_rate": RunRate,
    "logistic": LogisticWin,
}
