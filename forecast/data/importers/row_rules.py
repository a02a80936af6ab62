"""The rules on each deal row of an import: text, structure, ids, status, currency,
amounts and owners (rules 1–5, 7 and 8 of :mod:`forecast.data.importers.assemble`).

Each function records its rejections and repairs in the import's report, with the row's
line, id, column and reason.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from forecast.data.importers.numbers import decide_decimal, parse_amounts
from forecast.data.importers.report import ImportReport
from forecast.data.importers.staging import ImportOptions, Staged
from forecast.data.problems import DataValidationError, Problem
from forecast.data.safe_output import neutralise_formula

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
UNASSIGNED = "(unassigned)"
_TEXT_COLUMNS = ("deal_id", "stage", "owner", "team", "segment", "currency")


def clean_cell(text: str) -> str:
    """Strip a cell, turn CR and CRLF line breaks into LF, drop other control characters."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


class Rows:
    """Which rows are still in play (not rejected)."""

    def __init__(self, report: ImportReport, n: int):
        self.report, self.n = report, n

    def alive(self) -> np.ndarray:
        rejected = self.report.rejected_rows
        return np.array([i not in rejected for i in range(self.n)], dtype=bool)


def clean_text(staged: Staged, report: ImportReport) -> None:
    """Rule 1: strip text cells and drop control characters (repair ``control_characters``)."""
    d = staged.deals
    for col in list(_TEXT_COLUMNS) + list(staged.extras):
        values = d[col].astype(object).fillna("").astype(str)
        cleaned = values.map(clean_cell)
        for i in np.flatnonzero((cleaned != values.str.strip()).to_numpy()):
            report.repair(int(i), col, "control_characters",
                          f"control characters removed from {col} (line breaks kept as \\n)")
        d[col] = cleaned.astype(object)


def reject_structure(staged: Staged, report: ImportReport) -> None:
    """Rule 2: reject rows with more non-empty cells than the header (``extra_fields``)."""
    width = len(staged.table.frame.columns)
    for i, extra in staged.table.overflow.items():
        report.reject(i, None, "extra_fields",
                      f"the row has {len(extra)} more non-empty cell(s) than the header's "
                      f"{width} columns (first: {extra[0][:40]!r}): an unquoted delimiter has "
                      "shifted its values")


def reject_ids(staged: Staged, report: ImportReport, rows: Rows) -> None:
    """Rule 3: reject empty ids, exact copies after the first, and ids on differing rows."""
    d, raw = staged.deals, staged.table.frame
    ids = d["deal_id"]
    for i in np.flatnonzero((ids == "").to_numpy()):
        report.reject(int(i), "deal_id", "missing_id", "the deal id is empty")
    alive = rows.alive()
    key = [str(neutralise_formula(v)) for v in ids.tolist()]
    groups: dict[str, list[int]] = {}
    for i in np.flatnonzero(alive).tolist():
        groups.setdefault(key[i], []).append(i)
    lines = staged.table.lines
    for ident, members in groups.items():
        if len(members) < 2:
            continue
        records = [tuple(raw.iloc[i]) for i in members]
        if all(rec == records[0] for rec in records[1:]):
            for i in members[1:]:
                report.reject(i, "deal_id", "duplicate_row",
                              f"exact copy of line {lines[members[0]]} (deal id {ident!r}); "
                              "the first copy is imported")
        else:
            where = ", ".join(str(lines[i]) for i in members[:10])
            for i in members:
                report.reject(i, "deal_id", "duplicate_id",
                              f"deal id {ident!r} is on lines {where} with different values; "
                              "cannot tell which is right, so none is imported")


def reject_status(staged: Staged, report: ImportReport, rows: Rows) -> None:
    """Rule 4: reject a status that is not open, won or lost (``unknown_status``)."""
    status = staged.deals["status"]
    bad = rows.alive() & ~status.isin(("open", "won", "lost")).to_numpy()
    for i in np.flatnonzero(bad):
        report.reject(int(i), "status", "unknown_status",
                      "cannot tell whether the deal is open, won or lost")


def currency_of(staged: Staged, options: ImportOptions, report: ImportReport,
                rows: Rows) -> str | None:
    """Rule 5: the dataset's one currency (``None`` when the export has none)."""
    d = staged.deals
    cur = d["currency"].str.upper()
    alive = rows.alive()
    counts = Counter(cur[alive & (cur != "").to_numpy()])
    file = staged.table.file
    if options.currency:
        keep = options.currency.strip().upper()
        if not counts:
            report.decide("currency", keep, f"no currency column in {file}; every amount is "
                          f"taken to be in {keep} (--currency)")
            return keep
        cur_l = cur.tolist()
        for i in np.flatnonzero(alive).tolist():
            c = cur_l[i]
            if c and c != keep:
                report.reject(int(i), "currency", "other_currency",
                              f"amount is in {c}, not in {keep} (--currency {keep})")
            elif not c and len(counts) > 1:
                report.reject(int(i), "currency", "missing_currency",
                              f"currency is empty in a file with several currencies; cannot "
                              f"tell whether the amount is in {keep}")
            elif not c:
                report.repair(int(i), "currency", "currency_assumed",
                              f"currency empty; assumed {keep}, the file's only currency")
        others = ", ".join(f"{c} ({k})" for c, k in sorted(counts.items()) if c != keep)
        report.decide("currency", keep, f"--currency given; deals in {others} rejected"
                      if others else "--currency given")
        return keep
    if len(counts) > 1:
        listed = ", ".join(f"{c} ({n} rows)" for c, n in counts.most_common())
        raise DataValidationError([Problem(
            file, "several_currencies",
            f"amounts are in {len(counts)} currencies: {listed}. A dataset holds one currency: "
            f"pass --currency {counts.most_common(1)[0][0]} to import only those deals (the "
            "others are rejected and listed in import_report.json), or convert the amounts "
            "first", column="currency")], file)
    if counts:
        only = next(iter(counts))
        for i in np.flatnonzero(alive & (cur == "").to_numpy()):
            report.repair(int(i), "currency", "currency_assumed",
                          f"currency empty; assumed {only}, the file's only currency")
        report.decide("currency", only, f"the only currency in {file}")
        return only
    return None


def amounts(staged: Staged, report: ImportReport, rows: Rows) -> pd.Series:
    """Rule 7: amounts as numbers (empty → 0, repaired; unreadable or negative → rejected)."""
    d = staged.deals
    alive = rows.alive()
    mark, why = decide_decimal(d["amount"][alive])
    if why:
        report.decide("decimal mark", mark, why)
    amount, reasons = parse_amounts(d["amount"], mark)
    values, why, raw = amount.tolist(), reasons.tolist(), d["amount"].tolist()
    for i in np.flatnonzero(alive).tolist():
        if np.isnan(values[i]):
            if why[i]:
                report.reject(i, "amount", "bad_amount", why[i])
            else:
                values[i] = 0.0
                report.repair(i, "amount", "missing_amount",
                              "amount empty; set to 0 (the deal counts for win rates and "
                              "cycle times, but adds no revenue)")
        elif values[i] < 0:
            report.reject(i, "amount", "negative_amount", f"amount {raw[i]!r} is negative")
    return pd.Series(values, index=d.index, dtype=float)


def owners(staged: Staged, report: ImportReport, rows: Rows) -> None:
    """Rule 8: an empty owner becomes :data:`UNASSIGNED` (repair ``missing_owner``)."""
    d = staged.deals
    owner = d["owner"].tolist()
    for i in np.flatnonzero(rows.alive() & (d["owner"] == "").to_numpy()).tolist():
        owner[i] = UNASSIGNED
        report.repair(i, "owner", "missing_owner", f"owner empty; set to {UNASSIGNED!r}")
    d["owner"] = pd.Series(owner, index=d.index, dtype=object)


