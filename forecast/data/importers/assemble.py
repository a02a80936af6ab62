"""The rules every import shares: from a :class:`~forecast.data.importers.staging.Staged`
table to a dataset that satisfies the contract, with every row accounted for.

Rules, in the order they run (each rejection or repair is recorded with the row's line,
id, column and reason; ``docs/importing.md`` lists them all):

1. text cells lose control characters (repair ``control_characters``);
2. a row with more non-empty cells than the header has columns is rejected
   (``extra_fields``);
3. an empty id rejects the row (``missing_id``); rows sharing an id are rejected except
   the first of exact copies (``duplicate_row``) or, when the copies differ, all of them
   (``duplicate_id``);
4. a status that is not open/won/lost rejects the row (``unknown_status``);
5. several currencies without ``--currency`` stop the import naming them; with it, other
   currencies are rejected (``other_currency``), an empty currency cell is assumed to be the
   file's only currency (repair ``currency_assumed``) or rejected when there are several
   (``missing_currency``);
6. dates are read by one rule per file (:mod:`forecast.data.importers.dates`); an unreadable or
   missing created date or (won/lost) close date rejects the row; on an open deal a close
   date is the expected close date; an unreadable expected close date is dropped (repair);
   closing before creation rejects the row;
7. an empty amount becomes 0 (repair ``missing_amount``); a non-numeric or negative amount
   rejects the row;
8. an empty owner becomes ``(unassigned)`` (repair ``missing_owner``);
9. stage history rows are kept when their deal, date and stage are good and the date lies
   between the deal's creation and close; the others are counted by reason;
10. the stage order comes from ``--stages``, the vendor's standard order, CRM
    probabilities, or the history's timing, in that order of preference;
11. an open deal needs a known stage (``missing_stage``, ``unknown_stage``); a closed deal's
    stage is the last open stage it held (its stage if open, else from history, else the
    last stage of the pipeline: repair ``closed_stage_assumed``);
12. text starting with ``=``, ``+``, ``-``, ``@``, tab or CR is prefixed with ``'``
    (repair ``formula_neutralised``).

The rules live by concern: :mod:`~forecast.data.importers.row_rules` (1–5, 7, 8),
:mod:`~forecast.data.importers.deal_dates` (6), :mod:`~forecast.data.importers.stage_rules`
(9–11); this module runs them in order and writes the result (12, covariates, pipeline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.importers.deal_dates import deal_dates
from forecast.data.importers.report import ImportReport
from forecast.data.importers.row_rules import (
    Rows,
    amounts,
    clean_text,
    currency_of,
    owners,
    reject_ids,
    reject_status,
    reject_structure,
)
from forecast.data.importers.stage_rules import (
    deal_stages,
    stage_order,
    usable_history,
)
from forecast.data.importers.staging import ImportOptions, ImportResult, Staged
from forecast.data.problems import DataValidationError, Problem
from forecast.data.safe_output import neutralise_formula

#: A covariate candidate is listed in pipeline.yaml when filled on this share of closed deals.
COVARIATE_MIN_FILLED = 0.9


def _iso(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d").fillna("").astype(object)


def _amount_text(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(round(float(value), 6))


def _covariates(staged: Staged, deals: pd.DataFrame, report: ImportReport) -> list[str]:
    chosen = []
    closed = deals[deals["status"] != "open"]
    basis = closed if len(closed) else deals
    for col in staged.covariates:
        if col not in deals.columns:
            continue
        if staged.covariates_explicit:
            chosen.append(col)
            report.decide(f"covariate {col}", "listed", "given in the mapping file")
            continue
        filled = float((basis[col].astype(str) != "").mean()) if len(basis) else 0.0
        opened = deals[deals["status"] == "open"]
        filled_open = float((opened[col].astype(str) != "").mean()) if len(opened) else 1.0
        ok = filled >= COVARIATE_MIN_FILLED
        if ok:
            chosen.append(col)
        report.decide(f"covariate {col}", "listed" if ok else "not listed",
                      f"filled on {filled:.0%} of closed and {filled_open:.0%} of open deals "
                      f"(listed when ≥ {COVARIATE_MIN_FILLED:.0%} of closed deals; an empty "
                      "value reads as the average effect)")
    return chosen


def _neutralise(frame: pd.DataFrame, columns: list[str], positions: np.ndarray,
                report: ImportReport | None) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        values = out[col].astype(object)
        safe = values.map(neutralise_formula)
        changed = np.flatnonzero((safe != values).to_numpy())
        if report is not None:
            for k in changed:
                report.repair(int(positions[k]), col, "formula_neutralised",
                              f"{col} {values.iat[k][:40]!r} starts like a spreadsheet formula; "
                              "written with a leading ' so spreadsheets show it as text")
        out[col] = safe
    return out


def assemble(staged: Staged, options: ImportOptions) -> ImportResult:
    """Apply the shared rules to a staged export.

    Parameters
    ----------
    staged
        The adapter's translation of the export.
    options
        The user's choices (currency, stage order, date order).

    Returns
    -------
    ImportResult

    Raises
    ------
    DataValidationError
        When the export cannot be imported as a whole (no rows, several currencies, mixed
        date orders, unknown stage order, every row rejected).
    """
    report = staged.report
    file = staged.table.file
    d = staged.deals = staged.deals.reset_index(drop=True).astype(object).fillna("")
    n = len(d)
    if n == 0:
        raise DataValidationError([Problem(file, "no_rows", "the file has a header but no "
                                           "data rows: nothing to import")], file)
    rows = Rows(report, n)
    clean_text(staged, report)
    reject_structure(staged, report)
    reject_ids(staged, report, rows)
    reject_status(staged, report, rows)
    currency = currency_of(staged, options, report, rows)
    created, closed, expected, entered, entered_why = deal_dates(staged, options, report, rows)
    amount = amounts(staged, report, rows)
    owners(staged, report, rows)
    history = usable_history(staged, created, closed, entered, entered_why, report, rows)
    order = stage_order(staged, options, history, report, rows)
    stage = deal_stages(staged, order, history, report, rows)

    keep = np.flatnonzero(rows.alive())
    if keep.size == 0:
        c = report.counts()
        raise DataValidationError(
            [Problem(file, "no_rows_imported", f"all {n} rows were rejected "
                     f"({c['rejected']}); the reasons follow")] + report.problems(), file)
    out = pd.DataFrame({
        "deal_id": d["deal_id"].iloc[keep].to_numpy(),
        "created_at": _iso(created.iloc[keep]).to_numpy(),
        "stage": stage.iloc[keep].to_numpy(),
        "status": d["status"].iloc[keep].to_numpy(),
        "closed_at": _iso(closed.iloc[keep]).to_numpy(),
        "amount": [_amount_text(v) for v in amount.iloc[keep]],
        "owner": d["owner"].iloc[keep].to_numpy(),
    })
    for col in ("team", "segment"):
        if (d[col].iloc[keep] != "").any():
            out[col] = d[col].iloc[keep].to_numpy()
    exp = _iso(expected.iloc[keep])
    if (exp != "").any():
        out["expected_close_at"] = exp.to_numpy()
    for col in staged.extras:
        if col not in out.columns:
            out[col] = d[col].iloc[keep].to_numpy()
    text_cols = [c for c in out.columns if c not in ("created_at", "closed_at", "amount",
                                                     "status", "expected_close_at")]
    out = _neutralise(out, text_cols, keep, report)

    hist_out = None
    if staged.history is not None:
        h = history[history["pos"].isin(set(keep)) & history["stage"].isin(set(order))]
        hist_out = _neutralise(pd.DataFrame({
            "deal_id": h["deal_id"].to_numpy(), "stage": h["stage"].to_numpy(),
            "entered_at": _iso(h["entered_at"]).to_numpy()}), ["deal_id", "stage"],
            np.arange(len(h)), None)
        report.history["written"] = len(hist_out)
        report.history["deals_with_history"] = int(h["pos"].nunique())
    safe_order = list(dict.fromkeys(str(neutralise_formula(s)) for s in order))
    pipeline: dict = {"name": staged.name or staged.format, "stages": safe_order}
    covs = _covariates(staged, out, report)
    if covs:
        pipeline["covariates"] = [str(neutralise_formula(c)) for c in covs]
    probs = staged.stage_probability or {}
    if all(s in probs for s in order):
        pipeline["crm_probabilities"] = {
            str(neutralise_formula(s)): round(min(max(float(probs[s]), 0.0), 1.0), 4)
            for s in order}
    if currency:
        pipeline["currency"] = currency
    report.output = {"deals": len(out),
                     "stage_history": 0 if hist_out is None else len(hist_out),
                     "stages": safe_order, "covariates": pipeline.get("covariates", []),
                     "currency": currency}
    return ImportResult(deals=out, history=hist_out, pipeline=pipeline, report=report)
