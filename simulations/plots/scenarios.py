"""Scenarios side by side: each scenario's horizon revenue (P10–P50–P90) and its company
P(quota) per period.

Interval and dot charts rather than overlaid histograms: with more than three or four
scenarios, overlaid distributions cannot be told apart.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, PercentFormatter

from simulations.plots.changes import short_money
from simulations.scenarios.results import ScenarioResults

#: colour-blind-safe (Okabe–Ito): the baseline in black, scenarios in blue
BASE, OTHER = "#000000", "#0072B2"
#: markers of up to six periods in the P(quota) panel
MARKERS = ("o", "s", "D", "^", "v", "P")
PERIOD_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


def plot_scenarios(results: ScenarioResults, axes: tuple[Axes, Axes] | None = None,
                   max_periods: int = 6) -> tuple[Axes, Axes]:
    """Left: each scenario's revenue over the horizon, P10–P90 bar and P50 dot, the
    baseline's P50 as a dashed line. Right: each scenario's probability of reaching the
    company quota of each period in the horizon (at most ``max_periods``; "no company
    quota" when there is none). Returns the two axes."""
    names = list(results.names)
    n = len(names)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, max(3.0, 0.42 * n + 1.4)), sharey=True)
    ax1, ax2 = axes
    y = np.arange(n)
    base = results.baseline if results.baseline in names else names[0]
    for k, name in enumerate(names):
        p10, p50, p90 = np.percentile(results.total(name).sum(axis=1), [10, 50, 90])
        colour = BASE if name == base else OTHER
        ax1.plot([p10, p90], [k, k], color=colour, lw=3, alpha=0.55, solid_capstyle="butt")
        ax1.plot([p50], [k], "o", color=colour, ms=6)
        if name == base:
            ax1.axvline(p50, color=BASE, ls="--", lw=0.8)
    ax1.set_yticks(y)
    ax1.set_yticklabels(names, fontsize=8)
    ax1.invert_yaxis()
    ax1.xaxis.set_major_formatter(FuncFormatter(short_money))
    ax1.set_title(f"Revenue {results.months[0]} – {results.months[-1]}: P10–P90, P50 (dot)",
                  fontsize=10)
    ax1.grid(axis="x", alpha=0.3)
    att = results.attainment()
    company = att[att["kind"] == "total"].head(max_periods)
    if company.empty:
        ax2.text(0.5, 0.5, "no company quota in the horizon", ha="center", va="center",
                 transform=ax2.transAxes)
        ax2.set_xticks([])
    for j, (_, row) in enumerate(company.iterrows()):
        ax2.plot([row[nm] for nm in names], y, MARKERS[j % len(MARKERS)],
                 color=PERIOD_COLOURS[j % len(PERIOD_COLOURS)], label=str(row["period"]),
                 ms=6, alpha=0.9)
    if not company.empty:
        ax2.set_xlim(0, 1)
        ax2.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax2.legend(fontsize=8, title="period", title_fontsize=8, loc="best")
        ax2.grid(axis="x", alpha=0.3)
    ax2.set_title("P(company quota) per period", fontsize=10)
    for ax in (ax1, ax2):
        ax.spines[["top", "right"]].set_visible(False)
    ax1.figure.tight_layout()
    return ax1, ax2
