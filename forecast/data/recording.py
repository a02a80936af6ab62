"""When an export starts recording closes: the history before it is left out of the fit.

Some exports hold deals created long before their first recorded win or loss: a CRM
migrated with its open pipeline, or a table that keeps closes from one date on (the Maven
CRM data's first deal is from October 2016, its first close on 2017-03-01). Counted as
they stand, the months before would read as months in which nobody won or lost anything,
and the deal-flow model would learn closing odds far too low at the ages deals had then.

:func:`closes_recorded_from` tells such an export from one whose first close simply came
a little after its first deal: it counts the deal-weeks open before the first close and
the closes the history's later rate (closes per deal-week from the first close to
``as_of``) would have given them. At :data:`IMPLAUSIBLE_ZERO` or more expected closes,
none observed is not chance (``P(0) = e^-10 ≈ 5·10^-5``): the closes were not recorded,
and the fit counts each deal's weeks from the week of the first close on (left truncation,
:func:`forecast.data.cells.build_cells`'s ``counted_from``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: expected closes before the first recorded one at which its absence is not chance
IMPLAUSIBLE_ZERO = 10.0


@dataclass(frozen=True)
class Recording:
    """The first recorded close, and what the history's later rate expects before it.

    Attributes
    ----------
    first_close
        Day of the first won or lost deal (``None``: no close yet).
    deal_weeks_before
        Deal-weeks open before it.
    expected_before
        Closes the rate after it (closes per deal-week up to ``as_of``) gives those weeks.
    """

    first_close: np.datetime64 | None
    deal_weeks_before: float
    expected_before: float

    @property
    def truncated(self) -> bool:
        """Whether the weeks before the first close are left out of the fit."""
        return self.first_close is not None and self.expected_before >= IMPLAUSIBLE_ZERO

    def to_dict(self) -> dict:
        return {"first_close": None if self.first_close is None else str(self.first_close),
                "deal_weeks_before": round(self.deal_weeks_before, 1),
                "expected_before": round(self.expected_before, 1),
                "truncated": self.truncated}


def closes_recorded_from(spells: pd.DataFrame) -> Recording:
    """Whether ``spells`` (a snapshot's: ``start``, ``end``, ``outcome``; censored spells
    end at ``as_of``) record no close for a stretch in which the later rate expects many.

    Examples
    --------
    >>> day = pd.Timestamp
    >>> spells = pd.DataFrame({  # 40 deals open for 20 weeks before anything closes
    ...     "start": [day("2016-10-01")] * 40 + [day("2017-03-01")] * 10,
    ...     "end": [day("2017-03-10")] * 20 + [day("2017-03-31")] * 20
    ...            + [day("2017-03-20")] * 10,
    ...     "outcome": ["won"] * 20 + ["censored"] * 20 + ["lost"] * 10})
    >>> rec = closes_recorded_from(spells)
    >>> str(rec.first_close), rec.truncated
    ('2017-03-10', True)
    """
    start = spells["start"].to_numpy().astype("datetime64[D]")
    end = spells["end"].to_numpy().astype("datetime64[D]")
    closed = spells["outcome"].isin(["won", "lost"]).to_numpy()
    if not closed.any():
        return Recording(None, 0.0, 0.0)
    first = end[closed].min()
    before = (np.minimum(end, first) - start).astype(np.int64).clip(min=0).sum() / 7.0
    after = (end - np.maximum(start, first)).astype(np.int64).clip(min=0).sum() / 7.0
    rate = closed.sum() / max(after, 1.0)
    return Recording(first, float(before), float(rate * before))
