"""Rules a dataset directory must satisfy; every broken rule becomes a :class:`Problem`.

Each ``check_*`` function takes raw, all-text frames (as read by
:func:`forecast.data.importers.reading.read_table`) and returns the typed frame together with
the problems found, so that one pass reports everything. Every rule reports through one
:class:`~forecast.data.problems.RowProblems` per file, which names each row by its real line.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from forecast.data.config import PLAIN, NumberFormat
from forecast.data.problems import Problem, RowProblems

DEAL_REQUIRED = ("deal_id", "created_at", "stage", "status", "closed_at", "amount", "owner")
HISTORY_REQUIRED = ("deal_id", "stage", "entered_at")
QUOTA_REQUIRED = ("owner", "period", "quota")
STATUSES = ("open", "won", "lost")
PERIOD_RE = re.compile(r"^(\d{4})-(?:(0[1-9]|1[0-2])|Q([1-4]))$")
#: ISO 8601: a date, optionally a time and offset after it (the date as written is kept).
ISO_DATE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
                         r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$")
DATE_HINT = "use YYYY-MM-DD"


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse strict ISO ``YYYY-MM-DD`` text (or datetimes) to ``datetime64``.

    A time part after the date (``2024-01-05T10:00:00Z``) is allowed and dropped; anything
    else (``2024-02-20XYZ``, ``20/02/2024``, no such day) and empty cells → ``NaT``.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    text = values.astype("string").str.strip()
    day = text.str.extract(ISO_DATE_RE, expand=False)
    parsed = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce")
    return parsed.astype("datetime64[ns]")


def number_pattern(fmt: NumberFormat) -> re.Pattern:
    """The regular expression a number written in ``fmt`` matches."""
    d, t = re.escape(fmt.decimal), re.escape(fmt.thousands)
    whole = rf"(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)" if fmt.thousands else r"\d+"
    exponent = r"(?:[eE][+-]?\d+)?" if fmt.decimal == "." else ""
    return re.compile(rf"^[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+){exponent}$")


def parse_numbers(values: pd.Series, fmt: NumberFormat = PLAIN) -> pd.Series:
    """Numbers written in ``fmt`` (plain ``1234.56`` by default) → float; else ``NaN``.

    Never a guess: with the plain format ``1.234,56`` and ``12,5`` are not numbers.
    """
    text = _text(values)
    ok = text.str.match(number_pattern(fmt).pattern)
    clean = text.where(ok, "")
    if fmt.thousands:
        clean = clean.str.replace(fmt.thousands, "", regex=False)
    if fmt.decimal != ".":
        clean = clean.str.replace(fmt.decimal, ".", regex=False)
    return pd.to_numeric(clean.replace("", np.nan), errors="coerce").astype(float)


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype("string").str.strip().fillna("") == "")


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().fillna("").astype(object)


def file_lines(frame: pd.DataFrame, lines: np.ndarray | None) -> np.ndarray:
    """Each row's line (``lines`` as read; else the header is line 1 and no line is blank)."""
    return np.arange(len(frame)) + 2 if lines is None else np.asarray(lines)


def _future(rows: RowProblems, dates: pd.Series, column: str,
            data_end: pd.Timestamp | None) -> None:
    if data_end is None:
        return
    rows.add(dates.notna() & (dates > data_end), column, "after_data_end",
             lambda i: f"{column} {dates.iat[i].date()} is after the data's end "
             f"{data_end.date()} (today, or --data-end): a dataset cannot hold dates that "
             "have not happened yet")


def missing_columns(frame: pd.DataFrame, required: tuple[str, ...], file: str) -> list[Problem]:
    have = list(frame.columns)
    problems = []
    for col in required:
        if col not in frame.columns:
            close = [c for c in have if c.strip().lower() == col]
            hint = f" (found {close[0]!r}: rename it)" if close else ""
            problems.append(
                Problem(
                    file,
                    "missing_column",
                    f"required column {col!r} is missing{hint}; columns present: {have}",
                    column=col,
                )
            )
    return problems


def check_deals(
    raw: pd.DataFrame, stages: tuple[str, ...] | None, covariates: tuple[str, ...] = (),
    *, lines: np.ndarray | None = None, data_end: pd.Timestamp | None = None,
    number_format: NumberFormat = PLAIN, file: str = "deals.csv",
) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate ``deals.csv`` and return it typed.

    Parameters
    ----------
    raw
        The file as text columns.
    stages
        Known stage names (``None`` when the order is still to be inferred).
    covariates
        Covariate columns that must exist.
    lines
        The file's line of each row (see :func:`file_lines`).
    data_end
        The data's end (the run's clock): a ``created_at`` or ``closed_at`` after it is an
        error. ``None``: not checked (the caller passes the clock; there is no default).
    number_format
        How ``amount`` and ``expected_amount`` are written.
    file
        The file's name, for messages.
    """
    f = file
    problems = missing_columns(raw, DEAL_REQUIRED, f)
    if len(raw) == 0:
        problems.append(Problem(f, "empty_file", "has no data rows; a dataset needs deals"))
    for cov in covariates:
        if cov not in raw.columns:
            problems.append(
                Problem(f, "missing_covariate", f"pipeline.yaml names covariate {cov!r}, "
                        "which is not a column of deals.csv", column=cov)
            )
    if problems:
        return raw, problems
    out = raw.copy()
    ids = _text(raw["deal_id"])
    out["deal_id"] = ids
    rows = RowProblems(f, file_lines(raw, lines), ids)
    add = rows.add

    add(ids == "", "deal_id", "required", lambda i: "deal_id is empty; every deal needs an id")
    dup = ids.duplicated(keep=False) & (ids != "")
    add(dup, "deal_id", "unique",
        lambda i: f"deal_id {ids.iat[i]!r} appears more than once; ids must be unique")

    created = parse_dates(raw["created_at"])
    add(created.isna(), "created_at", "date",
        lambda i: f"created_at {raw['created_at'].iat[i]!r} is not a date ({DATE_HINT})")
    closed = parse_dates(raw["closed_at"])
    closed_blank = _blank(raw["closed_at"])
    status = _text(raw["status"]).str.lower()
    add(~status.isin(STATUSES), "status", "allowed_values",
        lambda i: f"status {raw['status'].iat[i]!r} must be one of open, won, lost")
    add(~closed_blank & closed.isna(), "closed_at", "date",
        lambda i: f"closed_at {raw['closed_at'].iat[i]!r} is not a date ({DATE_HINT})")
    add(status.isin(("won", "lost")) & closed_blank, "closed_at", "required_when_closed",
        lambda i: f"a {status.iat[i]} deal needs closed_at")
    add((status == "open") & ~closed_blank, "closed_at", "empty_while_open",
        lambda i: "an open deal must have an empty closed_at (or set status to won/lost)")
    add(closed.notna() & created.notna() & (closed < created), "closed_at",
        "closed_before_created",
        lambda i: f"closed_at {closed.iat[i].date()} is before created_at {created.iat[i].date()}")
    _future(rows, created, "created_at", data_end)
    _future(rows, closed, "closed_at", data_end)

    amount = parse_numbers(raw["amount"], number_format)
    add(amount.isna(), "amount", "number",
        lambda i: f"amount {raw['amount'].iat[i]!r} is not a number (expected "
        f"{number_format.describe()})")
    add(amount.notna() & ~np.isfinite(amount.fillna(0)), "amount", "finite",
        lambda i: "amount must be finite")
    add(amount < 0, "amount", "non_negative", lambda i: f"amount {amount.iat[i]} is negative")

    owner = _text(raw["owner"])
    add(owner == "", "owner", "required", lambda i: "owner (the rep) is empty")
    stage = _text(raw["stage"])
    add(stage == "", "stage", "required", lambda i: "stage is empty")
    if stages is not None:
        add((stage != "") & ~stage.isin(stages), "stage", "known_stage",
            lambda i: f"stage {stage.iat[i]!r} is not one of the pipeline stages {list(stages)} "
            "(fix the value or list the stage in pipeline.yaml)")

    if "expected_close_at" in raw.columns:
        exp = parse_dates(raw["expected_close_at"])
        add(~_blank(raw["expected_close_at"]) & exp.isna(), "expected_close_at", "date",
            lambda i: f"expected_close_at {raw['expected_close_at'].iat[i]!r} is not a date "
            f"({DATE_HINT})")
        out["expected_close_at"] = exp
    if "expected_amount" in raw.columns:
        ea = parse_numbers(raw["expected_amount"], number_format)
        add(~_blank(raw["expected_amount"]) & (ea.isna() | (ea <= 0)), "expected_amount",
            "positive_number", lambda i: "expected_amount must be a positive number or empty")
        out["expected_amount"] = ea.astype(float)

    out["created_at"] = created
    out["closed_at"] = closed
    out["status"] = status
    out["amount"] = amount.astype(float)
    out["owner"] = owner
    out["stage"] = stage
    for col in ("segment", "team"):
        if col in raw.columns:
            out[col] = _text(raw[col]).replace("", "(none)")
    return out, problems + rows.problems


def check_history(
    raw: pd.DataFrame, deals: pd.DataFrame, stages: tuple[str, ...] | None,
    *, lines: np.ndarray | None = None, data_end: pd.Timestamp | None = None,
    file: str = "stage_history.csv",
) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate ``stage_history.csv`` against the deals it describes.

    ``lines``, ``data_end`` and ``file`` as in :func:`check_deals`.
    """
    f = file
    problems = missing_columns(raw, HISTORY_REQUIRED, f)
    if problems:
        return raw, problems
    out = raw.copy()
    ids = _text(raw["deal_id"])
    out["deal_id"] = ids
    rows = RowProblems(f, file_lines(raw, lines), ids)
    add = rows.add

    known = set(deals["deal_id"]) if "deal_id" in deals else set()
    add(~ids.isin(known), "deal_id", "known_deal",
        lambda i: f"deal_id {ids.iat[i]!r} is not in deals.csv")
    stage = _text(raw["stage"])
    if stages is not None:
        add(~stage.isin(stages), "stage", "known_stage",
            lambda i: f"stage {stage.iat[i]!r} is not one of the pipeline stages {list(stages)}")
    entered = parse_dates(raw["entered_at"])
    add(entered.isna(), "entered_at", "date",
        lambda i: f"entered_at {raw['entered_at'].iat[i]!r} is not a date ({DATE_HINT})")
    _future(rows, entered, "entered_at", data_end)
    if {"created_at", "closed_at"} <= set(deals.columns) and pd.api.types.is_datetime64_any_dtype(
        deals["created_at"]
    ):
        d = deals.drop_duplicates("deal_id").set_index("deal_id")
        created = ids.map(d["created_at"]).astype("datetime64[ns]")
        closed = ids.map(d["closed_at"]).astype("datetime64[ns]")
        add(entered.notna() & created.notna() & (entered < created), "entered_at",
            "entered_before_created",
            lambda i: f"entered_at {entered.iat[i].date()} is before the deal's created_at "
            f"{created.iat[i].date()}")
        add(entered.notna() & closed.notna() & (entered > closed), "entered_at",
            "entered_after_closed",
            lambda i: f"entered_at {entered.iat[i].date()} is after the deal's closed_at "
            f"{closed.iat[i].date()}")
    out["stage"] = stage
    out["entered_at"] = entered
    return out[["deal_id", "stage", "entered_at"]], rows.problems


def check_quotas(
    raw: pd.DataFrame, owners: set[str], teams: set[str], *, lines: np.ndarray | None = None,
    number_format: NumberFormat = PLAIN, file: str = "quotas.csv",
) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate ``quotas.csv``: owner is a known rep or team, period ``YYYY-MM``/``YYYY-Qn``.

    ``lines``, ``number_format`` and ``file`` as in :func:`check_deals`.
    """
    f = file
    problems = missing_columns(raw, QUOTA_REQUIRED, f)
    if problems:
        return raw, problems
    out = raw.copy()
    owner = _text(raw["owner"])
    period = _text(raw["period"]).str.upper()
    rows = RowProblems(f, file_lines(raw, lines))
    add = rows.add

    names = owners | teams | {"total", "all"}
    add(~owner.isin(names), "owner", "known_owner",
        lambda i: f"owner {owner.iat[i]!r} is neither a rep (owner in deals.csv) nor a team; "
        "use 'total' for the whole company")
    add(~period.str.match(PERIOD_RE.pattern), "period", "period_format",
        lambda i: f"period {raw['period'].iat[i]!r} must be YYYY-MM or YYYY-Qn")
    quota = parse_numbers(raw["quota"], number_format)
    add(quota.isna() | (quota < 0), "quota", "non_negative_number",
        lambda i: f"quota {raw['quota'].iat[i]!r} must be a number ≥ 0 (expected "
        f"{number_format.describe()})")
    dup = pd.Series(list(zip(owner, period, strict=True))).duplicated(keep=False)
    add(dup, "period", "unique", lambda i: f"{owner.iat[i]} has more than one quota for "
        f"{period.iat[i]}")
    out["owner"] = owner
    out["period"] = period
    out["quota"] = quota.astype(float)
    return out[["owner", "period", "quota"]], rows.problems
