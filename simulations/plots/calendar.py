"""The learned calendar: how a week's place in its fiscal quarter, and its month of the
year (``seasonal: true``), move the odds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from forecast.data.periods import QUARTER_SLOTS
from forecast.models.seasonal import MONTH_NAMES
from forecast.posterior import OUTCOMES
from simulations.plots.axes import axes_or_new

#: the interval drawn around each effect
INTERVAL = 0.94


def calendar_profile(calendar: np.ndarray, prob: float = INTERVAL) -> pd.DataFrame:
    """Tidy summary of the calendar effects' posterior draws.

    Parameters
    ----------
    calendar
        ``(P, 3, n_slots)`` draws of the effects on the advance, won and lost logits
        (``posterior.flow.calendar``).
    prob
        Central interval reported.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and slot: ``outcome``, ``slot``, ``effect`` (posterior mean of
        the logit effect), ``effect_lower``, ``effect_upper``, and ``odds`` with
        ``odds_lower`` / ``odds_upper``: the same as multipliers of the weekly odds,
        relative to the average slot.
    """
    return _profile(calendar, "slot", QUARTER_SLOTS, prob)


def season_profile(season: np.ndarray, prob: float = INTERVAL) -> pd.DataFrame:
    """Tidy summary of the month-of-year effects' posterior draws (``(P, 3, 12)``,
    ``posterior.flow.month_of_year``), as :func:`calendar_profile`'s with ``month``
    (``Jan`` …) for ``slot``; the odds are relative to the history's average month."""
    return _profile(season, "month", MONTH_NAMES, prob)


def _profile(draws: np.ndarray, name: str, labels: tuple[str, ...],
             prob: float) -> pd.DataFrame:
    draws = np.asarray(draws, dtype=float)
    lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    mean = draws.mean(axis=0)
    rows = [{"outcome": k, name: labels[q], "effect": mean[i, q],
             "effect_lower": lo[i, q], "effect_upper": hi[i, q]}
            for i, k in enumerate(OUTCOMES) for q in range(draws.shape[2])]
    frame = pd.DataFrame(rows)
    for col in ("", "_lower", "_upper"):
        frame[f"odds{col}"] = np.exp(frame[f"effect{col}"])
    return frame


def plot_calendar(calendar: np.ndarray, ax: Axes | None = None,
                  outcomes: tuple[str, ...] = ("won", "lost"), title: str = "") -> Axes:
    """Each outcome's weekly-odds multiplier by slot of the fiscal quarter, with its 94%
    interval (1 = the average slot); ``calendar`` as in :func:`calendar_profile`."""
    ax = _plot_profile(calendar_profile(calendar), "slot", axes_or_new(ax, (6.4, 3.4)),
                       outcomes)
    ax.set_ylabel("weekly odds (average slot ×1)")
    ax.set_title(title or "Where in the quarter deals are won and lost")
    return ax


def plot_season(season: np.ndarray, ax: Axes | None = None,
                outcomes: tuple[str, ...] = ("won", "lost"), title: str = "") -> Axes:
    """Each outcome's weekly-odds multiplier by month of the year, with its 94% interval
    (1 = the average month); ``season`` as in :func:`season_profile`."""
    ax = _plot_profile(season_profile(season), "month", axes_or_new(ax, (8.0, 3.4)),
                       outcomes)
    ax.set_ylabel("weekly odds (average month ×1)")
    ax.set_title(title or "The months of the year in which deals are won and lost")
    return ax


def _plot_profile(prof: pd.DataFrame, name: str, ax: Axes,
                  outcomes: tuple[str, ...]) -> Axes:
    n = prof[name].nunique()
    width = 0.8 / len(outcomes)
    for j, (outcome, color) in enumerate(zip(outcomes, ("#2f7d32", "#b23b3b", "#4a6fa5"),
                                             strict=False)):
        p = prof[prof["outcome"] == outcome]
        x = np.arange(n) + (j - (len(outcomes) - 1) / 2) * width
        ax.bar(x, p["odds"] - 1.0, width, bottom=1.0, color=color, alpha=0.8,
               label=f"{outcome} (94% interval)")
        odds = p["odds"].to_numpy()
        err = np.clip([odds - p["odds_lower"].to_numpy(), p["odds_upper"].to_numpy() - odds],
                      0.0, None)  # a constant draw's interval is its value, give or take 1e-16
        ax.errorbar(x, odds, yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_yscale("log")
    # multipliers near 1 (the months of the year, shrunk) get finer ticks than the slots'
    narrow = (prof["odds_upper"].max() / prof["odds_lower"].min()) < 2.0
    ax.yaxis.set_major_locator(FixedLocator(
        [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75] if narrow
        else [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"×{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(np.arange(n), list(prof[name].unique()))
    ax.legend(frameon=False, fontsize=8)
    return ax
