"""The learned drift: how the weekly odds of winning and losing moved over the quarters."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from forecast.posterior import OUTCOMES
from simulations.plots.axes import axes_or_new

#: the interval drawn around each quarter's level
INTERVAL = 0.94


def drift_profile(drift: np.ndarray, quarters: list[str] | tuple[str, ...],
                  prob: float = INTERVAL) -> pd.DataFrame:
    """Tidy summary of the drift's posterior draws.

    Parameters
    ----------
    drift
        ``(P, 3, n_quarters)`` draws of each quarter's level of the advance, won and lost
        logits against the last quarter's (``posterior.flow.drift``).
    quarters
        The quarters' names (``posterior.diagnostics["drift"]["quarters"]``).
    prob
        Central interval reported.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and quarter: ``outcome``, ``quarter``, ``effect`` (posterior
        mean), ``effect_lower``, ``effect_upper``, and ``odds`` with ``odds_lower`` /
        ``odds_upper``: the quarter's weekly odds as a multiple of the latest quarter's.
    """
    draws = np.asarray(drift, dtype=float)
    if draws.shape[2] != len(quarters):
        raise ValueError(f"{draws.shape[2]} quarters of draws but {len(quarters)} names")
    lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    mean = draws.mean(axis=0)
    frame = pd.DataFrame([{"outcome": k, "quarter": q, "effect": mean[i, j],
                           "effect_lower": lo[i, j], "effect_upper": hi[i, j]}
                          for i, k in enumerate(OUTCOMES) for j, q in enumerate(quarters)])
    for col in ("", "_lower", "_upper"):
        frame[f"odds{col}"] = np.exp(frame[f"effect{col}"])
    return frame


def plot_drift(drift: np.ndarray, quarters: list[str] | tuple[str, ...], ax: Axes | None = None,
               outcomes: tuple[str, ...] = ("won", "lost"), title: str = "",
               walk_start: str | None = None) -> Axes:
    """Each outcome's weekly odds per quarter against the latest quarter's (×1), with 94%
    bands; arguments as in :func:`drift_profile`. The quarters before ``walk_start`` (one
    level of their own, outside the walk) are shaded and labelled."""
    ax = axes_or_new(ax, (6.4, 3.4))
    prof = drift_profile(drift, quarters)
    x = np.arange(len(quarters))
    before = list(quarters).index(walk_start) if walk_start in quarters else 0
    if before:
        ax.axvspan(-0.5, before - 0.5, color="0.92", lw=0, zorder=0)
        ax.text((before - 1) / 2, 0.02, "before\nthe walk", transform=ax.get_xaxis_transform(),
                va="bottom", ha="center", fontsize=7, color="0.35")
    for outcome, color in zip(outcomes, ("#2f7d32", "#b23b3b", "#4a6fa5"), strict=False):
        p = prof[prof["outcome"] == outcome]
        ax.fill_between(x, p["odds_lower"], p["odds_upper"], color=color, alpha=0.18, lw=0)
        ax.plot(x, p["odds"], color=color, marker="o", ms=3,
                label=f"{outcome} (94% band)")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(FixedLocator([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"×{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    step = -(-len(quarters) // 6)  # at most six labels, so that they do not overlap
    ax.set_xticks(x[::step], list(quarters)[::step])
    ax.set_ylabel("weekly odds (latest quarter ×1)")
    ax.set_title(title or "How the odds of winning and losing moved, quarter by quarter")
    ax.legend(frameon=False, fontsize=8)
    return ax
