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
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from forecast.data.importers.dates import DateRule, decide_date_order, parse_dates
from forecast.data.importers.numbers import decide_decimal, parse_amounts
from forecast.data.importers.reading import norm_key
from forecast.data.importers.report import ImportReport
from forecast.data.importers.staging import ImportOptions, ImportResult, Staged
from forecast.data.problems import DataValidationError, Problem
from forecast.data.safe_output import neutralise_formula

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
UNASSIGNED = "(unassigned)"
#: A covariate candidate is listed in pipeline.yaml when filled on this share of closed deals.
COVARIATE_MIN_FILLED = 0.9
_TEXT_COLUMNS = ("deal_id", "stage", "owner", "team", "segment", "currency")


def clean_cell(text: str) -> str:
    """Strip a cell, turn CR and CRLF line breaks into LF, drop other control characters."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


class _Rows:
    """Which rows are still in play (not rejected)."""

    def __init__(self, report: ImportReport, n: int):
        self.report, self.n = report, n

    def alive(self) -> np.ndarray:
        rejected = self.report.rejected_rows
        return np.array([i not in rejected for i in range(self.n)], dtype=bool)


def _iso(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d").fillna("").astype(object)


def _amount_text(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(round(float(value), 6))


def _clean_text(staged: Staged, report: ImportReport) -> None:
    d = staged.deals
    for col in list(_TEXT_COLUMNS) + list(staged.extras):
        values = d[col].astype(object).fillna("").astype(str)
        cleaned = values.map(clean_cell)
        for i in np.flatnonzero((cleaned != values.str.strip()).to_numpy()):
            report.repair(int(i), col, "control_characters",
                          f"control characters removed from {col} (line breaks kept as \\n)")
        d[col] = cleaned.astype(object)


def _reject_structure(staged: Staged, report: ImportReport) -> None:
    width = len(staged.table.frame.columns)
    for i, extra in staged.table.overflow.items():
        report.reject(i, None, "extra_fields",
                      f"the row has {len(extra)} more non-empty cell(s) than the header's "
                      f"{width} columns (first: {extra[0][:40]!r}): an unquoted delimiter has "
                      "shifted its values")


def _reject_ids(staged: Staged, report: ImportReport, rows: _Rows) -> None:
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


def _reject_status(staged: Staged, report: ImportReport, rows: _Rows) -> None:
    status = staged.deals["status"]
    bad = rows.alive() & ~status.isin(("open", "won", "lost")).to_numpy()
    for i in np.flatnonzero(bad):
        report.reject(int(i), "status", "unknown_status",
                      "cannot tell whether the deal is open, won or lost")


def _currency(staged: Staged, options: ImportOptions, report: ImportReport,
              rows: _Rows) -> str | None:
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


def _date_order(staged: Staged, options: ImportOptions) -> str:
    """``--date-order`` if given, else the mapping file's, else ``auto``."""
    if options.date_order != "auto":
        return options.date_order
    return staged.date_order or "auto"


def _parse_history_dates(staged: Staged, deals_rule: DateRule,
                         options: ImportOptions, report: ImportReport):
    h = staged.history
    if h is None or h.frame.empty:
        return None, None
    if h.derived:
        rule = deals_rule
    else:
        rule, why = decide_date_order([h.frame["entered_at"]], h.file,
                                      _date_order(staged, options))
        if why:
            report.decide(f"date order ({h.file})", rule.order, why)
    return parse_dates(h.frame["entered_at"], rule)


def _dates(staged: Staged, options: ImportOptions, report: ImportReport, rows: _Rows):
    d, file = staged.deals, staged.table.file
    cols = [d["created_at"], d["closed_at"], d["expected_close_at"]]
    if staged.history is not None and staged.history.derived:
        cols.append(staged.history.frame["entered_at"])
    rule, why = decide_date_order(cols, file, _date_order(staged, options), staged.date_format)
    if why:
        report.decide(f"date order ({file})", rule.order, why)
    created, created_why = parse_dates(d["created_at"], rule)
    closed, closed_why = parse_dates(d["closed_at"], rule)
    expected, expected_why = parse_dates(d["expected_close_at"], rule)
    entered, entered_why = _parse_history_dates(staged, rule, options, report)

    known = [created.max(), closed.max()]
    if entered is not None:
        known.append(entered.max())
    known = [t for t in known if pd.notna(t)]
    extract = max(known) if known else None
    if staged.created_fallback and extract is not None:
        report.decide("extract date", str(extract.date()),
                      f"the latest date in {file}; used as created date where the export "
                      "gives none")

    alive = rows.alive()
    status = d["status"].tolist()
    raw_created_l = d["created_at"].tolist()
    raw_closed_l = d["closed_at"].tolist()
    raw_expected_l = d["expected_close_at"].tolist()
    created_l, closed_l, expected_l = created.tolist(), closed.tolist(), expected.tolist()
    moved_expected = 0
    for i in np.flatnonzero(alive).tolist():
        raw_created = raw_created_l[i]
        if pd.isna(created_l[i]):
            if raw_created:
                report.reject(i, "created_at", "bad_date",
                              f"created date {raw_created!r}: {created_why.iat[i]}")
                continue
            if i in staged.created_fallback and extract is not None:
                created_l[i] = extract
                report.repair(i, "created_at", "created_from_extract_date",
                              f"{staged.created_fallback[i]}; created date set to the "
                              f"extract date {extract.date()}")
            else:
                report.reject(i, "created_at", "missing_created",
                              "the created date is empty; a deal cannot be placed in time "
                              "without it")
                continue
        raw_closed = raw_closed_l[i]
        if status[i] in ("won", "lost"):
            if pd.isna(closed_l[i]):
                if raw_closed:
                    report.reject(i, "closed_at", "bad_date",
                                  f"close date {raw_closed!r}: {closed_why.iat[i]}")
                else:
                    report.reject(i, "closed_at", "missing_close_date",
                                  f"a {status[i]} deal needs its close date, which is empty")
                continue
            if closed_l[i] < created_l[i]:
                report.reject(i, "closed_at", "closed_before_created",
                              f"closed {closed_l[i].date()} before it was created "
                              f"{created_l[i].date()}")
                continue
        elif raw_closed:
            if pd.isna(closed_l[i]):
                report.repair(i, "expected_close_at", "bad_expected_close",
                              f"expected close date {raw_closed!r} dropped: {closed_why.iat[i]}")
            elif not raw_expected_l[i]:
                expected_l[i] = closed_l[i]
                moved_expected += 1
            closed_l[i] = pd.NaT
        if raw_expected_l[i] and pd.isna(expected_l[i]):
            report.repair(i, "expected_close_at", "bad_expected_close",
                          f"expected close date {raw_expected_l[i]!r} dropped: "
                          f"{expected_why.iat[i]}")
    index = d.index
    created = pd.Series(created_l, index=index, dtype="datetime64[ns]")
    closed = pd.Series(closed_l, index=index, dtype="datetime64[ns]")
    expected = pd.Series(expected_l, index=index, dtype="datetime64[ns]")
    if moved_expected:
        report.decide("close date of open deals", "expected_close_at",
                      f"{moved_expected} open deals have a close date: it is the date the rep "
                      "expects, written as expected_close_at")
    return created, closed, expected, entered, entered_why


def _amounts(staged: Staged, report: ImportReport, rows: _Rows) -> pd.Series:
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


def _owners(staged: Staged, report: ImportReport, rows: _Rows) -> None:
    d = staged.deals
    owner = d["owner"].tolist()
    for i in np.flatnonzero(rows.alive() & (d["owner"] == "").to_numpy()).tolist():
        owner[i] = UNASSIGNED
        report.repair(i, "owner", "missing_owner", f"owner empty; set to {UNASSIGNED!r}")
    d["owner"] = pd.Series(owner, index=d.index, dtype=object)


def _history(staged: Staged, created: pd.Series, closed: pd.Series, entered, entered_why,
             report: ImportReport, rows: _Rows) -> pd.DataFrame:
    """Usable stage entries: ``deal_id``, ``stage``, ``entered_at``, ``pos`` (deal row)."""
    empty = pd.DataFrame({"deal_id": [], "stage": [], "entered_at": pd.Series([], dtype=
                         "datetime64[ns]"), "pos": []})
    h = staged.history
    if h is None:
        return empty
    skipped: Counter = Counter(h.skipped)
    problems: list[dict] = []
    alive = rows.alive()
    pos_of: dict[str, int] = {}
    for i, ident in enumerate(staged.deals["deal_id"]):
        pos_of.setdefault(ident, i)
    keep_rows = []
    frame = h.frame.reset_index(drop=True)
    h_ids = [clean_cell(str(v)) for v in frame["deal_id"].tolist()]
    h_stages = [clean_cell(str(v)) for v in frame["stage"].tolist()]
    h_lines = [int(v) for v in frame["line"].tolist()]
    h_raw = frame["entered_at"].tolist()
    ent = entered.tolist() if entered is not None else []
    ent_why = entered_why.tolist() if entered_why is not None else []
    created_l, closed_l = created.tolist(), closed.tolist()
    for j in range(len(frame)):
        ident, stage = h_ids[j], h_stages[j]
        pos = pos_of.get(ident)
        verdict: tuple[str, str] | None = None
        if pos is None:
            verdict = ("unknown_deal", f"deal id {ident!r} is not in {staged.table.file}")
        elif not alive[pos]:
            verdict = ("deal_rejected", "")
        elif not stage:
            verdict = ("missing_stage", "stage is empty")
        elif stage in staged.closed_stages:
            verdict = ("closed_stage", "")
        elif pd.isna(ent[j]):
            verdict = ("bad_date", f"entered date {h_raw[j]!r}: {ent_why[j] or 'empty'}")
        elif ent[j] < created_l[pos]:
            verdict = ("entered_before_created", f"entered {ent[j].date()}, before the deal "
                       f"was created {created_l[pos].date()}")
        elif pd.notna(closed_l[pos]) and ent[j] > closed_l[pos]:
            verdict = ("entered_after_closed", f"entered {ent[j].date()}, after the deal "
                       f"closed {closed_l[pos].date()}")
        if verdict is None:
            keep_rows.append((ident, stage, ent[j], pos, j))
            continue
        rule, reason = verdict
        skipped[rule] += 1
        if reason and len(problems) < 200:  # benign skips (closed stage, rejected deal) unlisted
            problems.append({"row": h_lines[j], "id": ident or None, "column": None,
                             "rule": rule, "reason": reason})
    report.history = {"source": h.source, "file": h.file,
                      "input_rows": h.input_rows if h.input_rows is not None else len(frame),
                      "skipped_by_rule": dict(skipped.most_common()), "problems": problems}
    if not keep_rows:
        return empty
    out = pd.DataFrame(keep_rows, columns=["deal_id", "stage", "entered_at", "pos", "j"])
    out = out.sort_values(["pos", "entered_at", "j"], kind="stable")
    # consecutive entries of the same stage are one stay in it
    same = (out["pos"] == out["pos"].shift()) & (out["stage"] == out["stage"].shift())
    report.history["skipped_by_rule"]["no_stage_change"] = int(same.sum())
    return out[~same.to_numpy()].drop(columns="j").reset_index(drop=True)


def _stage_order(staged: Staged, options: ImportOptions, history: pd.DataFrame,
                 report: ImportReport, rows: _Rows) -> tuple[str, ...]:
    d = staged.deals
    alive = rows.alive()
    closed_names = staged.closed_stages
    observed: list[str] = []

    def see(values) -> None:
        for s in values:
            if s and s not in closed_names and s not in observed:
                observed.append(s)

    see(d["stage"][alive & (d["status"] == "open").to_numpy()])
    see(history["stage"])
    see(d["stage"][alive & (d["status"] != "open").to_numpy()])
    given = options.stages or staged.stages
    if given:
        order = tuple(dict.fromkeys(s.strip() for s in given if s.strip()))
        report.decide("stage order", " → ".join(order),
                      "given by --stages" if options.stages else "given in the mapping file")
        return order
    if not observed:
        report.decide("stage order", "(unknown)", "no deal names an open stage and there is "
                      "no stage history: every deal gets the single stage '(unknown)'")
        return ("(unknown)",)
    keys = {norm_key(s) for s in observed}
    for default in staged.default_orders:
        index = {norm_key(s): k for k, s in enumerate(default)}
        if keys <= set(index):
            order = tuple(sorted(observed, key=lambda s: index[norm_key(s)]))
            report.decide("stage order", " → ".join(order),
                          f"the {staged.format} standard stage order")
            return order
    lag = _median_lag(history)
    first_seen = {s: k for k, s in enumerate(observed)}
    probs = staged.stage_probability or {}
    if all(s in probs for s in observed):
        order = tuple(sorted(observed, key=lambda s: (probs[s], lag.get(s, np.inf),
                                                      first_seen[s])))
        report.decide("stage order", " → ".join(order),
                      "by the CRM's stage probability (median per stage), then stage history")
        return order
    if len(observed) == 1:
        report.decide("stage order", observed[0], "the only open stage in the data")
        return tuple(observed)
    if all(s in lag for s in observed):
        order = tuple(sorted(observed, key=lambda s: (lag[s], first_seen[s])))
        report.decide("stage order", " → ".join(order),
                      "by the median days from a deal's first stage entry to each stage "
                      "(stage history)")
        return order
    raise DataValidationError([Problem(
        staged.table.file, "stage_order_unknown",
        f"cannot tell the order of the stages {observed}: pass --stages with the open "
        "stages in pipeline order, e.g. --stages '" + ",".join(observed) + "' (or give "
        "'stages:' in a mapping file)", column="stage")], staged.table.file)


def _median_lag(history: pd.DataFrame) -> dict[str, float]:
    if history.empty:
        return {}
    first = history.groupby("pos")["entered_at"].transform("min")
    lag = (history["entered_at"] - first).dt.days
    return lag.groupby(history["stage"]).median().to_dict()


def _stages(staged: Staged, order: tuple[str, ...], history: pd.DataFrame,
            report: ImportReport, rows: _Rows) -> pd.Series:
    d = staged.deals
    stage = d["stage"].tolist()
    status = d["status"].tolist()
    in_order = set(order)
    last_held = (history[history["stage"].isin(in_order)].groupby("pos")["stage"].last()
                 .to_dict() if not history.empty else {})
    for i in np.flatnonzero(rows.alive()).tolist():
        s = stage[i]
        if status[i] == "open":
            if not s:
                report.reject(i, "stage", "missing_stage", "an open deal needs its stage, "
                              "which is empty")
            elif s not in in_order:
                report.reject(i, "stage", "unknown_stage",
                              f"stage {s!r} is not one of the pipeline stages {list(order)}")
            continue
        if s in in_order:
            continue
        if i in last_held:
            stage[i] = last_held[i]
            continue
        stage[i] = order[-1]
        said = f"stage {s!r}" if s else "no stage"
        report.repair(i, "stage", "closed_stage_assumed",
                      f"{said}, and no stage history: the deal is taken to have closed from "
                      f"the last pipeline stage {order[-1]!r}")
    return pd.Series(stage, index=d.index, dtype=object)


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
    rows = _Rows(report, n)
    _clean_text(staged, report)
    _reject_structure(staged, report)
    _reject_ids(staged, report, rows)
    _reject_status(staged, report, rows)
    currency = _currency(staged, options, report, rows)
    created, closed, expected, entered, entered_why = _dates(staged, options, report, rows)
    amount = _amounts(staged, report, rows)
    _owners(staged, report, rows)
    history = _history(staged, created, closed, entered, entered_why, report, rows)
    order = _stage_order(staged, options, history, report, rows)
    stage = _stages(staged, order, history, report, rows)

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
