"""A finished backtest: its scores, their summary (``backtest.json``) and its files.

>>> result.write("out/bt")          # backtest.json, backtest_scores.csv, backtest_deals.csv
>>> result = read_backtest("out/bt")   # the same BacktestResult back

Running a backtest is :mod:`simulations.evaluation.backtest`; reading past forecasts as a
track record is :mod:`simulations.evaluation.track_record`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.safe_output import safe_csv_frame
from simulations.evaluation.scoring import brier_score, log_loss

LEVELS = ("total", "team", "owner")
SCORES = ("crps", "pinball_10", "pinball_50", "pinball_90", "coverage_50", "coverage_80",
          "abs_error", "pct_error", "pit")
#: Columns of :attr:`BacktestResult.scores`.
SCORE_COLUMNS = ("as_of", "month", "month_ahead", "method", "level", "name", "y", "mean",
                 "p10", "p50", "p90", *SCORES)
DEAL_COLUMNS = ("as_of", "method", "deal_id", "stage", "p", "outcome")
FILES = ("backtest.json", "backtest_scores.csv", "backtest_deals.csv")


# --------------------------------------------------------------------------- the result


def _mean(values: pd.Series) -> float | None:
    v = values.dropna()
    return float(v.mean()) if len(v) else None


def month_of_quarter(months: pd.Series) -> pd.Series:
    """1, 2 or 3: a ``YYYY-MM`` month's place in its calendar quarter."""
    return ((months.astype(str).str[5:7].astype(int) - 1) % 3 + 1).rename("month_of_quarter")


def aggregate(scores: pd.DataFrame) -> dict[str, Any]:
    """Mean scores of a set of cases (JSON-ready; ``None`` where undefined).

    ``mae`` is the mean absolute error of the median, ``mape`` the mean percentage error
    over cases with revenue (``mape_excluded`` counts the months with none), ``bias`` the
    mean of ``median - y`` and ``relative_bias`` the mean of ``(median - y) / y`` over the
    cases with revenue (the direction of the misses, which ``mape`` hides).
    """
    out: dict[str, Any] = {"n_cases": int(len(scores))}
    out["crps"] = _mean(scores["crps"])
    out["coverage_80"] = _mean(scores["coverage_80"])
    out["mae"] = _mean(scores["abs_error"])
    out["coverage_50"] = _mean(scores["coverage_50"])
    for k in ("pinball_10", "pinball_50", "pinball_90"):
        out[k] = _mean(scores[k])
    out["mape"] = _mean(scores["pct_error"])
    out["mape_excluded"] = int(scores["pct_error"].isna().sum())
    out["bias"] = _mean(scores["p50"] - scores["y"])
    booked = scores["y"] > 0
    out["relative_bias"] = _mean((scores["p50"] - scores["y"])[booked] / scores["y"][booked])
    out["mean_realised"] = _mean(scores["y"])
    return out


def compare(scores: pd.DataFrame, baseline: str, score: str = "crps") -> dict[str, Any]:
    """How pipecast fares against ``baseline`` on ``score`` over the same cases.

    Returns ``pipecast``, ``baseline`` (mean scores), ``skill`` = 1 − pipecast/baseline
    (positive: pipecast better, e.g. 0.25 = 25% lower), ``win_share`` (share of cases in
    which pipecast scores lower), and ``diff``/``diff_se``: the mean paired difference
    (pipecast − baseline) and its standard error from the per-``as_of`` means (cases of one
    ``as_of`` are correlated).
    """
    keys = ["as_of", "level", "name", "month"]
    p = scores[scores["method"] == "pipecast"].set_index(keys)[score]
    b = scores[scores["method"] == baseline].set_index(keys)[score]
    p, b = p.align(b, join="inner")
    ok = p.notna() & b.notna()
    p, b = p[ok], b[ok]
    if not len(p):
        return {"pipecast": None, "baseline": None, "skill": None, "win_share": None,
                "diff": None, "diff_se": None, "n_cases": 0}
    diff = p - b
    per_as_of = diff.groupby(level="as_of").mean()
    se = float(per_as_of.std(ddof=1) / math.sqrt(len(per_as_of))) if len(per_as_of) > 1 else None
    return {"pipecast": float(p.mean()), "baseline": float(b.mean()),
            "skill": float(1 - p.mean() / b.mean()) if b.mean() > 0 else None,
            "win_share": float((p < b).mean()), "diff": float(diff.mean()), "diff_se": se,
            "n_cases": int(len(p))}


def deal_scores(deals: pd.DataFrame, bins: int = 10) -> dict[str, Any]:
    """Per method: Brier score, log loss, base rate and reliability table of ``p``."""
    from simulations.evaluation.scoring import reliability_table

    out: dict[str, Any] = {}
    for method, g in deals.groupby("method", sort=False):
        p, o = g["p"].to_numpy(dtype=float), g["outcome"].to_numpy(dtype=float)
        table = reliability_table(p, o, bins=bins)
        out[method] = {"n_deals": int(len(g)), "brier": brier_score(p, o),
                       "log_loss": log_loss(p, o, eps=1e-6), "mean_p": float(p.mean()),
                       "observed": float(o.mean()),
                       "reliability": table.to_dict(orient="records")}
    return out


@dataclass
class BacktestResult:
    """A finished backtest.

    Attributes
    ----------
    scores
        One row per (``as_of``, ``method``, ``level``, ``name``, ``month``): the realised
        revenue ``y``, the forecast's ``mean``, ``p10``, ``p50``, ``p90`` and every score
        of :func:`simulations.evaluation.scoring.score_forecast` (:data:`SCORE_COLUMNS`).
    deals
        One row per (``as_of``, ``method``, open deal): ``p`` (probability of a win within
        the horizon), ``outcome`` (1 if won within it) and the deal's ``stage``.
    runs
        Per ``as_of``: seed, months scored, timing and pipecast's fit diagnostics.
    config
        The settings of the backtest.
    """

    scores: pd.DataFrame
    deals: pd.DataFrame
    runs: list[dict]
    config: dict

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.scores["method"]))

    def summary(self) -> dict[str, Any]:
        """The content of ``backtest.json``.

        ``methods[m]`` holds the contract's ``crps``, ``coverage_80`` and ``mae`` (means over
        the company-total cases, every ``as_of`` and month ahead) and more scores, with
        ``by_month_ahead`` and ``by_level`` breakdowns; ``comparison[baseline]`` says by how
        much pipecast wins or loses (:func:`compare`) on CRPS and MAE, overall and per
        month ahead; ``deals`` the deal-level scores; ``pit_histogram`` pipecast's PIT
        histogram per level.
        """
        from simulations.evaluation.scoring import pit_histogram

        s = self.scores
        total = s[s["level"] == "total"]
        methods: dict[str, Any] = {}
        for m in self.methods:
            sm = s[s["method"] == m]
            tm = sm[sm["level"] == "total"]
            methods[m] = {
                **aggregate(tm),
                "point_forecast": m != "pipecast",
                "by_month_ahead": {str(k): aggregate(g) for k, g in tm.groupby("month_ahead")},
                "by_month_of_quarter": {str(k): aggregate(g) for k, g in
                                        tm.groupby(month_of_quarter(tm["month"]))},
                "by_level": {lv: aggregate(sm[sm["level"] == lv]) for lv in LEVELS},
            }
        comparison = {}
        for b in self.methods:
            if b == "pipecast":
                continue
            comparison[b] = {
                "crps": compare(total, b, "crps"), "mae": compare(total, b, "abs_error"),
                "crps_by_month_ahead": {str(k): compare(g, b, "crps")
                                        for k, g in total.groupby("month_ahead")},
                "crps_by_level": {lv: compare(s[s["level"] == lv], b, "crps")
                                  for lv in LEVELS},
            }
        pc = s[s["method"] == "pipecast"]
        pit = {lv: pit_histogram(pc.loc[pc["level"] == lv, "pit"]).to_dict(orient="records")
               for lv in LEVELS}
        return {
            "config": self.config,
            "as_of_dates": sorted(s["as_of"].unique().tolist()),
            "methods": methods,
            "comparison": comparison,
            "deals": deal_scores(self.deals) if len(self.deals) else {},
            "pit_histogram": pit,
            "runs": self.runs,
        }

    def write(self, out) -> None:
        """Write ``backtest.json``, ``backtest_scores.csv`` and ``backtest_deals.csv``."""
        write_backtest(self, out)


# --------------------------------------------------------------------------- files


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, pd.Period)):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")


def _clean(value: Any) -> Any:
    """NaN and inf → None, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def write_backtest(result: BacktestResult, out: str | Path) -> None:
    """Write ``backtest.json`` (the summary), ``backtest_scores.csv`` and ``backtest_deals.csv``.

    Parameters
    ----------
    result
        A finished backtest.
    out
        Directory (created if missing); the three files in it are replaced.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(result.summary()), indent=2, default=_json)
    (out / "backtest.json").write_text(text + "\n", encoding="utf-8")
    safe_csv_frame(result.scores).to_csv(out / "backtest_scores.csv", index=False)
    safe_csv_frame(result.deals).to_csv(out / "backtest_deals.csv", index=False)


def read_backtest(directory: str | Path) -> BacktestResult:
    """Read a backtest directory written by :func:`write_backtest`.

    Raises
    ------
    FileNotFoundError
        When ``backtest_scores.csv`` is missing.
    """
    directory = Path(directory)
    scores = pd.read_csv(directory / "backtest_scores.csv", dtype={"as_of": str, "month": str,
                                                                    "name": str})
    deals_path = directory / "backtest_deals.csv"
    deals = (pd.read_csv(deals_path, dtype={"as_of": str, "deal_id": str})
             if deals_path.exists() and deals_path.stat().st_size > 1
             else pd.DataFrame(columns=list(DEAL_COLUMNS)))
    meta_path = directory / "backtest.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    return BacktestResult(scores=scores, deals=deals, runs=meta.get("runs", []),
                          config=meta.get("config", {}))


