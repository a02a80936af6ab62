"""Dates as CRM exports and spreadsheets write them, read by one rule per file.

Accepted forms (a time part after the date is ignored; no time-zone conversion, the date
is taken as written):

- ISO ``2024-03-15`` (also ``2024/03/15``, ``2024-03-15T10:22:33.000Z``);
- day-month or month-day numbers ``03/15/2024``, ``15.03.2024``, ``15-03-2024``; a
  two-digit year ``yy`` means ``20yy``;
- month names ``15 Mar 2024``, ``15-Mar-2024``, ``March 15, 2024`` (English);
- Excel serial day numbers ``45366`` (the 1900 date system: day 1 is 1900-01-01 and
  Excel's phantom 1900-02-29 is honoured, so a serial is days after 1899-12-30);
  a fraction (the time) is ignored;
- Unix timestamps in seconds (10 digits) or milliseconds (13 digits, HubSpot's API).

Whether ``03/04/2024`` is 3 April or 4 March is decided once per file
(:func:`decide_date_order`): a value whose first number is above 12 proves day-first, one
whose second is above 12 proves month-first; a file with both is an error; a file with
neither uses the separator's convention (dots: day-first, as in Germany; slashes and
dashes: month-first, as US Salesforce and HubSpot exports write). The decision and its
evidence go into the import report; ``--date-order`` overrides it. Dates before 1970 or
after 2100 are rejected as implausible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from forecast.data.problems import DataValidationError, Problem

_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:$|[T\s].*$)")
_NUMERIC = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})\.?(?:$|[T\s,].*$)")
_SERIAL = re.compile(r"^(\d{5})(?:[.,]\d+)?$")
_EPOCH_S = re.compile(r"^(\d{10})(?:\.\d+)?$")
_EPOCH_MS = re.compile(r"^(\d{13})$")
_NAMED_DMY = re.compile(r"^(\d{1,2})[\s\-./]+([^\W\d_]{3,9})\.?[\s\-./,]+(\d{4})(?:$|[T\s,].*$)")
_NAMED_MDY = re.compile(r"^([^\W\d_]{3,9})\.?[\s\-]+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})"
                        r"(?:$|[T\s,].*$)", re.IGNORECASE)
_WEEKDAY = re.compile(r"^(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+",
                      re.IGNORECASE)
_MONTHS = {name: i + 1 for i, names in enumerate([
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
    ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
    ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
    ("dec", "december")]) for name in names}
_EXCEL_EPOCH = date(1899, 12, 30)
MIN_YEAR, MAX_YEAR = 1970, 2100
ORDERS = ("auto", "dmy", "mdy")


@dataclass(frozen=True)
class DateRule:
    """How the dates of one file are read.

    Attributes
    ----------
    order
        ``"dmy"`` or ``"mdy"``: how ``a/b/yyyy`` is read.
    fmt
        An explicit ``strptime`` format (from a mapping file), tried before the rest.
    """

    order: str = "mdy"
    fmt: str | None = None


def _make(y: int, m: int, d: int) -> tuple[date | None, str]:
    try:
        value = date(y, m, d)
    except ValueError:
        return None, "no such day"
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return None, f"year {value.year} is implausible (outside {MIN_YEAR}–{MAX_YEAR})"
    return value, ""


def parse_date_text(text: str, rule: DateRule) -> tuple[date | None, str]:
    """Read one date; ``(date, "")`` or ``(None, why not)``. Empty text is ``(None, "")``."""
    s = str(text).strip()
    if not s:
        return None, ""
    if rule.fmt:
        try:
            return _make(*datetime.strptime(s, rule.fmt).timetuple()[:3])
        except ValueError:
            if not _ISO.match(s):
                return None, f"does not match the date format {rule.fmt!r}"
    s = _WEEKDAY.sub("", s)
    if m := _ISO.match(s):
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m := _NUMERIC.match(s):
        a, b, y = int(m.group(1)), int(m.group(3)), m.group(4)
        year = int(y) + 2000 if len(y) == 2 else int(y)
        day, month = (a, b) if rule.order == "dmy" else (b, a)
        value, why = _make(year, month, day)
        if value is None and why == "no such day":
            order = "day/month" if rule.order == "dmy" else "month/day"
            why = f"not a date when read {order}/year, the order this file uses"
        return value, why
    if m := _SERIAL.match(s):
        return _make(*(_EXCEL_EPOCH + timedelta(days=int(m.group(1)))).timetuple()[:3])
    if m := _EPOCH_MS.match(s) or _EPOCH_S.match(s):
        digits = m.group(1)
        seconds = int(digits) / (1000 if len(digits) == 13 else 1)
        stamp = datetime(1970, 1, 1) + timedelta(seconds=seconds)
        return _make(stamp.year, stamp.month, stamp.day)
    if m := _NAMED_DMY.match(s):
        month = _MONTHS.get(m.group(2).casefold())
        if month:
            return _make(int(m.group(3)), month, int(m.group(1)))
    if m := _NAMED_MDY.match(s):
        month = _MONTHS.get(m.group(1).casefold())
        if month:
            return _make(int(m.group(3)), month, int(m.group(2)))
    return None, "not a date in any accepted form (YYYY-MM-DD best)"


def parse_dates(values: pd.Series, rule: DateRule) -> tuple[pd.Series, pd.Series]:
    """Read a column of date text.

    Returns
    -------
    (dates, reasons)
        ``datetime64[ns]`` (NaT for empty or unreadable) and, per value, why it could not
        be read (``""`` when it was read or was empty).
    """
    cache: dict[str, tuple[date | None, str]] = {}
    days, reasons = [], []
    for v in values.astype(object).fillna(""):
        key = str(v)
        if key not in cache:
            cache[key] = parse_date_text(key, rule)
        d, why = cache[key]
        days.append(pd.Timestamp(d) if d is not None else pd.NaT)
        reasons.append(why)
    return (pd.Series(days, index=values.index, dtype="datetime64[ns]"),
            pd.Series(reasons, index=values.index, dtype=object))


def decide_date_order(
    columns: Iterable[pd.Series], file: str, forced: str = "auto", fmt: str | None = None
) -> tuple[DateRule, str | None]:
    """Decide how ``a/b/yyyy`` dates of one file are read, from all its date values.

    Parameters
    ----------
    columns
        Every date column of the file (text).
    file
        File name, for messages.
    forced
        ``"dmy"`` or ``"mdy"`` to impose an order, ``"auto"`` to decide from the data.
    fmt
        An explicit ``strptime`` format (then no decision is needed).

    Returns
    -------
    (rule, explanation)
        The rule and a sentence for the import report (``None`` when the file has no
        numeric day/month dates, so no decision was needed).

    Raises
    ------
    DataValidationError
        When the file proves both orders (``15/03/2024`` and ``03/15/2024``) and no order
        was forced.
    """
    if fmt:
        return DateRule(order="mdy" if forced == "auto" else forced, fmt=fmt), (
            f"dates read with the format {fmt!r} given in the mapping")
    values: set[str] = set()
    for col in columns:
        values.update(str(v).strip() for v in col.astype(object).fillna("") if str(v).strip())
    day_first, month_first, ambiguous = [], [], []
    dots = slashes = 0
    for v in sorted(values):
        m = _NUMERIC.match(_WEEKDAY.sub("", v))
        if not m:
            continue
        a, b = int(m.group(1)), int(m.group(3))
        if m.group(2) == ".":
            dots += 1
        else:
            slashes += 1
        if a > 12 >= b:
            day_first.append(v)
        elif b > 12 >= a:
            month_first.append(v)
        elif a <= 12 and b <= 12:
            ambiguous.append(v)
    n = len(day_first) + len(month_first) + len(ambiguous)
    if forced in ("dmy", "mdy"):
        against = month_first if forced == "dmy" else day_first
        extra = (f"; {len(against)} value(s) such as {against[0]!r} do not fit it and are "
                 "rejected") if against else ""
        return DateRule(order=forced), f"--date-order {forced} given{extra}" if n else None
    if day_first and month_first:
        raise DataValidationError([Problem(
            file, "mixed_date_order",
            f"the file mixes day-first dates (e.g. {day_first[0]!r}, {len(day_first)} values) "
            f"and month-first dates (e.g. {month_first[0]!r}, {len(month_first)} values), so "
            "no single reading fits it: export the dates in one format (YYYY-MM-DD best), or "
            "pass --date-order dmy|mdy to read it one way and reject the dates that do not fit")],
            file)
    if day_first:
        return DateRule(order="dmy"), (
            f"day/month/year: {len(day_first)} of {n} numeric dates have a first part above 12 "
            f"(e.g. {day_first[0]!r}) and none a second part above 12")
    if month_first:
        return DateRule(order="mdy"), (
            f"month/day/year: {len(month_first)} of {n} numeric dates have a second part above "
            f"12 (e.g. {month_first[0]!r}) and none a first part above 12")
    if not n:
        return DateRule(order="mdy"), None
    if dots > slashes:
        return DateRule(order="dmy"), (
            f"day.month.year assumed: all {n} numeric dates (e.g. {ambiguous[0]!r}) fit either "
            "order and dotted dates are day-first by convention; pass --date-order mdy if not")
    return DateRule(order="mdy"), (
        f"month/day/year assumed: all {n} numeric dates (e.g. {ambiguous[0]!r}) fit either "
        "order and slashed dates are month-first in US CRM exports; pass --date-order dmy "
        "if they are day-first")
