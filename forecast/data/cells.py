"""Weekly exposure cells: the sufficient statistics of the deal-flow model.

Each week a deal in a stage either stays, advances to the next stage, is won, or is
lost. The model's hazards depend on (stage, time-in-stage bucket, owner, segment,
covariate pattern), so the multinomial likelihood of all deal-weeks equals that of the
per-cell counts: fitting on cells gives the deal-level posterior at a fraction of the
cost.

Week ``w`` of a stay covers days ``[entry + 7w, entry + 7w + 6]``; an event on day ``x``
falls in week ``(x − entry) // 7``. A spell censored at ``as_of`` (inclusive) has
``(as_of − entry + 1) // 7`` complete weeks of "stay" exposure plus ``r`` observed days of
the next week, kept in ``partial[:, r − 1]``: the model gives them the exact likelihood of
no event in ``r`` of 7 days, ``1 − (r/7)·(1 − p_stay)`` (events uniform within a week).

With the quarter calendar on (``pipeline.yaml``: ``calendar: true``) the hazards also depend
on the slot of the fiscal quarter a week starts in (:func:`forecast.data.periods.quarter_slot`
of ``entry + 7w``), and every deal-week — a stay, the event's week, the censored
part-week — is counted in the cell of its own week's slot. With drift on (``drift: true``)
the cells are split the same way by the fiscal quarter a week starts in (its
:func:`~forecast.data.periods.quarter_number` less the history's first), so that the stage
intercepts can move from quarter to quarter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.data.periods import (
    QUARTER_SLOTS,
    quarter_number,
    quarter_number_and_change,
    quarter_slot_and_change,
    quarter_start,
)

#: Left edges (in weeks in stage) of the duration buckets of the hazard.
DURATION_EDGES_WEEKS: tuple[int, ...] = (0, 1, 2, 4, 8, 13, 26, 52)
#: Weeks in stage beyond which the hazard no longer changes.
MAX_WEEK = DURATION_EDGES_WEEKS[-1]
#: Columns of the count matrix.
EVENTS = ("stay", "advance", "won", "lost")


def duration_bucket(weeks: np.ndarray) -> np.ndarray:
    """Bucket index of completed weeks in stage."""
    edges = np.asarray(DURATION_EDGES_WEEKS)
    return np.searchsorted(edges, np.asarray(weeks), side="right") - 1


@dataclass(frozen=True)
class CellTable:
    """Aggregated exposure: one row per occupied (stage, bucket, owner, segment, pattern,
    quarter slot).

    Attributes
    ----------
    stage, bucket, owner, segment, pattern
        Integer codes per cell.
    counts
        ``(n_cells, 4)`` deal-weeks ending in stay, advance, won, lost.
    partial
        ``(n_cells, 6)`` censored part-weeks with 1..6 days observed without an event.
    n_stages, n_owners, n_segments, n_patterns
        Sizes of the code spaces.
    n_slots
        1 without the quarter calendar, ``len(QUARTER_SLOTS)`` (4) with it.
    slot
        Slot of the fiscal quarter the cell's weeks start in (all 0 without the calendar;
        ``None`` given: all 0).
    n_quarters, quarter, first_quarter
        With drift: the fiscal quarter the cell's weeks start in, counted from
        ``first_quarter`` (a :func:`~forecast.data.periods.quarter_number`), and how many
        there are; without: 1, all 0.
    walk_start
        With drift: the first quarter (counted as ``quarter``) whose first month records a
        close, where the drift's walk starts; the quarters before it are those of an export
        that records no close, or only part of a quarter's (:func:`walk_start`). 0 without.
    """

    stage: np.ndarray
    bucket: np.ndarray
    owner: np.ndarray
    segment: np.ndarray
    pattern: np.ndarray
    counts: np.ndarray
    partial: np.ndarray
    n_stages: int
    n_owners: int
    n_segments: int
    n_patterns: int
    n_slots: int = 1
    slot: np.ndarray | None = field(default=None)
    n_quarters: int = 1
    quarter: np.ndarray | None = field(default=None)
    first_quarter: int = 0
    walk_start: int = 0

    def __post_init__(self) -> None:
        for name in ("slot", "quarter"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(len(self.stage), dtype=np.int64))

    @property
    def n_cells(self) -> int:
        return len(self.stage)

    @property
    def exposure(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"stage": self.stage, "bucket": self.bucket, "owner": self.owner,
                              "segment": self.segment, "pattern": self.pattern,
                              "slot": self.slot, "quarter": self.quarter})
        for j, e in enumerate(EVENTS):
            frame[e] = self.counts[:, j]
        for r in range(1, 7):
            frame[f"partial_{r}"] = self.partial[:, r - 1]
        return frame


def build_cells(
    spells: pd.DataFrame,
    owner_code: np.ndarray,
    segment_code: np.ndarray,
    pattern_code: np.ndarray,
    n_stages: int,
    n_owners: int,
    n_segments: int,
    n_patterns: int,
    calendar: bool = False,
    fiscal_year_start: int = 1,
    first_month: np.datetime64 | None = None,
    drift: bool = False,
) -> CellTable:
    """Aggregate stage spells into weekly exposure cells.

    Parameters
    ----------
    spells
        ``stage_idx``, ``start``, ``end``, ``outcome`` per spell (see :mod:`forecast.data.snapshot`).
    owner_code, segment_code, pattern_code
        Integer code of each spell's owner, segment and covariate pattern.
    n_stages, n_owners, n_segments, n_patterns
        Sizes of the code spaces.
    calendar
        Split every deal-week by the slot of the fiscal quarter its first day falls in
        (``pipeline.yaml``: ``calendar``); without it the cells are those of no calendar.
    fiscal_year_start
        Month (1..12) the fiscal year starts in (the quarters of ``calendar``).
    first_month
        With ``calendar``: also split by calendar month, counted from this one
        (``datetime64[M]``, no later than any spell's start): ``slot`` is then ``4 ·
        month + quarter slot`` (:func:`month_slot_and_change`; the months' exposure for
        :mod:`forecast.models.month_variation`).
    drift
        Also split by the fiscal quarter each week starts in (``pipeline.yaml``:
        ``drift``): ``quarter`` counts quarters from the first spell's.
    """
    days = ((spells["end"] - spells["start"]).dt.days.to_numpy()).clip(min=0)
    outcome = spells["outcome"]
    censored = (outcome == "censored").to_numpy(dtype=bool)
    k = np.where(censored, (days + 1) // 7, days // 7)
    part = np.where(censored, (days + 1) % 7, 0).astype(np.int8)
    del days, censored
    event_col = np.select([(outcome == e).to_numpy(dtype=bool) for e in EVENTS[1:]], [1, 2, 3],
                          default=-1).astype(np.int8)
    n_b = len(DURATION_EDGES_WEEKS)
    split = (calendar or drift) and len(spells) > 0
    n_cal = len(QUARTER_SLOTS) if calendar else 1
    month0 = first_month if calendar else None
    q0 = n_codes = 0
    if split:
        first_start = spells["start"].min().date()
        last_start = spells["start"].max() + pd.Timedelta(days=7 * (int(k.max()) + 1))
        q0 = int(quarter_number(np.datetime64(first_start, "D"), fiscal_year_start))
        if month0 is not None:  # every month from the first to the last week's start
            n_months = int(np.datetime64(last_start.date(), "M").astype(np.int64)
                           - np.datetime64(month0, "M").astype(np.int64)) + 1
            n_codes = n_cal * max(n_months, 1)
        else:
            n_q = int(quarter_number(np.datetime64(last_start.date(), "D"),
                                     fiscal_year_start)) - q0 + 1 if drift else 1
            n_codes = n_cal * max(n_q, 1)
    period = _period_function(calendar, drift, fiscal_year_start, month0, q0)
    n_slots = max(n_codes, 1)
    stage = spells["stage_idx"].to_numpy().astype(np.int64)
    base = ((stage * n_owners + owner_code) * n_segments + segment_code) * n_patterns + pattern_code
    del stage
    # (base, bucket) keys are ranked by base, then bucket: base is compressed to its rank
    # among the spells' distinct values, so that keys are small integers
    uniq_base, base_rank = np.unique(base, return_inverse=True)
    del base
    # a cell's key is (base rank, bucket, slot) in mixed radix (n_b, n_slots)
    key = base_rank.reshape(-1).astype(np.int64) * (n_b * n_slots)
    del base_rank
    # the week of the event or part-week: its bucket (and, with the calendar, its slot)
    last = duration_bucket(k).astype(np.int64) * n_slots
    start = None
    if split:
        start = spells["start"].to_numpy().astype("datetime64[D]")
        last += period(start + 7 * k)[0]
    edges = DURATION_EDGES_WEEKS + (np.iinfo(np.int64).max,)

    def contributions():
        """``(column, keys, weights)`` of every count: computed when asked, twice, rather
        than all kept (tens of millions of keys at a million deals)."""
        if split:
            yield from _calendar_stays(key, k, start, n_slots, period)
        else:
            for b in range(n_b):  # stays in each bucket: completed weeks k split over [lo, hi)
                stays = np.clip(k, edges[b], edges[b + 1]) - edges[b]
                m = stays > 0
                yield 0, key[m] + b, stays[m].astype(np.float64)
        for col in (1, 2, 3):
            m = event_col == col
            yield col, key[m] + last[m], None
        for r in range(1, 7):
            m = part == r
            yield 3 + r, key[m] + last[m], None

    occupied_mask = np.zeros(len(uniq_base) * n_b * n_slots, dtype=bool)
    for _, keys, _ in contributions():
        occupied_mask[keys] = True
    occupied = np.flatnonzero(occupied_mask)
    position = np.cumsum(occupied_mask, dtype=np.int64) - 1
    del occupied_mask
    agg = np.zeros((len(occupied), 10), dtype=np.int64)
    for col, keys, weights in contributions():
        agg[:, col] += np.bincount(position[keys], weights=weights,
                                   minlength=len(occupied)).astype(np.int64)
    del position
    code = occupied % n_slots
    occupied //= n_slots
    bucket = occupied % n_b
    rest = uniq_base[occupied // n_b]
    pattern = rest % n_patterns
    rest //= n_patterns
    segment = rest % n_segments
    rest //= n_segments
    owner = rest % n_owners
    stage_c = rest // n_owners
    period_fields = _decode_period(code, calendar, drift, n_slots, month0, q0,
                                   fiscal_year_start)
    if drift and split:
        closes = event_col >= 2
        period_fields["walk_start"] = walk_start(start[closes] + 7 * k[closes], q0,
                                                 period_fields["n_quarters"], fiscal_year_start)
    return CellTable(stage=stage_c, bucket=bucket, owner=owner, segment=segment, pattern=pattern,
                     counts=agg[:, :4], partial=agg[:, 4:], n_stages=n_stages,
                     n_owners=n_owners, n_segments=n_segments, n_patterns=n_patterns,
                     **period_fields)


def walk_start(close_weeks: np.ndarray, first_quarter: int, n_quarters: int,
               fiscal_year_start: int = 1) -> int:
    """The first quarter (counted from ``first_quarter``) of the drift's walk: the quarter
    of the first close (the start of the week a deal was won or lost in) when that falls in
    the quarter's first month, else the next one; at most the last quarter, 0 without any
    close.

    An export that records no close before some date (the Maven CRM data's first close is
    on 2017-03-01, its first deal in October 2016) still counts its open deals' weeks, so
    the quarters before it, and the quarter it falls in part-way, would read as quarters in
    which nobody wins or loses; the walk starts after them and they keep one level of their
    own (:func:`forecast.models.flow.drift_effects`).

    Examples
    --------
    >>> weeks = np.array(["2017-03-01", "2017-05-02"], dtype="datetime64[D]")
    >>> q0 = int(quarter_number(np.datetime64("2016-10-20", "D")))
    >>> walk_start(weeks, q0, 5), walk_start(weeks[1:], q0, 5), walk_start(weeks[:0], q0, 5)
    (2, 3, 0)
    >>> walk_start(np.array(["2017-01-09"], dtype="datetime64[D]"), q0, 5)
    1
    """
    if len(close_weeks) == 0:
        return 0
    q = first_closed_quarter(close_weeks, fiscal_year_start) - first_quarter
    return int(min(q, max(n_quarters - 1, 0)))


def first_closed_quarter(close_days: np.ndarray, fiscal_year_start: int = 1) -> int:
    """The :func:`quarter_number` of the first quarter whose closes are recorded from its
    first month on: the first close's quarter when the close falls in that quarter's first
    month, else the next one (``close_days`` not empty)."""
    first = np.min(np.asarray(close_days).astype("datetime64[D]"))
    q = int(quarter_number(first, fiscal_year_start))
    in_first_month = (np.datetime64(first, "M")
                      == np.datetime64(quarter_start(q, fiscal_year_start), "M"))
    return q if in_first_month else q + 1


#: full fiscal quarters of recorded closes (:func:`closed_quarters`) the quarter's calendar
#: and drift need behind the forecast date; with fewer the flow model is fitted without
#: them (:func:`forecast.models.fit.time_effects_withheld`). On the Maven export, whose
#: first close is on 2017-03-01, a fit with either effect before the first whole quarter of
#: closes had ended missed by twice the CRPS of a fit with neither (``docs/calendar-effects.md``,
#: ``docs/drift-effects.md``): the months before the first close read as months in which
#: nobody won or lost.
MIN_CLOSED_QUARTERS = 1


def closed_quarters(close_days: np.ndarray, as_of: np.datetime64 | str,
                    fiscal_year_start: int = 1) -> int:
    """Whole fiscal quarters of recorded closes ended by ``as_of``: counted from the quarter
    of the first close when that falls in the quarter's first month (else from the next
    quarter, as :func:`walk_start`), up to the last quarter whose last day is ``as_of`` or
    earlier; 0 without any close.

    Examples
    --------
    >>> days = np.array(["2017-03-01", "2017-05-02"], dtype="datetime64[D]")
    >>> closed_quarters(days, "2017-06-29"), closed_quarters(days, "2017-06-30")
    (0, 1)
    >>> closed_quarters(days[:1], "2017-09-30", fiscal_year_start=3)  # FY quarters Mar–May, …
    2
    """
    if len(close_days) == 0:
        return 0
    day_after = np.datetime64(as_of, "D") + 1
    last_full = int(quarter_number(day_after, fiscal_year_start)) - 1
    return max(0, last_full - first_closed_quarter(close_days, fiscal_year_start) + 1)


def _decode_period(code: np.ndarray, calendar: bool, drift: bool, n_codes: int,
                   first_month: np.datetime64 | None, first_quarter: int,
                   fiscal_year_start: int) -> dict:
    """The cells' ``slot`` and ``quarter`` fields from their period codes (see
    :func:`_period_function`)."""
    n_cal = len(QUARTER_SLOTS) if calendar else 1
    if first_month is not None:  # month split: the slot field keeps 4 · month + slot
        slot, n_slots = code, n_codes
        month = np.datetime64(first_month, "M") + code // n_cal
        quarter = (quarter_number(month.astype("datetime64[D]"), fiscal_year_start)
                   - first_quarter) if drift else np.zeros_like(code)
    else:
        slot, n_slots, quarter = code % n_cal, n_cal, code // n_cal
    n_quarters = int(quarter.max()) + 1 if drift and len(code) else 1
    return {"n_slots": n_slots, "slot": slot, "n_quarters": n_quarters,
            "quarter": quarter.astype(np.int64), "first_quarter": first_quarter}


def _period_function(calendar: bool, drift: bool, fiscal_year_start: int,
                     first_month: np.datetime64 | None, first_quarter: int):
    """``period(days) -> (code, change)``: each date's period code and the first later date
    with another. Codes: the quarter slot (calendar), the quarter counted from
    ``first_quarter`` (drift), ``4 · quarter + slot`` (both), or with ``first_month`` the
    month and slot (:func:`month_slot_and_change`); a slot never spans two quarters, so
    its change is also the change of the combined code."""
    if first_month is not None:
        return lambda days: month_slot_and_change(days, first_month, fiscal_year_start)
    if not drift:
        return lambda days: quarter_slot_and_change(days, fiscal_year_start)
    n_cal = len(QUARTER_SLOTS) if calendar else 1

    def period(days):
        q, change = quarter_number_and_change(days, fiscal_year_start)
        if not calendar:
            return q - first_quarter, change
        slot, change = quarter_slot_and_change(days, fiscal_year_start)
        return n_cal * (q - first_quarter) + slot, change

    return period


def month_slot_and_change(days: np.ndarray, first_month: np.datetime64,
                          fiscal_year_start: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``4 · m + slot`` of each date (``m``: calendar months after ``first_month``, slot:
    its fiscal quarter's :func:`~forecast.data.periods.quarter_slot`) and the first later
    date with another code (a slot never spans two months, so that is the slot's change).

    Examples
    --------
    >>> code, change = month_slot_and_change(
    ...     np.array(["2024-01-05", "2024-03-20"], dtype="datetime64[D]"),
    ...     np.datetime64("2024-01", "M"))
    >>> code.tolist(), change.astype(str).tolist()
    ([0, 11], ['2024-02-01', '2024-04-01'])
    """
    d = np.asarray(days).astype("datetime64[D]")
    slot, change = quarter_slot_and_change(d, fiscal_year_start)
    month = (d.astype("datetime64[M]").astype(np.int64)
             - np.datetime64(first_month, "M").astype(np.int64))
    return 4 * month + slot, change


def _calendar_stays(key: np.ndarray, k: np.ndarray, start: np.ndarray, n_slots: int,
                    period):
    """``(0, keys, weights)`` of the stay weeks of every spell split by bucket and slot.

    Week ``w`` of a spell starts on ``start + 7w``; the spells' ``k`` stay weeks are walked
    in runs of weeks with one bucket and one slot, all spells at once: each step takes
    every unfinished spell's next run (up to its next bucket edge, the first week starting
    in another slot, or its last stay week). A slot is a month at most, so a run is 5 weeks
    or shorter and the steps
    are a few per quarter a spell lasts, each a vectorised pass over the spells left —
    no per-week rows.
    """
    edges = np.asarray(DURATION_EDGES_WEEKS[1:] + (np.iinfo(np.int64).max,), dtype=np.int64)
    idx = np.flatnonzero(k > 0)
    w = np.zeros(len(idx), dtype=np.int64)
    while idx.size:
        week_start = start[idx] + 7 * w
        b = duration_bucket(w)
        slot, change = period(week_start)
        days_left = (change - week_start).astype(np.int64)
        stop = np.minimum(np.minimum(k[idx], edges[b]), w + (days_left + 6) // 7)
        yield 0, key[idx] + b * n_slots + slot, (stop - w).astype(np.float64)
        more = stop < k[idx]
        idx, w = idx[more], stop[more]
