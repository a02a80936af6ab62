"""Backtest figures: the track record, scores per method, interval coverage, PIT, reliability.

Each function takes an optional ``ax`` (or ``axes``), draws on it and returns it, as ArviZ
and seaborn do; :func:`save_figures` writes them all as PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from simulations.evaluation.backtest_result import LEVELS, BacktestResult
from simulations.evaluation.track_record import track_record_table

#: Colours of the methods in every figure.
COLOURS = {"pipecast": "tab:blue", "weighted_pipeline": "tab:red",
           "stage_conversion": "tab:orange", "run_rate": "tab:green", "logistic": "tab:purple",
           "base_rate": "tab:gray"}



def plot_track_record(scores: pd.DataFrame, month_ahead: int = 1, level: str = "total",
                      name: str = "total", baselines: tuple[str, ...] = ("weighted_pipeline",),
                      as_of: str | pd.Timestamp | None = None, ax: Axes | None = None,
                      title: str = "") -> Axes:
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


def plot_scores(summary: dict, score: str = "crps", ax: Axes | None = None,
                title: str = "") -> Axes:
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
             axes: np.ndarray | None = None) -> np.ndarray:
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


def plot_reliability(deals: pd.DataFrame, bins: int = 10, ax: Axes | None = None,
                     title: str = "") -> Axes:
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


def plot_coverage(scores: pd.DataFrame, ax: Axes | None = None, title: str = "") -> Axes:
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
