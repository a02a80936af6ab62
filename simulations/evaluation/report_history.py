"""The track record shown in the monthly report: earlier reports against what happened.

Each finished month in ``reports/<YYYY-MM>/summary.json`` holds the P10/P50/P90 that was
forecast then. Once a forecast month has ended (on or before the new report's ``as_of``),
its realised revenue is known from the deals won in it, and the old forecast can be scored
without refitting anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from forecast.data.dataset import Dataset


def realised_revenue(dataset: Dataset, as_of: pd.Timestamp) -> pd.Series:
    """Won revenue per calendar month (``YYYY-MM``), from deals closed by ``as_of``."""
    won = dataset.deals[(dataset.deals["status"] == "won")
                        & (dataset.deals["closed_at"] <= as_of)]
    return won.groupby(won["closed_at"].dt.strftime("%Y-%m"))["amount"].sum()


def earlier_reports(reports_root: str | Path, before: str | pd.Timestamp
                    ) -> list[tuple[Path, dict]]:
    """Every readable report in ``reports_root`` made before ``before``: its folder and its
    ``summary.json``, oldest first. Hidden folders (a run's partial folder, or one set
    aside mid-swap) and unreadable summaries are not reports."""
    before = pd.Timestamp(before).normalize()
    root = Path(reports_root)
    found = []
    for path in sorted(root.glob("*/summary.json")) if root.exists() else []:
        if path.parent.name.startswith("."):
            continue
        try:
            summary = json.loads(path.read_text())
            made = pd.Timestamp(summary["as_of"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if made < before:
            found.append((path.parent, summary))
    return sorted(found, key=lambda item: pd.Timestamp(item[1]["as_of"]))


def past_forecasts(reports_root: str | Path, dataset: Dataset,
                   as_of: str | pd.Timestamp) -> pd.DataFrame:
    """Earlier reports' monthly forecasts of the company total, scored where known.

    Returns
    -------
    pandas.DataFrame
        ``forecast_as_of``, ``month``, ``months_ahead``, ``p10``, ``p50``, ``p90``,
        ``actual``, ``inside_80`` (actual within P10–P90), ``abs_error`` (of the median),
        for every month that ended by ``as_of``; empty when there is no earlier report.
    """
    as_of = pd.Timestamp(as_of).normalize()
    actual = realised_revenue(dataset, as_of)
    rows = []
    for _, summary in earlier_reports(reports_root, as_of):
        made = pd.Timestamp(summary["as_of"])
        for k, row in enumerate(summary.get("total", []), start=1):
            month_end = pd.Period(row["month"], "M").end_time.normalize()
            if month_end > as_of:
                continue
            y = float(actual.get(row["month"], 0.0))
            rows.append({"forecast_as_of": str(made.date()), "month": row["month"],
                         "months_ahead": k, "p10": row["p10"], "p50": row["p50"],
                         "p90": row["p90"], "actual": y,
                         "inside_80": bool(row["p10"] <= y <= row["p90"]),
                         "abs_error": abs(row["p50"] - y)})
    return pd.DataFrame(rows, columns=["forecast_as_of", "month", "months_ahead", "p10", "p50",
                                       "p90", "actual", "inside_80", "abs_error"])
