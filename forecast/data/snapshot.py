"""The point-in-time view of a dataset: only what was known on ``as_of``.

A deal exists at ``as_of`` if it was created by then; it is closed only if ``closed_at``
is on or before ``as_of``; its stage is the last stage it had entered by then. Stage
timelines come from ``stage_history`` where a deal has one; otherwise they are imputed
from ``created_at``, ``closed_at`` and the current stage (stage entries spread evenly
between creation and close, or the data's last date for open deals). Stage changes are
taken as monotone: re-entering an earlier stage is ignored, skipping stages is allowed.

Known limit: without stage history, or for the ``amount`` column (booked on won deals),
the data holds no dates for past values, so a snapshot taken before the extract date uses
them as they are now. Everything dated (creation, closing, stage entries) is cut at
``as_of``, so data added after ``as_of`` never changes the snapshot.

Built with numpy on integer codes (a deal is its position in the snapshot's deals, stages
their index, dates nanoseconds): one sort of all stage entries, no string keys, so a
million deals take a few seconds (``benchmarks/snapshot_scale.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from forecast.data.dataset import Dataset
from forecast.data.problems import UsageError

OUTCOMES = ("advance", "won", "lost", "censored")


@dataclass(frozen=True)
class Snapshot:
    """What was known about the pipeline at ``as_of``.

    Attributes
    ----------
    as_of
        The snapshot date (inclusive).
    deals
        Deals created by ``as_of`` with their state then: ``status`` (open/won/lost at
        ``as_of``), ``closed_at`` (NaT unless closed by ``as_of``), ``stage`` and
        ``stage_idx`` (stage held at ``as_of``, or the stage closed from),
        ``stage_entered_at``, ``days_in_stage``, ``age_days``.
    spells
        One row per stay of a deal in a stage: ``deal_id``, ``stage_idx``, ``start``,
        ``end``, ``outcome`` (advance, won, lost, or censored at ``as_of``), ``owner``,
        ``segment``.
    dataset
        The dataset it was taken from.
    """

    as_of: pd.Timestamp
    deals: pd.DataFrame
    spells: pd.DataFrame
    dataset: Dataset

    @property
    def stages(self) -> tuple[str, ...]:
        return self.dataset.stages

    @property
    def open_deals(self) -> pd.DataFrame:
        return self.deals[self.deals["status"] == "open"].reset_index(drop=True)

    @property
    def closed_deals(self) -> pd.DataFrame:
        return self.deals[self.deals["status"] != "open"].reset_index(drop=True)


_NS_PER_DAY = 86_400_000_000_000
_NAT = np.iinfo(np.int64).min


def _ns(values: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as int64 nanoseconds (NaT → the int64 minimum)."""
    return np.asarray(values, dtype="datetime64[ns]").view(np.int64)


def _id_rank(ids: np.ndarray) -> np.ndarray:
    """Rank of each deal id in sorted order (the order deals' spells are listed in)."""
    if pd.Index(ids).is_monotonic_increasing:
        return np.arange(len(ids), dtype=np.int64)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(len(ids), dtype=np.int64)
    return rank


def positions(ids: np.ndarray | pd.Series, keys: np.ndarray | pd.Series) -> np.ndarray:
    """Position of each of ``keys`` among the unique ``ids`` (−1 where absent), as
    ``pandas.Index.get_indexer`` gives it, but looking up each run of equal consecutive keys
    once: spells and histories list a deal's rows together, so a million deals' three
    million rows cost a million lookups.
    """
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    head = np.ones(len(keys), dtype=bool)
    if isinstance(keys, pd.Series) and isinstance(keys.dtype, pd.StringDtype) and (
            keys.dtype.storage == "pyarrow"):
        arrow = pa.array(keys)  # the same buffers, no copy
        head[1:] = pc.not_equal(arrow[1:], arrow[:-1]).fill_null(True).to_numpy(
            zero_copy_only=False)
        heads = keys[head]
    else:
        values = np.asarray(keys)
        head[1:] = values[1:] != values[:-1]
        heads = values[head]
    return pd.Index(ids).get_indexer(heads)[np.cumsum(head) - 1]


def _imputed_entries(
    created: np.ndarray, end: np.ndarray, stage_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage entries 0..k spread evenly between creation and ``end`` (k = last stage).

    Returns ``(deal, stage_idx, entered)``: position of the deal in the inputs, stage, and
    entry date (int64 nanoseconds), deal by deal in stage order.
    """
    reps = stage_idx.astype(np.int64) + 1
    deal_pos = np.repeat(np.arange(len(created)), reps)
    j = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    span_days = (end.view("datetime64[ns]") - created.view("datetime64[ns]")) / np.timedelta64(1, "D")
    span_days = np.maximum(np.nan_to_num(span_days, nan=0.0), 0.0)
    offset = np.floor(span_days[deal_pos] * j / reps[deal_pos]).astype(np.int64)
    return deal_pos, j, created[deal_pos] + offset * _NS_PER_DAY


def _entries(dataset: Dataset, ids: np.ndarray, created: np.ndarray, closed: np.ndarray,
             stage: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every stage entry of some deals of ``dataset`` (all dates, not yet cut at ``as_of``).

    Parameters
    ----------
    ids, created, closed, stage
        The deals' ids, creation and (dataset's, uncut) closing dates as int64 ns, and
        current stage names.

    Returns
    -------
    deal, stage_idx, entered, from_history
        Position of the deal in the inputs, stage index, entry date (int64 ns), and whether
        the row is a history row. History rows are used where a deal has any; deals without
        are imputed (see :func:`_imputed_entries`).
    """
    stage_index = pd.Index(dataset.stages)
    has_hist = np.zeros(len(ids), dtype=bool)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = []
    hist = dataset.stage_history
    if hist is not None and len(hist):
        pos = positions(ids, hist["deal_id"])
        mine = pos >= 0
        pos = pos[mine]
        has_hist[pos] = True
        entered = _ns(hist["entered_at"])[mine]
        entered[entered == _NAT] = np.iinfo(np.int64).max  # undated rows sort last
        parts.append((pos, stage_index.get_indexer(hist["stage"])[mine].astype(np.int64),
                      entered, True))
    rest = np.flatnonzero(~has_hist)
    if len(rest):
        end = closed[rest]
        end = np.where(end == _NAT, _ns(np.array([np.datetime64(dataset.last_date, "ns")]))[0],
                       end)
        d, j, t = _imputed_entries(created[rest], end,
                                   stage_index.get_indexer(stage[rest]))
        parts.append((rest[d], j, t, False))
    return (np.concatenate([p[0] for p in parts]).astype(np.int32),
            np.concatenate([p[1] for p in parts]).astype(np.int32),
            np.concatenate([p[2] for p in parts]),
            np.concatenate([np.full(len(p[0]), p[3]) for p in parts]))


def _sort_order(rank: np.ndarray, entered: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """Order of entries by (deal id, entry date, stage): one integer sort when the dates are
    whole days and the key fits in int64, else a lexicographic sort."""
    if len(entered) == 0:
        return np.arange(0)
    lo, hi = int(entered.min()), int(entered.max())
    n_days = (hi - lo) // _NS_PER_DAY + 1
    n_stage = int(stage.max()) + 1
    whole_days = not np.any((entered - lo) % _NS_PER_DAY)
    if whole_days and (int(rank.max()) + 1) * n_days * n_stage < 2**62:
        key = (rank * n_days + (entered - lo) // _NS_PER_DAY) * n_stage + stage
        return np.argsort(key, kind="stable")
    return np.lexsort((stage, entered, rank))


def _group_starts(g: np.ndarray) -> np.ndarray:
    """True where a run of equal values of ``g`` starts."""
    out = np.ones(len(g), dtype=bool)
    out[1:] = g[1:] != g[:-1]
    return out


def _still_ordered(moved: np.ndarray, deal: np.ndarray, entered: np.ndarray,
                   stage: np.ndarray) -> bool:
    """Whether entries sorted by (deal, entered, stage) still are after the entries at
    ``moved`` (each its deal's first) got an earlier date: each must not pass the next."""
    nxt = moved + 1
    inner = nxt < len(deal)
    moved, nxt = moved[inner], nxt[inner]
    same = deal[nxt] == deal[moved]
    moved, nxt = moved[same], nxt[same]
    de = entered[nxt] - entered[moved]
    return bool(np.all((de > 0) | ((de == 0) & (stage[nxt] >= stage[moved]))))


def stage_entries(dataset: Dataset) -> pd.DataFrame:
    """Every deal's stage entries (``deal_id``, ``stage_idx``, ``entered_at``), all dates.

    History rows are used where a deal has them (its first entry moved back to
    ``created_at`` if later); deals without any are imputed. Rows are listed by deal id,
    entry date and stage.
    """
    deals = dataset.deals
    ids = deals["deal_id"].to_numpy()
    created = _ns(deals["created_at"])
    deal, stage, entered, from_history = _entries(dataset, ids, created, _ns(deals["closed_at"]),
                                                  deals["stage"].to_numpy())
    rank = _id_rank(ids)
    order = _sort_order(rank[deal], entered, stage)
    deal, stage, entered, from_history = (deal[order], stage[order], entered[order],
                                          from_history[order])
    first = np.flatnonzero(_group_starts(deal) & from_history)
    entered[first] = created[deal[first]]
    if not _still_ordered(first, deal, entered, stage):  # an entry preceded creation
        order = np.lexsort((stage, entered, rank[deal]))
        deal, stage, entered = deal[order], stage[order], entered[order]
    return pd.DataFrame({"deal_id": _id_column(dataset, ids[deal]),
                         "stage_idx": stage.astype(np.int64),
                         "entered_at": entered.view("datetime64[ns]")})


def _text_take(values: np.ndarray, idx: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[idx]`` as a ``str`` array, converting only the distinct values."""
    code, uniques = pd.factorize(values)
    return pd.array(np.asarray(uniques, dtype=object), dtype="str").take(code[idx],
                                                                       allow_fill=True)


def _id_column(dataset: Dataset, ids: np.ndarray) -> pd.Series | pd.api.extensions.ExtensionArray:
    """The spells' ``deal_id`` column, typed as the history's ``deal_id`` (a deal's id is
    text from the history where there is one) or as ``str``."""
    hist = dataset.stage_history
    if hist is not None and len(hist) and not isinstance(hist["deal_id"].dtype, pd.StringDtype):
        return pd.Series(ids, dtype=hist["deal_id"].dtype)
    return pd.array(ids, dtype="str")


def build_snapshot(dataset: Dataset, as_of: str | pd.Timestamp) -> Snapshot:
    """Take the point-in-time view of ``dataset`` at ``as_of`` (inclusive).

    Parameters
    ----------
    dataset
        A validated dataset.
    as_of
        Date of the snapshot; nothing dated after it is used.
    """
    as_of = pd.Timestamp(as_of).normalize()
    rows = np.flatnonzero((dataset.deals["created_at"] <= as_of).to_numpy())
    if not len(rows):
        raise UsageError(f"no deals were created on or before as_of={as_of.date()}; "
                         "choose a later --as-of")
    deals = dataset.deals.take(rows).reset_index(drop=True)
    ids = deals["deal_id"].to_numpy()
    created = _ns(deals["created_at"])
    deal, stage, entered, from_history = _entries(dataset, ids, created, _ns(deals["closed_at"]),
                                                  deals["stage"].to_numpy())
    closed_src = deals["closed_at"]
    closed_by = (closed_src.notna() & (closed_src <= as_of)).to_numpy()
    deals["status"] = np.where(closed_by, deals["status"], "open")
    deals["closed_at"] = closed_src.where(closed_by)

    as_of_ns = _ns(np.array([as_of.to_datetime64()]))[0]
    close_at = _ns(deals["closed_at"])          # NaT (int64 min) unless closed by as_of
    end_of_last = np.where(closed_by, close_at, as_of_ns)

    rank = _id_rank(ids)
    order = _sort_order(rank[deal], entered, stage)
    # one array at a time, so that only one extra copy is alive (a million deals' arrays
    # are tens of MB each)
    deal = deal[order]
    stage = stage[order]
    entered = entered[order]
    from_history = from_history[order]
    del order
    # a history's first entry is moved back to the deal's creation
    first = np.flatnonzero(_group_starts(deal) & from_history)
    del from_history
    if len(first):
        entered[first] = created[deal[first]]
        if not _still_ordered(first, deal, entered, stage):  # an entry preceded creation
            order = np.lexsort((stage, entered, rank[deal]))
            deal, stage, entered = deal[order], stage[order], entered[order]
    del rank
    keep = (entered <= as_of_ns) & (~closed_by[deal] | (entered <= close_at[deal]))
    deal, stage, entered = deal[keep], stage[keep], entered[keep]
    # monotone: keep an entry only when it moves past every stage held before
    starts = _group_starts(deal)
    group = np.cumsum(starts) - 1
    width = int(stage.max()) + 2 if len(stage) else 1
    shifted = group * width + stage + 1
    prev_max = np.empty(len(stage), dtype=np.int64)
    prev_max[1:] = np.maximum.accumulate(shifted)[:-1] - group[1:] * width - 1
    prev_max[starts] = -1
    del group, shifted, starts
    keep = stage > prev_max
    del prev_max
    deal, stage, entered = deal[keep], stage[keep], entered[keep]
    del keep

    is_last = np.ones(len(deal), dtype=bool)
    is_last[:-1] = deal[1:] != deal[:-1]
    end = np.empty_like(entered)
    end[:-1] = entered[1:]
    end[is_last] = end_of_last[deal[is_last]]
    status_code, status_names = pd.factorize(deals["status"].to_numpy())
    outcome_names = np.append(np.where(status_names == "open", "censored", status_names),
                              "advance")
    outcome_code = np.where(is_last, status_code[deal], len(status_names))
    spells = pd.DataFrame({
        "deal_id": _id_column(dataset, ids[deal]),
        "stage_idx": stage.astype(np.int64),
        "start": entered.view("datetime64[ns]"),
        "end": end.view("datetime64[ns]"),
        "outcome": pd.array(outcome_names.astype(object), dtype="str").take(outcome_code),
        "owner": _text_take(deals["owner"].to_numpy(), deal),
        "segment": _text_take(deals["segment"].to_numpy(), deal),
    }, copy=False)

    last_stage = np.full(len(deals), -1, dtype=np.int64)
    last_stage[deal[is_last]] = stage[is_last]
    if np.any(last_stage < 0):
        missing = ids[last_stage < 0][:10].tolist()
        raise ValueError(f"deals with no stage entry on or before as_of={as_of.date()} "
                         f"(closed before created?): {missing}")
    entered_last = np.empty(len(deals), dtype=np.int64)
    entered_last[deal[is_last]] = entered[is_last]
    deals["stage_idx"] = last_stage
    deals["stage"] = np.asarray(dataset.stages, dtype=object)[last_stage]
    deals["stage_entered_at"] = entered_last.view("datetime64[ns]")
    ref = deals["closed_at"].fillna(as_of)
    deals["days_in_stage"] = (ref - deals["stage_entered_at"]).dt.days
    deals["age_days"] = (ref - deals["created_at"]).dt.days
    return Snapshot(as_of=as_of, deals=deals, spells=spells, dataset=dataset)
