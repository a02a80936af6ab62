"""What the report says of the model's opt-in parts: the quarter calendar and the drift."""

from __future__ import annotations

import pandas as pd

#: full quarters of closes (:func:`forecast.data.metrics.quarter_linearity`) below which
#: the report warns that the calendar is learned from little history; with no whole quarter
#: of recorded closes the fit leaves it out altogether
#: (:data:`forecast.data.cells.MIN_CLOSED_QUARTERS`, docs/model.md)
CALENDAR_MIN_QUARTERS = 2


def calendar_note(profile: pd.DataFrame, months: bool = True,
                  quarters: int | None = None) -> str:
    """What the report says of the quarter calendar the model learned (``profile``:
    :func:`simulations.plots.calendar.calendar_profile`; ``months``: whether the fit has the
    months' own variation, which a fit saved before it existed lacks; ``quarters``: the
    full quarters of closes in the history, :func:`forecast.data.metrics.quarter_linearity`,
    a warning below :data:`CALENDAR_MIN_QUARTERS`)."""
    odds = profile.set_index(["outcome", "slot"])["odds"]
    luck = (", and draws each future month's own good or bad luck" if months else "")
    text = (f"**Quarter calendar** (`calendar: true`). A week starting in the quarter's last "
            f"two weeks has ×{odds['won', 'last two weeks']:.2f} the average slot's odds of a "
            f"win and ×{odds['lost', 'last two weeks']:.2f} of a loss; in its first month "
            f"×{odds['won', 'month 1']:.2f} and ×{odds['lost', 'month 1']:.2f}. The forecast "
            f"applies them week by week{luck} (docs/model.md).")
    if quarters is not None and quarters < CALENDAR_MIN_QUARTERS:
        text += (f" **Caution:** the history holds {quarters} full quarter"
                 f"{'' if quarters == 1 else 's'} of closes: one quarter's pattern is little "
                 "to tell the calendar from how the history itself changed. Consider "
                 "`calendar: false` until "
                 f"{CALENDAR_MIN_QUARTERS} full quarters are in.")
    return text


def season_note(profile: pd.DataFrame | None, withheld: dict | None = None) -> str:
    """What the report says of the month-of-year effects (``seasonal: true``): ``profile``
    (:func:`simulations.plots.calendar.season_profile`) when the fit learned them, else
    ``withheld`` (``posterior.diagnostics["month_variation"]["season"]``) for a history that
    does not hold every month of the year twice yet."""
    if profile is None:
        w = withheld or {}
        return ("**Not in this fit: `seasonal: true`.** The history holds some month of the "
                f"year {w.get('fewest_per_month', 0)} time(s) after its first closes; the "
                f"month-of-year effects are learned once it holds each "
                f"{w.get('needed_per_month', 2)} times (one year cannot tell a month's "
                "pattern from its luck). They come on by themselves.")
    won = profile[profile["outcome"] == "won"].set_index("month")["odds"]
    lost = profile[profile["outcome"] == "lost"].set_index("month")["odds"]
    best, worst = won.idxmax(), won.idxmin()
    return (f"**Month of the year** (`seasonal: true`). A week starting in {best} has "
            f"×{won[best]:.2f} the average month's odds of a win, in {worst} ×{won[worst]:.2f}; "
            f"the odds of a loss are highest in {lost.idxmax()} (×{lost.max():.2f}). The "
            "forecast applies each month's effect on top of the quarter calendar's, shrunk "
            "towards none where the months of the year differ little (docs/model.md).")


def time_effects_withheld_note(effects: list[str], full_quarters: int, needed: int) -> str:
    """What the report says when ``pipeline.yaml`` turns on the quarter's calendar or drift
    but the history is too short for them (``posterior.diagnostics["time_effects_withheld"]``,
    :data:`forecast.data.cells.MIN_CLOSED_QUARTERS`)."""
    names = " and ".join(f"`{e}: true`" for e in effects)
    have = ("no whole quarter" if full_quarters == 0
            else f"{full_quarters} whole quarter{'' if full_quarters == 1 else 's'}")
    return (f"**Not in this fit: {names}.** The history holds {have} of recorded closes "
            f"behind the forecast date; the quarter's calendar and drift are learned from "
            f"{needed} or more. Before that, the months with no close recorded read as months "
            "in which nobody won or lost, and forecasts with these effects missed by far more "
            "than without (docs/calendar-effects.md). They come on by themselves once the "
            "history is long enough.")


def drift_note(profile: pd.DataFrame, sigma: dict[str, float] | None = None,
               walk_start: str | None = None) -> str:
    """What the report says of the drift the model learned (``profile``:
    :func:`simulations.plots.drift.drift_profile`; ``sigma``: each outcome's mean step,
    ``posterior.diagnostics["drift"][outcome]["sigma_mean"]``; ``walk_start``: the walk's
    first quarter, ``...["drift"]["walk_start"]``)."""
    quarters = list(dict.fromkeys(profile["quarter"]))
    odds = profile.set_index(["outcome", "quarter"])
    first = walk_start if walk_start in quarters else quarters[0]
    last = quarters[-1]

    def odds_of(outcome: str) -> str:
        row = odds.loc[(outcome, first)]
        return f"×{row['odds']:.2f} (94% interval {row['odds_lower']:.2f}–{row['odds_upper']:.2f})"

    text = (f"**Drift** (`drift: true`). In {first} a week's odds of a win were {odds_of('won')} "
            f"those of {last}, the latest quarter, and of a loss {odds_of('lost')}. The "
            "forecast starts from the latest quarter's level")
    if sigma:
        text += (f"; each quarter it reaches into moves the odds by a fresh step (spread "
                 f"{sigma.get('won', 0.0):.2f} on the won and {sigma.get('lost', 0.0):.2f} on "
                 "the lost log odds)")
    text += "."
    if first != quarters[0]:
        text += (f" The quarters before {first} record no close, or closes for only part of "
                 "the quarter, so they share one level of their own, outside the walk.")
    return text + " (docs/model.md)"
