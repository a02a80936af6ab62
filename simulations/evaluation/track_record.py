"""Backtest files, the track record of past forecasts, and the backtest figures.

Writing and reading a backtest directory::

    result.write("out/bt")                    # backtest.json, backtest_scores.csv, backtest_deals.csv
    result = read_backtest("out/bt")          # the same BacktestResult back

The monthly report shows how past forecasts fared, either from a previous backtest::

    table = track_record_table(read_backtest("out/bt").scores, as_of="2026-10-31")

or computed afresh from the dataset (one fit per past month end, so slow)::

    result = track_record(dataset, "2026-10-31", months=6, draws=1000, seed=1)
    plot_track_record(result.scores)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from forecast.data.dataset import Dataset
from forecast.data.safe_output import safe_csv_frame
from forecast.models.config import ModelConfig, SamplerConfig
from simulations.evaluation.backtest import DEAL_COLUMNS, LEVELS, BacktestResult, backtest

FILES = ("backtest.json", "backtest_scores.csv", "backtest_deals.csv")
#: Colours of the methods in every figure.
COLOURS = {"pipecast": "tab:blue", "weighted_pipeline": "tab:red",
           "stage_conversion": "tab:orange", "run_rate": "tab:green", "logistic": "tab:purple",
           "base_rate": "tab:gray"}


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


# --------------------------------------------------------------------------- figures


def plot_track_record(scores: pd.DataFrame, month_ahead: int = 1, level: str = "total",
                      name: str = "total", baselines: tuple[str, ...] = ("weighted_pipeline",),
                      as_of: str | pd.Timestamp | None = None, ax=None, title: str = ""):
    """Realised monthly revenue against pipecast's P10–P90 and median made ``month_ahead``
    months earlier, with the baselines' point forecasts (months ended by ``as_of`` only,
    when given)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.2))
    t = track_record_table(scores, as_of=as_of, month_ahead=month_ahead, level=level,
                           name=name)
    x = np.arange(len(t))
    ax.fill_between(x, t["p10"], t["p90"], color=COLOURS["pipecast"], alpha=0.25, lw=0,
                    label="pipecast P10–P90")
    ax.plot(x, t["p50"], color=COLOURS["pipecast"], lw=1.5, label="pipecast median")
    s = scores[(scores["month_ahead"] == month_ahead) & (scores["level"] == level)
               & (scores["name"].astype(str) == name)]
    for b in baselines:
        v = s[s["method"] == b].set_index("month")["p50"].reindex(t["month"])
        ax.plot(x, v.to_numpy(), ls="--", marker="x", ms=4, color=COLOURS.get(b, "gray"),
                label=b.replace("_", " "))
    ax.plot(x, t["realised"], color="black", marker="o", ms=4, lw=1, label="realised")
    ax.set_xticks(x)
    ax.set_xticklabels(t["month"], rotation=60, ha="right", fontsize=8)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel("booked revenue")
    covered = t["inside_80"].mean() if len(t) else float("nan")
    ax.set_title(title or f"Forecasts made {month_ahead} month(s) ahead ({name}): "
                 f"{covered:.0%} inside P10–P90")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return ax


def plot_scores(summary: dict, score: str = "crps", ax=None, title: str = ""):
    """Mean ``score`` of the company total per method and month ahead (bars)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    methods = list(summary["methods"])
    aheads = sorted({k for m in methods for k in summary["methods"][m]["by_month_ahead"]},
                    key=int)
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        vals = [summary["methods"][m]["by_month_ahead"].get(k, {}).get(score) or np.nan
                for k in aheads]
        ax.bar(np.arange(len(aheads)) + j * width, vals, width, label=m.replace("_", " "),
               color=COLOURS.get(m, "gray"))
    ax.set_xticks(np.arange(len(aheads)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{k} month(s) ahead" for k in aheads])
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel(f"mean {score.upper() if score == 'crps' else score} (lower is better)")
    ax.set_title(title or f"Company revenue: mean {score} per method")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return ax


def plot_pit(scores: pd.DataFrame, levels: tuple[str, ...] = LEVELS, bins: int = 10,
             axes=None):
    """pipecast's PIT histograms per level (flat = calibrated)."""
    from simulations.evaluation.scoring import pit_histogram

    if axes is None:
        _, axes = plt.subplots(1, len(levels), figsize=(3.6 * len(levels), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    pc = scores[scores["method"] == "pipecast"]
    for ax, level in zip(axes, levels, strict=True):
        h = pit_histogram(pc.loc[pc["level"] == level, "pit"], bins=bins)
        ax.bar(h["lo"], h["freq"], width=1 / bins, align="edge", color=COLOURS["pipecast"],
               alpha=0.7, edgecolor="white")
        ax.axhline(1 / bins, color="black", ls="--", lw=1)
        ax.set_title(f"PIT, {level} (n={int(h['count'].sum())})")
        ax.set_xlabel("PIT")
    axes[0].set_ylabel("share of cases")
    return axes


def plot_reliability(deals: pd.DataFrame, bins: int = 10, ax=None, title: str = ""):
    """Reliability curves of the deal-level win-within-horizon probabilities per method."""
    from simulations.evaluation.scoring import brier_score, reliability_table

    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 5))
    ax.plot([0, 1], [0, 1], color="black", lw=1, ls="--", label="perfect")
    for m, g in deals.groupby("method", sort=False):
        t = reliability_table(g["p"], g["outcome"], bins=bins)
        brier = brier_score(g["p"], g["outcome"])
        ax.plot(t["p_mean"], t["observed"], marker="o", ms=3, color=COLOURS.get(m, "gray"),
                label=f"{m.replace('_', ' ')} (Brier {brier:.3f})")
        if m == "pipecast":
            ax.fill_between(t["p_mean"], t["ci_lo"], t["ci_hi"], color=COLOURS["pipecast"],
                            alpha=0.15, lw=0)
    ax.set_xlabel("predicted P(won within the horizon)")
    ax.set_ylabel("observed share won")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title or "Deal-level reliability")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return ax


def plot_coverage(scores: pd.DataFrame, ax=None, title: str = ""):
    """pipecast's empirical coverage of the 50% and 80% intervals per level and month ahead."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    pc = scores[scores["method"] == "pipecast"]
    g = pc.groupby(["level", "month_ahead"])[["coverage_50", "coverage_80"]].mean()
    labels = [f"{lv}\n{k} ahead" for lv, k in g.index]
    x = np.arange(len(g))
    ax.bar(x - 0.2, g["coverage_50"], 0.4, label="50% interval", color="tab:cyan")
    ax.bar(x + 0.2, g["coverage_80"], 0.4, label="80% interval", color=COLOURS["pipecast"])
    ax.axhline(0.5, color="tab:cyan", ls="--", lw=1)
    ax.axhline(0.8, color=COLOURS["pipecast"], ls="--", lw=1)
    ax.axhspan(0.7, 0.9, color=COLOURS["pipecast"], alpha=0.08, lw=0)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of months covered")
    ax.set_title(title or "pipecast interval coverage (dashed: nominal)")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def save_figures(result: BacktestResult, out: str | Path, prefix: str = "backtest") -> list[Path]:
    """Write the backtest figures as PNG into ``out``; returns their paths.

    ``<prefix>_track.png`` (1 and 3 months ahead), ``<prefix>_crps.png``,
    ``<prefix>_coverage.png``, ``<prefix>_pit.png`` and, with deal-level data,
    ``<prefix>_reliability.png``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    aheads = sorted(result.scores["month_ahead"].unique())
    paths = []
    fig, axes = plt.subplots(len(aheads[:1] + aheads[-1:]) if len(aheads) > 1 else 1, 1,
                             figsize=(9, 7 if len(aheads) > 1 else 4), squeeze=False)
    for ax, k in zip(axes[:, 0], sorted({aheads[0], aheads[-1]}), strict=True):
        plot_track_record(result.scores, month_ahead=int(k), ax=ax,
                          baselines=("weighted_pipeline", "run_rate"))
    figures = {"track": fig}
    figures["crps"] = plot_scores(summary).figure
    figures["coverage"] = plot_coverage(result.scores).figure
    figures["pit"] = plot_pit(result.scores)[0].figure
    if len(result.deals):
        figures["reliability"] = plot_reliability(result.deals).figure
    for key, f in figures.items():
        f.tight_layout()
        path = out / f"{prefix}_{key}.png"
        f.savefig(path, dpi=110)
        plt.close(f)
        paths.append(path)
    return paths
