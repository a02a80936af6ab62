"""What moves the odds of winning: a forest plot of :func:`~simulations.evaluation.deal_scores.driver_table`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes


def plot_drivers(drivers: pd.DataFrame, ax: Axes | None = None,
                 sources: tuple[str, ...] = ("covariate",), title: str = "") -> Axes:
    """Forest plot of odds ratios (log scale) with their 90% intervals.

    One row per ``covariate=level`` of ``drivers`` (:func:`driver_table`) whose ``source``
    is in ``sources`` (add ``"owner"``, ``"segment"`` to show those); an interval clear of 1
    is coloured (green raises the odds of winning, red lowers them).

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = drivers[drivers["source"].isin(sources)].iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, max(2.0, 0.32 * len(rows) + 1.2)))
    if rows.empty:
        ax.text(0.5, 0.5, "no covariate effects to show", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    y = np.arange(len(rows))
    ratio = rows["odds_ratio"].to_numpy(dtype=float)
    lo = rows["odds_ratio_lo"].to_numpy(dtype=float)
    hi = rows["odds_ratio_hi"].to_numpy(dtype=float)
    colour = np.where(lo > 1, "tab:green", np.where(hi < 1, "tab:red", "tab:gray"))
    ax.hlines(y, lo, hi, colors=colour, lw=2)
    ax.scatter(ratio, y, c=colour, zorder=3, s=22)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{c}={lv}" for c, lv in zip(rows["covariate"], rows["level"],
                                                      strict=True)], fontsize=8)
    ax.set_xlabel("odds ratio of winning (vs the average level; 90% interval)")
    ax.set_title(title or "What moves the odds of winning")
    ax.grid(alpha=0.3, axis="x")
    return ax
