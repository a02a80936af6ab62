"""Frozen copy of the snapshot, cells and code lookups as they were before the vectorised
rewrite (commit c7206bd), kept as the reference the equivalence tests compare against.

Not used by the product; do not "fix" it: its point is to stay what the code was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.cells import DURATION_EDGES_WEEKS, CellTable, duration_bucket
from forecast.data.covariates import CovariateSpec
from forecast.data.dataset import Dataset
from forecast.data.problems import UsageError
from forecast.data.snapshot import Snapshot
from forecast.posterior import ModelIndex


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


def build_cells(
    spells: pd.DataFrame,
    owner_code: np.ndarray,
    segment_code: np.ndarray,
    pattern_code: np.ndarray,
    n_stages: int,
    n_owners: int,
    n_segments: int,
    n_patterns: int,
) -> CellTable:
    """Aggregate stage spells into weekly exposure cells.

    Parameters
    ----------
    spells
        ``stage_idx``, ``start``, ``end``, ``outcome`` per spell (see :mod:`forecast.data.snapshot`).
    owner_code, segment_code, pattern_code
        Integer code of each spell's owner, segment and covariate pattern.
    """
    days = ((spells["end"] - spells["start"]).dt.days.to_numpy()).clip(min=0)
    outcome = spells["outcome"].to_numpy()
    censored = outcome == "censored"
    k = np.where(censored, (days + 1) // 7, days // 7)
    part = np.where(censored, (days + 1) % 7, 0)
    event_col = np.select([outcome == "advance", outcome == "won", outcome == "lost"], [1, 2, 3],
                          default=-1)
    edges = np.asarray(DURATION_EDGES_WEEKS + (np.iinfo(np.int64).max,), dtype=np.int64)
    n_b = len(DURATION_EDGES_WEEKS)
    # stays in each bucket: completed weeks k split over [lo, hi)
    stays = np.clip(k[:, None], edges[None, :-1], edges[None, 1:]) - edges[None, :-1]
    stage = spells["stage_idx"].to_numpy().astype(np.int64)
    base = ((stage * n_owners + owner_code) * n_segments + segment_code) * n_patterns + pattern_code
    keys, counts = [], []
    for b in range(n_b):
        m = stays[:, b] > 0
        keys.append(base[m] * n_b + b)
        c = np.zeros((m.sum(), 10), dtype=np.int64)
        c[:, 0] = stays[m, b]
        counts.append(c)
    ev = event_col >= 0
    keys.append(base[ev] * n_b + duration_bucket(k[ev]))
    c = np.zeros((ev.sum(), 10), dtype=np.int64)
    c[np.arange(ev.sum()), event_col[ev]] = 1
    counts.append(c)
    pm = part > 0
    keys.append(base[pm] * n_b + duration_bucket(k[pm]))
    c = np.zeros((pm.sum(), 10), dtype=np.int64)
    c[np.arange(pm.sum()), 3 + part[pm]] = 1
    counts.append(c)
    all_keys = np.concatenate(keys)
    all_counts = np.concatenate(counts)
    uniq, inv = np.unique(all_keys, return_inverse=True)
    agg = np.zeros((len(uniq), 10), dtype=np.int64)
    np.add.at(agg, inv, all_counts)
    bucket = uniq % n_b
    rest = uniq // n_b
    pattern = rest % n_patterns
    rest //= n_patterns
    segment = rest % n_segments
    rest //= n_segments
    owner = rest % n_owners
    stage_c = rest // n_owners
    return CellTable(stage=stage_c, bucket=bucket, owner=owner, segment=segment, pattern=pattern,
                     counts=agg[:, :4], partial=agg[:, 4:], n_stages=n_stages,
                     n_owners=n_owners, n_segments=n_segments, n_patterns=n_patterns)


def _is_numeric(values: pd.Series) -> bool:
    text = values.astype("string").str.strip()
    text = text[text.fillna("") != ""]
    if text.empty:
        return False
    return bool(pd.to_numeric(text, errors="coerce").notna().all())


def fit_spec(deals: pd.DataFrame, columns: tuple[str, ...]) -> CovariateSpec:
    """``CovariateSpec.fit`` as it was."""
    kinds, levels, means, sds = [], [], [], []
    for col in columns:
        values = deals[col]
        if _is_numeric(values):
            x = pd.to_numeric(values.astype("string").str.strip().replace("", None),
                              errors="coerce").astype(float)
            sd = float(x.std(ddof=0)) if x.notna().sum() > 1 else 1.0
            kinds.append("numeric")
            levels.append(())
            means.append(float(x.mean()) if x.notna().any() else 0.0)
            sds.append(sd if sd > 0 else 1.0)
        else:
            text = values.astype("string").str.strip().fillna("")
            kinds.append("categorical")
            levels.append(tuple(sorted(v for v in text.unique() if v != "")))
            means.append(0.0)
            sds.append(1.0)
    return CovariateSpec(tuple(columns), tuple(kinds), tuple(levels), tuple(means), tuple(sds))


def encode(spec: CovariateSpec, deals: pd.DataFrame) -> np.ndarray:
    """``CovariateSpec.encode`` as it was."""
    out = np.zeros((len(deals), spec.n_columns))
    for j, col in enumerate(spec.columns):
        if spec.kinds[j] == "numeric":
            x = pd.to_numeric(deals[col].astype("string").str.strip().replace("", None),
                              errors="coerce").astype(float)
            out[:, j] = ((x - spec.means[j]) / spec.sds[j]).fillna(0.0).to_numpy()
        else:
            index = {lvl: i for i, lvl in enumerate(spec.levels[j])}
            text = deals[col].astype("string").str.strip().fillna("")
            out[:, j] = text.map(index).fillna(-1).to_numpy(dtype=float)
    return out


def pattern_codes(encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pattern_codes`` as it was."""
    if encoded.shape[1] == 0:
        return np.zeros(len(encoded), dtype=np.int64), np.zeros((1, 0))
    patterns, codes = np.unique(encoded, axis=0, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), patterns


def model_index(snapshot: Snapshot) -> ModelIndex:
    """``ModelIndex.from_snapshot`` as it was."""
    deals = snapshot.deals
    spec = fit_spec(deals, snapshot.dataset.config.covariates)
    _, patterns = pattern_codes(encode(spec, deals))
    team = deals.sort_values(["created_at", "deal_id"]).groupby("owner")["team"].last()
    return ModelIndex(as_of=str(snapshot.as_of.date()), stages=tuple(snapshot.stages),
                      owners=tuple(sorted(deals["owner"].unique())),
                      segments=tuple(sorted(deals["segment"].unique())),
                      owner_team=team.to_dict(), covariates=spec, patterns=patterns)


def codes(index: ModelIndex, deals: pd.DataFrame) -> dict[str, np.ndarray]:
    """``ModelIndex.codes`` as it was (a Python loop over rows for the patterns)."""
    owner = deals["owner"].map({o: i for i, o in enumerate(index.owners)})
    segment = deals["segment"].map({s: i for i, s in enumerate(index.segments)})
    enc = encode(index.covariates, deals)
    lookup = {tuple(row): i for i, row in enumerate(index.patterns)}
    pattern = np.array([lookup.get(tuple(row), -1) for row in enc], dtype=np.int64)
    return {"owner": owner.to_numpy(), "segment": segment.to_numpy(), "pattern": pattern,
            "encoded": enc}


def spell_cells(snapshot: Snapshot, index: ModelIndex) -> CellTable:
    """``forecast.models.fit.spell_cells`` as it was."""
    c = codes(index, snapshot.deals)
    by_deal = pd.DataFrame({"owner": c["owner"], "segment": c["segment"],
                            "pattern": c["pattern"]}, index=snapshot.deals["deal_id"])
    sp = snapshot.spells
    return build_cells(
        sp,
        sp["deal_id"].map(by_deal["owner"]).to_numpy(),
        sp["deal_id"].map(by_deal["segment"]).to_numpy(),
        sp["deal_id"].map(by_deal["pattern"]).to_numpy(),
        n_stages=len(index.stages), n_owners=len(index.owners),
        n_segments=len(index.segments), n_patterns=len(index.patterns),
    )
