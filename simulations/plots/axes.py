"""The one helper the plots share: draw on the caller's ``Axes``, or on a new figure."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure


def axes_or_new(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax`` itself, or the ``Axes`` of a new figure of ``figsize`` inches (made without
    pyplot, so nothing is left open in its global state)."""
    if ax is not None:
        return ax
    return Figure(figsize=figsize, layout="constrained").subplots()
