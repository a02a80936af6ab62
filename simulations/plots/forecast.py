"""Plots of forecasts: fan chart, attainment probabilities, scenario overlays.

Each function takes an optional ``ax``, draws on it and returns it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes


def fan_chart(total: np.ndarray, months: tuple[str, ...], history: pd.Series | None = None,
              weighted_by_month: list[dict] | None = None, ax: Axes | None = None,
              title: str = "") -> Axes:
    """Fan chart of ``total (n_draws, n_months)`` with past bookings and the CRM figure.

    Bands: 5–95%, 10–90% and 25–75%; the line is the median.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(months))
    for lo, hi, alpha in ((5, 95, 0.15), (10, 90, 0.25), (25, 75, 0.4)):
        ax.fill_between(x, np.percentile(total, lo, axis=0), np.percentile(total, hi, axis=0),
                        color="tab:blue", alpha=alpha, lw=0, label=f"P{lo}–P{hi}")
    ax.plot(x, np.median(total, axis=0), color="tab:blue", lw=2, label="median (P50)")
    labels = list(months)
    if history is not None and len(history):
        hx = np.arange(-len(history), 0)
        ax.plot(hx, history.to_numpy(), color="black", marker="o", ms=3, label="booked")
        labels = [str(p) for p in history.index] + labels
        x_all = np.concatenate([hx, x])
    else:
        x_all = x
    if weighted_by_month:
        w = [r["weighted"] for r in weighted_by_month]
        ax.scatter(x[: len(w)], w, color="tab:red", marker="x", zorder=5,
                   label="CRM weighted pipeline (by expected close)")
    ax.set_xticks(x_all)
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("revenue")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(title or "Monthly booked revenue: history and forecast")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return ax


def attainment_chart(quotas: list[dict], ax: Axes | None = None, title: str = "") -> Axes:
    """Horizontal bars of P(reaching quota) per quota row, highest first."""
    rows = [q for q in quotas if q.get("p_attain") is not None]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, max(2.5, 0.32 * len(rows) + 1)))
    if not rows:
        ax.text(0.5, 0.5, "no quota period falls inside the horizon", ha="center")
        ax.set_axis_off()
        return ax
    rows = sorted(rows, key=lambda r: r["p_attain"])
    labels = [f"{r['owner']} · {r['period']}" for r in rows]
    colors = ["tab:green" if r["p_attain"] >= 0.7 else "tab:orange" if r["p_attain"] >= 0.3
              else "tab:red" for r in rows]
    ax.barh(labels, [r["p_attain"] for r in rows], color=colors)
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of reaching quota")
    ax.set_title(title or "Quota attainability")
    ax.tick_params(axis="y", labelsize=8)
    return ax


def overlay_distributions(samples: dict[str, np.ndarray], ax: Axes | None = None,
                          quota: float | None = None, title: str = "") -> Axes:
    """Overlaid histograms of several revenue distributions (e.g. scenarios)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    lo = min(np.percentile(s, 0.5) for s in samples.values())
    hi = max(np.percentile(s, 99.5) for s in samples.values())
    bins = np.linspace(lo, hi, 50)
    for name, s in samples.items():
        ax.hist(s, bins=bins, histtype="step", lw=2, density=True, label=name)
    if quota is not None:
        ax.axvline(quota, color="black", ls="--", label="quota")
    ax.set_xlabel("revenue")
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.legend(fontsize=8)
    ax.set_title(title)
    return ax
