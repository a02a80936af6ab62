"""The track record of past forecasts: scored backtests, as a leader reads them.

A backtest directory is written and read by :mod:`simulations.evaluation.backtest_result`.

The monthly report shows how past forecasts fared, either from a previous backtest::

    table = track_record_table(read_backtest("out/bt").scores, as_of="2026-10-31")

or computed afresh from the dataset (one fit per past month end, so slow)::

    result = track_record(dataset, "2026-10-31", months=6, draws=1000, seed=1)

The figures are in :mod:`simulations.plots.backtest`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forecast.data.dataset import Dataset
from forecast.models.config import ModelConfig, SamplerConfig
from simulations.evaluation.backtest import backtest
from simulations.evaluation.backtest_result import BacktestResult

# --------------------------------------------------------------------------- track record


def track_record(dataset: Dataset, as_of: str | pd.Timestamp, months: int = 6,
                 horizon: int = 3, draws: int = 1000, seed: int = 0,
                 sampler_config: SamplerConfig | None = None,
                 model_config: ModelConfig | None = None, workers: int | Any = 1,
                 progress: bool = False) -> BacktestResult:
    """Past forecasts, as they would have been made, scored with what was known at ``as_of``.

    Runs :func:`~simulations.evaluation.backtest.backtest` at the ``months`` month ends before
    ``as_of`` with ``data_end=as_of``: only months that ended by ``as_of`` are scored, so a
    report dated ``as_of`` uses nothing after it. Month ends before the first deal are
    left out. One fit per month end: ``months=6`` with NUTS takes several minutes.

    Parameters
    ----------
    dataset
        The dataset (data after ``as_of`` is not used).
    as_of
        The report's date.
    months
        Number of past month ends (the last is the month end before ``as_of``).
    horizon, draws, seed, sampler_config, model_config, workers, progress
        As for :func:`~simulations.evaluation.backtest.backtest`.

    Returns
    -------
    BacktestResult

    Raises
    ------
    ValueError
        When history is too short (no past month end after the first deal).
    """
    as_of = pd.Timestamp(as_of).normalize()
    last = (as_of.to_period("M") - 1).end_time.normalize()
    first = (last.to_period("M") - (months - 1)).end_time.normalize()
    data_start = dataset.deals["created_at"].min()
    first = max(first, (data_start.to_period("M")).end_time.normalize())
    if first > last:
        raise ValueError(f"no month end between the first deal ({data_start.date()}) and "
                         f"{as_of.date()}: no track record yet")
    return backtest(dataset, first, last, horizon=horizon, draws=draws, seed=seed,
                    sampler_config=sampler_config, model_config=model_config,
                    workers=workers, progress=progress, data_end=as_of)


def track_record_table(scores: pd.DataFrame, as_of: str | pd.Timestamp | None = None,
                       month_ahead: int = 1, level: str = "total", name: str = "total",
                       baseline: str = "weighted_pipeline") -> pd.DataFrame:
    """Past forecasts of one series beside what happened, one row per forecast month.

    Parameters
    ----------
    scores
        :attr:`BacktestResult.scores` (e.g. of :func:`read_backtest`).
    as_of
        Keep only months that ended by this date (a report's date); ``None``: all.
    month_ahead
        Which forecast of each month: 1 = made at the end of the month before.
    level, name
        The series (``total``/``total``, a team, or a rep).
    baseline
        The baseline shown beside pipecast.

    Returns
    -------
    pandas.DataFrame
        ``month``, ``as_of`` (when the forecast was made), ``realised``, ``p10``, ``p50``,
        ``p90``, ``inside_80`` (realised within P10–P90), ``crps``, ``abs_error``, and the
        baseline's ``<baseline>`` forecast and ``<baseline>_abs_error``.
    """
    s = scores[(scores["month_ahead"] == month_ahead) & (scores["level"] == level)
               & (scores["name"].astype(str) == name)]
    if as_of is not None:
        end = pd.Timestamp(as_of).normalize()
        ends = pd.PeriodIndex(s["month"], freq="M").end_time.normalize()
        s = s[np.asarray(ends <= end)]
    p = s[s["method"] == "pipecast"].set_index("month")
    out = pd.DataFrame({"as_of": p["as_of"], "realised": p["y"], "p10": p["p10"],
                        "p50": p["p50"], "p90": p["p90"],
                        "inside_80": p["coverage_80"].astype(bool), "crps": p["crps"],
                        "abs_error": p["abs_error"]})
    b = s[s["method"] == baseline].set_index("month")
    if len(b):
        out[baseline] = b["p50"].reindex(out.index)
        out[f"{baseline}_abs_error"] = b["abs_error"].reindex(out.index)
    return out.sort_index().reset_index()
