"""The dates of an import's deals and stage history (rule 6 of
:mod:`forecast.data.importers.assemble`): one date order per file, the extract date, and
each row's created, close and expected close dates checked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.importers.dates import DateRule, decide_date_order, parse_dates
from forecast.data.importers.report import ImportReport
from forecast.data.importers.row_rules import Rows
from forecast.data.importers.staging import ImportOptions, Staged


def date_order(staged: Staged, options: ImportOptions) -> str:
    """``--date-order`` if given, else the mapping file's, else ``auto``."""
    if options.date_order != "auto":
        return options.date_order
    return staged.date_order or "auto"


def parse_history_dates(staged: Staged, deals_rule: DateRule,
                         options: ImportOptions, report: ImportReport):
    """The stage history's entered dates: ``(dates, reasons)``, ``(None, None)`` if none."""
    h = staged.history
    if h is None or h.frame.empty:
        return None, None
    if h.derived:
        rule = deals_rule
    else:
        rule, why = decide_date_order([h.frame["entered_at"]], h.file,
                                      date_order(staged, options))
        if why:
            report.decide(f"date order ({h.file})", rule.order, why)
    return parse_dates(h.frame["entered_at"], rule)


def deal_dates(staged: Staged, options: ImportOptions, report: ImportReport, rows: Rows):
    """Rule 6: ``(created, closed, expected, entered, entered_why)``, each row checked."""
    d, file = staged.deals, staged.table.file
    cols = [d["created_at"], d["closed_at"], d["expected_close_at"]]
    if staged.history is not None and staged.history.derived:
        cols.append(staged.history.frame["entered_at"])
    rule, why = decide_date_order(cols, file, date_order(staged, options), staged.date_format)
    if why:
        report.decide(f"date order ({file})", rule.order, why)
    created, created_why = parse_dates(d["created_at"], rule)
    closed, closed_why = parse_dates(d["closed_at"], rule)
    expected, expected_why = parse_dates(d["expected_close_at"], rule)
    entered, entered_why = parse_history_dates(staged, rule, options, report)
    end = options.data_end
    if end is not None and entered is not None:
        future = (entered > end).to_numpy()
        if future.any():  # a stage entry that has not happened: a bad date of its history row
            entered_why = entered_why.astype(object).copy()
            entered_why[future] = f"after the data's end {end.date()}"
            entered = entered.mask(future)

    known = [created[created <= end].max(), closed[closed <= end].max()] if end is not None \
        else [created.max(), closed.max()]
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
        if end is not None and created_l[i] > end:
            report.reject(i, "created_at", "after_data_end",
                          f"created {created_l[i].date()}, after the data's end {end.date()} "
                          "(--data-end, default today): a date that has not happened yet")
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
            if end is not None and closed_l[i] > end:
                report.reject(i, "closed_at", "after_data_end",
                              f"{status[i]} {closed_l[i].date()}, after the data's end "
                              f"{end.date()} (--data-end, default today): a date that has "
                              "not happened yet")
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


