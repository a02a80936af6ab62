"""Matplotlib figures of the pipeline metrics in :mod:`forecast.data.metrics`.

Every helper draws on ``ax`` when given, otherwise on a new
:class:`matplotlib.figure.Figure` (no pyplot, so it works under any backend, Agg
included, and leaves no global figure state), and returns the Axes; the figure is
``ax.figure``. Nothing is shown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from forecast.data.metrics import ALL, CycleLength
from simulations.plots.axes import axes_or_new


def _pick(frame: pd.DataFrame, groups: list[str] | None) -> list[str]:
    present = list(pd.unique(frame["group"])) if "group" in frame else [ALL]
    return present if groups is None else [g for g in groups if g in present]


def plot_funnel(funnel_df: pd.DataFrame, ax: Axes | None = None,
                groups: list[str] | None = None) -> Axes:
    """Deals reaching each stage as horizontal bars, labelled with the conversion to next.

    Parameters
    ----------
    funnel_df
        Output of :func:`forecast.data.metrics.funnel`.
    ax
        Axes to draw on; a new figure when ``None``.
    groups
        Groups to draw (default: all in the frame), as side-by-side bars per stage.
    """
    ax = axes_or_new(ax, (7, 4))
    shown = _pick(funnel_df, groups)
    stages = list(pd.unique(funnel_df["stage"]))
    y = np.arange(len(stages))
    height = 0.8 / max(len(shown), 1)
    for i, g in enumerate(shown):
        sub = funnel_df[funnel_df["group"] == g] if "group" in funnel_df else funnel_df
        sub = sub.set_index("stage").reindex(stages)
        pos = y - 0.4 + height * (i + 0.5)
        bars = ax.barh(pos, sub["reached"], height=height, label=str(g))
        for bar, conv, won in zip(bars, sub["conversion_to_next"], sub["won"], strict=True):
            text = f"→ {conv:.0%}" if pd.notna(conv) else f"won {int(won)}"
            ax.annotate(text, (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                        xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y, stages)
    ax.invert_yaxis()
    ax.set_xlabel("deals that reached the stage")
    ax.set_title("Funnel (label: conversion to next stage)")
    if len(shown) > 1:
        ax.legend(fontsize=8)
    return ax


def plot_cycle_survival(cycle: CycleLength | pd.DataFrame, ax: Axes | None = None,
                        groups: list[str] | None = None) -> Axes:
    """Kaplan–Meier share of deals not yet won against days since creation.

    Parameters
    ----------
    cycle
        Output of :func:`forecast.data.metrics.cycle_length` (its medians are marked), or its
        ``curves`` frame.
    ax
        Axes to draw on; a new figure when ``None``.
    groups
        Groups to draw (default: all).
    """
    ax = axes_or_new(ax, (7, 4))
    curves = cycle.curves if isinstance(cycle, CycleLength) else cycle
    medians = (cycle.summary.set_index("group")["median_days_to_win"]
               if isinstance(cycle, CycleLength) else pd.Series(dtype=float))
    shown = _pick(curves, groups)
    for g in shown:
        sub = curves[curves["group"] == g]
        days = np.concatenate([[0.0], sub["days"].to_numpy(dtype=float)])
        surv = np.concatenate([[1.0], sub["surv_prob"].to_numpy(dtype=float)])
        (line,) = ax.step(days, surv, where="post", label=str(g))
        med = medians.get(g, np.nan)
        if pd.notna(med):
            ax.axvline(med, color=line.get_color(), linestyle=":", linewidth=1)
    ax.axhline(0.5, color="grey", linewidth=0.5)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("days since creation")
    ax.set_ylabel("share not yet won (Kaplan–Meier)")
    ax.set_title("Time to win (dotted: median)")
    if len(shown) > 1:
        ax.legend(fontsize=8)
    return ax


def plot_win_rates(win_df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Win rate per group with its credible interval, sorted by the posterior mean.

    Parameters
    ----------
    win_df
        Output of :func:`forecast.data.metrics.win_rates`.
    ax
        Axes to draw on; a new figure when ``None``.
    """
    df = win_df.sort_values("win_rate_mean").reset_index(drop=True)
    ax = axes_or_new(ax, (6, 0.5 + 0.35 * max(len(df), 2)))
    y = np.arange(len(df))
    err = np.vstack([df["win_rate_mean"] - df["win_rate_lo"],
                     df["win_rate_hi"] - df["win_rate_mean"]])
    ax.errorbar(df["win_rate_mean"], y, xerr=err, fmt="o", capsize=3, label="posterior mean")
    ax.plot(df["win_rate"], y, "x", color="black", label="won / closed")
    labels = [f"{g} ({w}/{n})" for g, w, n in zip(df["group"], df["n_won"], df["n_closed"],
                                                   strict=True)]
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 1)
    ax.set_xlabel("win rate (bars: credible interval)")
    ax.set_title("Win rate")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_stale(stale_df: pd.DataFrame, ax: Axes | None = None, top: int = 20) -> Axes:
    """Stale deals: days in stage (bar) against the stage's threshold (marker).

    Parameters
    ----------
    stale_df
        Output of :func:`forecast.data.metrics.stale_deals`.
    ax
        Axes to draw on; a new figure when ``None``.
    top
        Draw only the ``top`` most overdue deals.
    """
    df = stale_df.sort_values("excess_days", ascending=False).head(top)
    ax = axes_or_new(ax, (7, 0.6 + 0.3 * max(len(df), 3)))
    if df.empty:
        ax.text(0.5, 0.5, "no stale deals", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    y = np.arange(len(df))
    ax.barh(y, df["days_in_stage"], color="tab:orange", label="days in stage")
    ax.plot(df["threshold_days"], y, "|", color="black", markersize=14, label="threshold")
    ax.set_yticks(y, [f"{d} · {o} · {s}" for d, o, s in
                      zip(df["deal_id"], df["owner"], df["stage"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlabel("days in current stage")
    ax.set_title("Stale deals")
    ax.legend(fontsize=8, loc="lower right")
    return ax
