"""What changed in the pipeline between two as-of dates: the pipeline waterfall.

Two point-in-time snapshots (:func:`~forecast.data.snapshot.build_snapshot`) of the same
dataset, at ``from_date`` and ``to_date``, are compared deal by deal. No model is involved.

The pipeline
    The deals *open* at a date; with a ``period`` (``YYYY-MM`` or ``YYYY-Qn``), only those
    *expected to close in it*. A deal's expected close date at a date ``t`` is its
    ``expected_close_at`` when that is after ``t``, and otherwise (overdue, or no
    ``expected_close_at`` column or value) the day after ``t``: an open deal whose date
    has passed is expected from the next day on, as the forecast treats it. So a period's
    overdue deals stay in its pipeline while the period lasts, and are pushed out of it
    when it ends without them closing.

The bars
    Every deal in the pipeline at either date is in exactly one bar:

    ``created``
        in the pipeline at ``to``, created after ``from``;
    ``moved_in``
        in the pipeline at ``to``, open at ``from`` but not in that pipeline then (its
        expected close date moved into the period: with current-value dates, an overdue
        deal of an earlier period rolling into this one);
    ``progressed`` / ``regressed`` / ``same_stage``
        in the pipeline at both dates, in a later / an earlier / the same stage at ``to``
        (snapshots take stage changes as monotone, so ``regressed`` stays empty unless
        the snapshot rule changes);
    ``won`` / ``lost``
        in the pipeline at ``from``, closed won / lost by ``to``;
    ``pushed``
        in the pipeline at ``from``, still open at ``to`` but expected to close outside
        the period (after it: with current-value dates, expected dates only move later)
        — only with a ``period``.

The measures
    Each deal counts in the pipeline at a date with three measures: ``deals`` (1),
    ``amount`` and ``weighted`` (amount × the CRM probability of its stage,
    ``pipeline.yaml``'s ``crm_probabilities``); 0 when it is not in that pipeline. A bar's
    *change* in a measure is the sum over its deals of (value at ``to`` − value at
    ``from``). Hence, exactly, for each measure::

        start + created + moved_in + progressed + regressed + same_stage
              + won + lost + pushed = end

    with ``won``, ``lost`` and ``pushed`` negative (the deals' whole value leaves) and
    ``regressed`` negative in ``weighted``; in ``deals`` and ``amount`` the three
    "in both" bars carry only amount changes. Written as in the issue (all bars as
    positive sizes): start + created + moved in + progressed − regressed − won − lost −
    pushed ± amount changes = end.

Known limit (as for snapshots): ``amount`` and ``expected_close_at`` have no history in a
dataset, so both snapshots use their values as they are now; amount changes on open deals
therefore show as 0, and a push is seen only when a deal's expected date has passed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.dataset import Dataset
from forecast.data.periods import period_bounds
from forecast.data.problems import UsageError
from forecast.data.snapshot import Snapshot, build_snapshot

#: the bars in waterfall order (ins, moves inside, outs)
BARS = ("created", "moved_in", "progressed", "regressed", "same_stage", "won", "lost",
        "pushed")
#: readable names of the bars (for tables and charts)
BAR_LABELS = {
    "created": "New deals", "moved_in": "Moved in", "progressed": "Progressed",
    "regressed": "Regressed", "same_stage": "Same stage", "won": "Won", "lost": "Lost",
    "pushed": "Pushed out",
}
MEASURES = ("deals", "amount", "weighted")
#: the columns of the deals behind the bars (``changes_deals.csv``), in order
DEAL_COLUMNS = ("deal_id", "bar", "amount_from", "amount_to", "stage_from", "stage_to",
                "owner", "team", "status_from", "status_to", "expected_close_from",
                "expected_close_to", "weighted_from", "weighted_to")

DEFINITIONS = {
    "pipeline": "deals open at the date; with a period, those expected to close in it "
                "(expected_close_at if after the date, else the day after the date)",
    "created": "in the pipeline at --to, created after --from",
    "moved_in": "in the pipeline at --to, open at --from but not in that pipeline then",
    "progressed": "in the pipeline at both dates, in a later stage at --to",
    "regressed": "in the pipeline at both dates, in an earlier stage at --to",
    "same_stage": "in the pipeline at both dates, in the same stage",
    "won": "in the pipeline at --from, closed won by --to",
    "lost": "in the pipeline at --from, closed lost by --to",
    "pushed": "in the pipeline at --from, still open at --to but expected to close after "
              "the period",
    "change": "per measure, the sum over the bar's deals of value at --to minus value at "
              "--from (0 when not in that pipeline); start + sum of changes = end",
    "weighted": "amount x CRM probability of the deal's stage (pipeline.yaml)",
}


@dataclass(frozen=True)
class PipelineChanges:
    """The pipeline waterfall between two dates.

    Attributes
    ----------
    from_date, to_date
        The two as-of dates (inclusive snapshots).
    period
        ``YYYY-MM``/``YYYY-Qn`` the pipeline is restricted to, or ``None`` (all open deals).
    start, end
        ``{"deals", "amount", "weighted"}`` of the pipeline at each date.
    bars
        One row per bar of :data:`BARS`: ``bar``, ``label``, ``deals`` (number of deals
        in it), ``amount`` (their amount at ``to`` if in the pipeline then, else at
        ``from``), ``deals_change``, ``amount_change``, ``weighted_change``.
    deals
        The deals behind the bars, columns :data:`DEAL_COLUMNS`, sorted by bar order
        then amount (largest first).
    """

    from_date: pd.Timestamp
    to_date: pd.Timestamp
    period: str | None
    start: dict[str, float]
    end: dict[str, float]
    bars: pd.DataFrame
    deals: pd.DataFrame

    def to_dict(self) -> dict:
        """The JSON form written as ``changes.json``."""
        bounds = None
        if self.period is not None:
            lo, hi = period_bounds(self.period)
            bounds = [str(lo.date()), str(hi.date())]
        return {
            "from": str(self.from_date.date()), "to": str(self.to_date.date()),
            "period": self.period, "period_bounds": bounds,
            "start": _plain(self.start), "end": _plain(self.end),
            "bars": [{"bar": r.bar, "label": r.label, "deals": int(r.deals),
                      "amount": float(r.amount),
                      "change": {m: _number(m, getattr(r, f"{m}_change")) for m in MEASURES}}
                     for r in self.bars.itertuples(index=False)],
            "definitions": DEFINITIONS,
            "known_limits": "amount and expected_close_at have no history: both snapshots "
                            "use their current values",
        }


def _number(measure: str, value: float) -> int | float:
    return int(value) if measure == "deals" else float(value)


def _plain(values: dict[str, float]) -> dict[str, int | float]:
    return {m: _number(m, values[m]) for m in MEASURES}


def expected_close(deals: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Each deal's expected close date at ``as_of``: ``expected_close_at`` if after
    ``as_of``, else (overdue or unknown) the day after ``as_of``."""
    next_day = as_of + pd.Timedelta(days=1)
    if "expected_close_at" not in deals:
        return pd.Series(next_day, index=deals.index)
    exp = deals["expected_close_at"]
    return exp.where(exp > as_of, next_day)


def _pipeline(snapshot: Snapshot, period: str | None,
              probabilities: dict[str, float]) -> pd.DataFrame:
    """The deals in the pipeline at the snapshot's date, indexed by ``deal_id``."""
    d = snapshot.deals
    exp = expected_close(d, snapshot.as_of)
    keep = d["status"] == "open"
    if period is not None:
        lo, hi = period_bounds(period)
        keep &= (exp >= lo) & (exp <= hi)
    out = d.loc[keep, ["deal_id", "stage", "stage_idx", "amount"]].assign(
        expected=exp[keep])
    out["weighted"] = out["amount"] * out["stage"].map(probabilities).astype(float)
    return out.set_index("deal_id")


def _totals(pipe: pd.DataFrame) -> dict[str, float]:
    return {"deals": int(len(pipe)), "amount": float(pipe["amount"].sum()),
            "weighted": float(pipe["weighted"].sum())}


def _check_dates(dataset: Dataset, from_date: pd.Timestamp, to_date: pd.Timestamp,
                 period: str | None) -> None:
    problems = []
    if from_date >= to_date:
        problems.append(f"--from {from_date.date()} must be before --to {to_date.date()}")
    first = dataset.deals["created_at"].min()
    if from_date < first:
        problems.append(f"--from {from_date.date()} is before the first deal was created "
                        f"({first.date()}); choose a later --from")
    if period is not None:
        try:
            period_bounds(period)
        except ValueError as exc:
            problems.append(f"--period: {exc}")
    if problems:
        raise UsageError("; ".join(problems))


def pipeline_changes(dataset: Dataset, from_date: str | pd.Timestamp,
                     to_date: str | pd.Timestamp, period: str | None = None) -> PipelineChanges:
    """The pipeline waterfall of ``dataset`` between ``from_date`` and ``to_date``.

    Parameters
    ----------
    dataset
        A validated dataset.
    from_date, to_date
        The earlier and the later as-of date (``from_date < to_date``).
    period
        Restrict the pipeline to deals expected to close in this ``YYYY-MM``/``YYYY-Qn``
        period (see the module docstring); ``None``: every open deal.

    Raises
    ------
    UsageError
        ``from_date`` not before ``to_date``, ``from_date`` before the first deal, or a
        malformed period (all problems at once).
    """
    from_date = pd.Timestamp(from_date).normalize()
    to_date = pd.Timestamp(to_date).normalize()
    period = str(period).strip().upper() if period is not None else None
    _check_dates(dataset, from_date, to_date, period)
    before = build_snapshot(dataset, from_date)
    after = build_snapshot(dataset, to_date)
    return changes_between(before, after, period)


def changes_between(before: Snapshot, after: Snapshot,
                    period: str | None = None) -> PipelineChanges:
    """The pipeline waterfall between two snapshots of one dataset (``before`` earlier)."""
    if before.as_of >= after.as_of:
        raise UsageError(f"the first snapshot ({before.as_of.date()}) must be before the "
                         f"second ({after.as_of.date()})")
    probs = dict(after.dataset.config.crm_probabilities)
    p0 = _pipeline(before, period, probs)
    p1 = _pipeline(after, period, probs)
    ids = p0.index.union(p1.index)
    d0 = before.deals.set_index("deal_id")
    d1 = after.deals.set_index("deal_id").reindex(ids)
    in0 = ids.isin(p0.index)
    in1 = ids.isin(p1.index)
    s0 = d0["stage_idx"].reindex(ids).to_numpy(dtype=float)
    s1 = d1["stage_idx"].to_numpy(dtype=float)
    status1 = d1["status"].to_numpy()
    created_after = (d1["created_at"] > before.as_of).to_numpy()
    bar = np.select(
        [in0 & in1 & (s1 > s0), in0 & in1 & (s1 < s0), in0 & in1,
         in0 & (status1 == "won"), in0 & (status1 == "lost"), in0,
         created_after],
        ["progressed", "regressed", "same_stage", "won", "lost", "pushed", "created"],
        default="moved_in")

    exp0 = expected_close(d0, before.as_of).reindex(ids)
    exp1 = expected_close(d1, after.as_of)
    w0 = p0["weighted"].reindex(ids).fillna(0.0).to_numpy()
    w1 = p1["weighted"].reindex(ids).fillna(0.0).to_numpy()
    deals = pd.DataFrame({
        "deal_id": ids.to_numpy(), "bar": bar,
        "amount_from": d0["amount"].reindex(ids).to_numpy(dtype=float),
        "amount_to": d1["amount"].to_numpy(dtype=float),
        "stage_from": d0["stage"].reindex(ids).to_numpy(dtype=object),
        "stage_to": d1["stage"].to_numpy(dtype=object),
        "owner": d1["owner"].to_numpy(dtype=object), "team": d1["team"].to_numpy(dtype=object),
        "status_from": d0["status"].reindex(ids).to_numpy(dtype=object),
        "status_to": status1,
        "expected_close_from": np.where(d0["status"].reindex(ids) == "open", exp0, pd.NaT),
        "expected_close_to": np.where(status1 == "open", exp1, pd.NaT),
        "weighted_from": w0, "weighted_to": w1,
    })
    for c in ("expected_close_from", "expected_close_to"):
        deals[c] = pd.to_datetime(deals[c])
    a0 = np.where(in0, deals["amount_from"].fillna(0.0), 0.0)
    a1 = np.where(in1, deals["amount_to"].fillna(0.0), 0.0)
    deals["_deals_change"] = in1.astype(int) - in0.astype(int)
    deals["_amount_change"] = a1 - a0
    deals["_weighted_change"] = w1 - w0
    deals["_size"] = np.where(in1, a1, a0)
    order = {b: i for i, b in enumerate(BARS)}
    deals = deals.sort_values(["bar", "_size", "deal_id"], key=_bar_key(order),
                              ascending=[True, False, True], kind="stable")
    grouped = deals.groupby("bar")
    bars = pd.DataFrame({"bar": list(BARS), "label": [BAR_LABELS[b] for b in BARS]})
    bars["deals"] = bars["bar"].map(grouped.size()).fillna(0).astype(int)
    bars["amount"] = bars["bar"].map(grouped["_size"].sum()).fillna(0.0)
    for m in MEASURES:
        bars[f"{m}_change"] = bars["bar"].map(grouped[f"_{m}_change"].sum()).fillna(0.0)
    bars["deals_change"] = bars["deals_change"].astype(int)
    deals = deals.drop(columns=[c for c in deals if c.startswith("_")])
    return PipelineChanges(from_date=before.as_of, to_date=after.as_of, period=period,
                           start=_totals(p0), end=_totals(p1), bars=bars,
                           deals=deals.reset_index(drop=True)[list(DEAL_COLUMNS)])


def _bar_key(order: dict[str, int]):
    def key(col: pd.Series) -> pd.Series:
        return col.map(order) if col.name == "bar" else col
    return key


def write_deals_csv(changes: PipelineChanges, path) -> None:
    """Write the deals behind the bars (dates as ``YYYY-MM-DD``, amounts as plain numbers)."""
    out = changes.deals.copy()
    for c in ("expected_close_from", "expected_close_to"):
        out[c] = out[c].dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False)
