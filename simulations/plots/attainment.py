"""Figures of quota attainability and pipeline recommendations.

Like :mod:`simulations.plots.metrics`, every helper draws on ``ax`` when given, otherwise on a new
:class:`matplotlib.figure.Figure` (no pyplot: any backend, no global state), and returns
the Axes; the figure is ``ax.figure`` (in a notebook: ``display(ax.figure)``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

from simulations.planning.attainment import KINDS, QuotaPaths
from simulations.plots.axes import axes_or_new

#: colour of each kind of quota row
KIND_COLOURS = {"total": "tab:gray", "team": "tab:purple", "rep": "tab:blue"}


def _one_period(frame: pd.DataFrame, period: str | None) -> tuple[pd.DataFrame, str]:
    if frame.empty:
        return frame, period or ""
    period = (period or frame["period"].iloc[0]).upper()
    return frame[frame["period"] == period], period


def plot_ranking(table: pd.DataFrame, period: str | None = None, ax: Axes | None = None) -> Axes:
    """The leaders' view: P(reaching quota) of the total, teams and reps side by side.

    Parameters
    ----------
    table
        :func:`simulations.planning.attainment.attainment_table`.
    period
        The period shown (default: the first in the table).
    ax
        Axes to draw on; a new figure when ``None``.

    Bars are grouped by kind (total, teams, reps) and ranked within each group; the label
    gives P(attain) and the median attainment (P50 revenue ÷ quota).
    """
    sub, period = _one_period(table, period)
    order = {k: i for i, k in enumerate(KINDS)}
    sub = sub.assign(_k=sub["kind"].map(order)).sort_values(["_k", "rank", "owner"])
    ax = axes_or_new(ax, (8, max(2.5, 0.3 * len(sub) + 1.2)))
    y = np.arange(len(sub)) + sub["_k"].to_numpy() * 0.6  # a gap between kinds
    colours = [KIND_COLOURS.get(k, "tab:blue") for k in sub["kind"]]
    bars = ax.barh(y, sub["p_attain"], color=colours, height=0.8)
    for bar, p, med in zip(bars, sub["p_attain"], sub["attainment_p50"], strict=True):
        ax.annotate(f"{p:.0%} · P50 {med:.0%} of quota",
                    (bar.get_width(), bar.get_y() + bar.get_height() / 2), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(y, sub["owner"])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.25)
    ax.axvline(0.5, color="black", lw=0.6, ls=":")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("probability of reaching quota")
    ax.set_title(f"Quota attainability, {period}")
    shown = [k for k in KINDS if k in set(sub["kind"])]
    ax.legend(handles=[Patch(color=KIND_COLOURS[k], label=k) for k in shown], fontsize=8,
              loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_attainment_distribution(paths: list[QuotaPaths], period: str | None = None,
                                 kind: str = "rep", ax: Axes | None = None,
                                 clip: float = 3.0) -> Axes:
    """Distribution of attainment (revenue ÷ quota) per quota row, as box plots.

    Boxes span P25–P75, whiskers P10–P90, the line is the median; the dashed line marks
    100% of quota. Values above ``clip`` (× quota) are drawn at ``clip``. Rows are sorted
    by P(attain), highest on top.
    """
    rows = [p for p in paths if p.complete and p.kind == kind and p.quota > 0]
    if rows:
        period = (period or rows[0].period).upper()
        rows = [p for p in rows if p.period == period]
    rows.sort(key=lambda p: (p.p_attain, p.owner))
    ax = axes_or_new(ax, (8, max(2.5, 0.35 * len(rows) + 1.2)))
    if not rows:
        ax.set_title("No complete quota rows")
        return ax
    data = [np.minimum(p.attainment, clip) for p in rows]
    ax.boxplot(data, orientation="horizontal", whis=(10, 90), showfliers=False, widths=0.6,
               tick_labels=[f"{p.owner} ({p.p_attain:.0%})" for p in rows])
    ax.axvline(1.0, color="tab:red", ls="--", lw=1, label="quota")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"attainment (revenue ÷ quota; capped at {clip:.0%})")
    ax.set_title(f"Attainment distribution per {kind}, {period} (label: P(attain))")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_swing_deals(swing: pd.DataFrame, owner: str, period: str | None = None,
                     ax: Axes | None = None) -> Axes:
    """One quota row's swing deals: P(attain) if the deal is lost (left end) and if won
    (right end), with today's P(attain) as a vertical line.

    Parameters
    ----------
    swing
        :func:`simulations.planning.attainment.swing_deals`.
    owner, period
        The quota row (period: the first of the owner's rows when ``None``).
    """
    sub = swing[swing["owner"] == owner]
    if len(sub):
        period = (period or sub["period"].iloc[0]).upper()
        sub = sub[sub["period"] == period].sort_values("rank")
    ax = axes_or_new(ax, (8, max(2.5, 0.35 * len(sub) + 1.2)))
    if sub.empty:
        ax.set_title(f"No swing deals for {owner}")
        return ax
    y = np.arange(len(sub))
    ax.hlines(y, sub["p_attain_if_lost"], sub["p_attain_if_won"], color="tab:gray", lw=3)
    ax.scatter(sub["p_attain_if_lost"], y, color="tab:red", zorder=3, label="deal lost")
    ax.scatter(sub["p_attain_if_won"], y, color="tab:green", zorder=3, label="deal won")
    ax.axvline(sub["p_attain"].iloc[0], color="black", ls=":", lw=1, label="now")
    labels = [f"{d} · {s} · {a:,.0f} (P win {p:.0%})" for d, s, a, p in
              zip(sub["deal_id"], sub["stage"], sub["amount"], sub["p_win_in_period"],
                  strict=True)]
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("probability of reaching quota")
    ax.set_title(f"Swing deals of {owner}, {period}")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_recommendation(rec, ax: Axes | None = None) -> Axes:
    """P(revenue ≥ target) against added qualified deals, with and without the existing
    pipeline, the confidence asked for, and the simulated and classic answers.

    Parameters
    ----------
    rec
        A :class:`simulations.planning.recommend.Recommendation`.
    """
    ax = axes_or_new(ax, (8, 5.2))
    c = rec.curve
    ax.plot(c["added_deals"], c["p_attain"], color="tab:blue", lw=2,
            label="with today's pipeline and expected new deals")
    ax.plot(c["added_deals"], c["p_attain_from_scratch"], color="tab:orange", lw=1.5,
            ls="--", label="added deals only (from zero)")
    ax.axhline(rec.confidence, color="black", lw=0.8, ls=":",
               label=f"confidence {rec.confidence:.0%}")
    if rec.deals_needed is not None:
        ax.axvline(rec.deals_needed, color="tab:blue", lw=1,
                   label=f"simulated: {rec.deals_needed:,} deals")
    # the classic count on this axis: won deals (target ÷ average size) ÷ the win rate
    # from the qualified stage
    cl = rec.classic or {}
    classic = cl.get("qualified_deals_needed")
    if classic is not None:
        ax.axvline(classic, color="tab:red", lw=1, ls="--",
                   label=f"classic formula: {classic:,} deals ({cl['deals_needed']:,} won "
                   f"÷ {rec.stage} win rate {cl['win_rate_from_stage']:.0%})")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel(f"added {rec.stage} deals")
    ax.set_ylabel("P(revenue ≥ target)")
    t = rec.target
    ax.set_title(f"Deals needed: {t.name}, {t.period}, target {t.amount:,.0f}")
    # below the axes: inside, it would hide the curves or the two answers
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax.grid(alpha=0.3)
    return ax
