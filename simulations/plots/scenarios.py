"""Scenarios side by side: the horizon total's distribution per scenario and P(quota)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from simulations.plots.forecast import overlay_distributions
from simulations.scenarios.results import ScenarioResults


def plot_scenarios(results: ScenarioResults, axes: tuple[Axes, Axes] | None = None,
                   quota_kinds: tuple[str, ...] = ("total", "team"), max_rows: int = 12
                   ) -> tuple[Axes, Axes]:
    """Overlaid distributions of the horizon total (left), and P(attain) per scenario for
    the quota rows of ``quota_kinds``, at most ``max_rows`` (right). Returns the two axes."""
    att = results.attainment()
    att = att[att["kind"].isin(quota_kinds)].head(max_rows)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(13, max(4.0, 0.45 * len(att) + 1.5)))
    ax1, ax2 = axes
    overlay_distributions({n: results.total(n).sum(axis=1) for n in results.names}, ax=ax1,
                          title=f"Revenue {results.months[0]} – {results.months[-1]}")
    if att.empty:
        ax2.text(0.5, 0.5, "no quota period falls inside the horizon", ha="center")
        ax2.set_axis_off()
        return ax1, ax2
    y = np.arange(len(att))
    height = 0.8 / len(results.names)
    for k, n in enumerate(results.names):
        ax2.barh(y + (k - (len(results.names) - 1) / 2) * height, att[n], height=height,
                 label=n)
    ax2.set_yticks(y)
    ax2.set_yticklabels([f"{o} · {p}" for o, p in zip(att["owner"], att["period"],
                                                       strict=True)], fontsize=8)
    ax2.invert_yaxis()
    ax2.set_xlim(0, 1)
    ax2.set_xlabel("probability of reaching quota")
    ax2.set_title("Quota attainability by scenario")
    ax2.legend(fontsize=8, loc="lower right")
    ax1.figure.tight_layout()
    return ax1, ax2
