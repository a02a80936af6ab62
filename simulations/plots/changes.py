"""Waterfall charts of what changed between two dates: the pipeline (``changes.json``)
and the forecast bridge (``changes.json``'s ``bridge``, measure ``expected``).

Takes an ``Axes``, draws on it and returns it, like every plot in this package.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

#: colour-blind-safe (Okabe–Ito): totals grey, rises blue, falls vermilion
TOTAL, UP, DOWN = "#7f7f7f", "#0072B2", "#D55E00"
MEASURE_NAMES = {"amount": "Pipeline amount", "weighted": "Weighted pipeline",
                 "deals": "Open deals", "expected": "Expected revenue"}


def short_money(value: float, _=None) -> str:
    """An amount as ``1.2M``, ``−850.0k`` (also a ``FuncFormatter``'s function)."""
    a = abs(value)
    sign = "−" if value < 0 else ""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= size:
            return f"{sign}{a / size:.1f}{unit}"
    return f"{sign}{a:.0f}"


def waterfall(changes: dict, ax: Axes | None = None, measure: str = "weighted",
              title: str = "") -> Axes:
    """The waterfall of ``changes`` (the ``changes.json`` form, or its ``bridge``) in
    ``measure``.

    Bars: the pipeline at ``from``, each change that moved ``measure`` (bars with no deals
    or no change are left out; the bridge's model update has no deals), the pipeline at
    ``to``. Rises are blue, falls vermilion;
    each bar is labelled with its value and number of deals.

    Parameters
    ----------
    changes
        :meth:`forecast.data.changes.PipelineChanges.to_dict` output.
    measure
        ``weighted`` (amount × CRM stage probability: stage moves show), ``amount`` or
        ``deals``; ``expected`` for the forecast bridge.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if measure not in MEASURE_NAMES:
        raise ValueError(f"measure must be one of {sorted(MEASURE_NAMES)}, got {measure!r}")
    bars = [b for b in changes["bars"]
            if (b["deals"] or b["bar"] == "model") and b["change"][measure] != 0]
    labels = [f"{changes['from']}", *[b["label"] for b in bars], f"{changes['to']}"]
    counts = [changes["start"]["deals"], *[b["deals"] if b["bar"] != "model" else None
                                           for b in bars], changes["end"]["deals"]]
    steps = [b["change"][measure] for b in bars]
    start, end = changes["start"][measure], changes["end"][measure]
    bottoms = [0.0]
    heights = [start]
    level = start
    for s in steps:
        bottoms.append(level if s >= 0 else level + s)
        heights.append(abs(s))
        level += s
    bottoms.append(0.0)
    heights.append(end)
    colours = [TOTAL, *[UP if s >= 0 else DOWN for s in steps], TOTAL]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels)), 4.0))
    x = np.arange(len(labels))
    ax.bar(x, heights, bottom=bottoms, color=colours, width=0.65)
    top = max(b + h for b, h in zip(bottoms, heights, strict=True)) or 1.0
    values = [start, *steps, end]
    for xi, b, h, v, n in zip(x, bottoms, heights, values, counts, strict=True):
        sign = "+" if v > 0 and 0 < xi < len(x) - 1 else ""
        deals = "" if n is None else f"\n{n} deals"
        ax.text(xi, b + h + 0.01 * top, f"{sign}{short_money(v)}{deals}", ha="center",
                va="bottom", fontsize=8)
    after = np.concatenate([[start], start + np.cumsum(steps)])  # level after each bar
    for xi, lv in enumerate(after):  # connectors from each bar to the next
        ax.plot([xi + 0.33, xi + 0.67], [lv, lv], color="#444", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=0, fontsize=8)
    ax.set_ylim(0, top * 1.18)
    ax.yaxis.set_major_formatter(FuncFormatter(short_money))
    ax.spines[["top", "right"]].set_visible(False)
    scope = ((" of " if measure == "expected" else " expected in ") + changes["period"]
             if changes.get("period") else "")
    ax.set_title(title or f"{MEASURE_NAMES[measure]}{scope}: "
                 f"{changes['from']} → {changes['to']}", fontsize=10)
    return ax
