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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def _imputed_entries(deals: pd.DataFrame, stage_idx: np.ndarray, end: pd.Series) -> pd.DataFrame:
    """Stage entries 0..k spread evenly between creation and ``end`` (k = last stage)."""
    k = stage_idx.astype(int)
    reps = k + 1
    deal_pos = np.repeat(np.arange(len(deals)), reps)
    j = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    created = deals["created_at"].to_numpy()[deal_pos]
    span_days = (end.to_numpy() - deals["created_at"].to_numpy()) / np.timedelta64(1, "D")
    span_days = np.maximum(np.nan_to_num(span_days, nan=0.0), 0.0)
    offset = np.floor(span_days[deal_pos] * j / reps[deal_pos])
    return pd.DataFrame({
        "deal_id": deals["deal_id"].to_numpy()[deal_pos],
        "stage_idx": j,
        "entered_at": created + offset.astype("timedelta64[D]"),
    })


def stage_entries(dataset: Dataset) -> pd.DataFrame:
    """Every deal's stage entries (``deal_id``, ``stage_idx``, ``entered_at``), all dates.

    History rows are used where a deal has them (its first entry moved back to
    ``created_at`` if later); deals without any are imputed.
    """
    deals = dataset.deals
    index = {s: i for i, s in enumerate(dataset.stages)}
    final_idx = deals["stage"].map(index).to_numpy()
    has_hist = np.zeros(len(deals), dtype=bool)
    parts = []
    hist = dataset.stage_history
    if hist is not None and len(hist):
        h = hist.assign(stage_idx=hist["stage"].map(index))[["deal_id", "stage_idx", "entered_at"]]
        has_hist = deals["deal_id"].isin(set(h["deal_id"])).to_numpy()
        h = h.sort_values(["deal_id", "entered_at", "stage_idx"], kind="stable")
        created = h["deal_id"].map(deals.set_index("deal_id")["created_at"])
        first = ~h["deal_id"].duplicated()
        h.loc[first, "entered_at"] = created[first].to_numpy()
        parts.append(h)
    rest = deals[~has_hist]
    if len(rest):
        end = rest["closed_at"].fillna(dataset.last_date)
        parts.append(_imputed_entries(rest, final_idx[~has_hist], end))
    entries = pd.concat(parts, ignore_index=True)
    entries["stage_idx"] = entries["stage_idx"].astype(int)
    return entries


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
    deals = dataset.deals[dataset.deals["created_at"] <= as_of].copy()
    if deals.empty:
        raise UsageError(f"no deals were created on or before as_of={as_of.date()}; "
                         "choose a later --as-of")
    closed_by = deals["closed_at"].notna() & (deals["closed_at"] <= as_of)
    deals["status"] = np.where(closed_by, deals["status"], "open")
    deals["closed_at"] = deals["closed_at"].where(closed_by)

    entries = stage_entries(dataset)
    entries = entries[entries["deal_id"].isin(set(deals["deal_id"]))]
    close_at = entries["deal_id"].map(deals.set_index("deal_id")["closed_at"])
    keep = (entries["entered_at"] <= as_of) & (close_at.isna() | (entries["entered_at"] <= close_at))
    entries = entries[keep].sort_values(["deal_id", "entered_at", "stage_idx"], kind="stable")
    # monotone: keep an entry only when it moves past every stage held before
    prev_max = entries.groupby("deal_id")["stage_idx"].cummax()
    prev_max = prev_max.groupby(entries["deal_id"]).shift(1).fillna(-1)
    entries = entries[entries["stage_idx"] > prev_max].reset_index(drop=True)

    nxt = entries.groupby("deal_id")["entered_at"].shift(-1)
    is_last = nxt.isna()
    info = deals.set_index("deal_id")
    status = entries["deal_id"].map(info["status"])
    last_end = entries["deal_id"].map(info["closed_at"]).fillna(as_of)
    spells = pd.DataFrame({
        "deal_id": entries["deal_id"],
        "stage_idx": entries["stage_idx"],
        "start": entries["entered_at"],
        "end": nxt.where(~is_last, last_end).astype("datetime64[ns]"),
        "outcome": np.where(is_last, np.where(status == "open", "censored", status), "advance"),
    })
    spells["owner"] = spells["deal_id"].map(info["owner"])
    spells["segment"] = spells["deal_id"].map(info["segment"])

    last = entries[is_last.to_numpy()].set_index("deal_id")
    deals["stage_idx"] = deals["deal_id"].map(last["stage_idx"]).astype(int)
    deals["stage"] = [dataset.stages[i] for i in deals["stage_idx"]]
    deals["stage_entered_at"] = deals["deal_id"].map(last["entered_at"])
    ref = deals["closed_at"].fillna(as_of)
    deals["days_in_stage"] = (ref - deals["stage_entered_at"]).dt.days
    deals["age_days"] = (ref - deals["created_at"]).dt.days
    return Snapshot(as_of=as_of, deals=deals.reset_index(drop=True), spells=spells,
                    dataset=dataset)
