"""Amounts, percentages and yes/no flags as CRM exports write them.

Amounts may carry a currency symbol or code (``$1,200.50``, ``1.200,50 €``,
``USD 1200``), spaces as thousands separators, or Excel's scientific notation
(``1.2E+05``). Whether ``,`` is the decimal mark is decided once per file
(:func:`decide_decimal`): a value such as ``1.234,5`` or ``12,50`` proves a decimal
comma, ``1,234.5`` or ``12.50`` a decimal point; a file proving both is read with the
majority and the others are rejected; a file proving neither reads ``1,234`` as one
thousand two hundred thirty-four.
"""

from __future__ import annotations

import math
import re

import pandas as pd

_SYMBOLS = re.compile(r"[$€£¥₹₩₽¤]|\b[A-Z]{3}\b|\s|\u00a0|\u202f|'")
_POINT = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_COMMA = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$")
_PROVES_COMMA = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+,\d+|\d+,\d{1,2}|\d+,\d{4,}|"
                           r"\d{1,3}(?:\.\d{3}){2,})$")
_PROVES_POINT = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+\.\d+|\d+\.\d{1,2}|\d+\.\d{4,}|"
                           r"\d{1,3}(?:,\d{3}){2,})$")
_TRUE = {"true", "t", "yes", "y", "1", "x", "wahr", "vrai", "ja", "oui", "si", "sí"}
_FALSE = {"false", "f", "no", "n", "0", "falsch", "faux", "nein", "non", ""}


def _clean(text: str) -> tuple[str, bool]:
    """Strip symbols and spaces; ``(text, negative-by-parentheses)``."""
    s = _SYMBOLS.sub("", str(text).strip())
    if s.startswith("(") and s.endswith(")"):
        return s[1:-1], True
    if s.endswith("-") and s[:-1].replace(",", "").replace(".", "").isdigit():
        return "-" + s[:-1], False
    return s, False


def decide_decimal(values: pd.Series) -> tuple[str, str | None]:
    """``("." or ",", explanation)``: the decimal mark of the amounts of one file."""
    comma = point = 0
    example_c = example_p = ""
    for v in pd.unique(values.astype(object).fillna("")):
        s, _ = _clean(v)
        if _PROVES_COMMA.match(s):
            comma += 1
            example_c = example_c or str(v)
        elif _PROVES_POINT.match(s):
            point += 1
            example_p = example_p or str(v)
    if comma and point:
        mark = "," if comma > point else "."
        return mark, (f"amounts use both decimal marks ({comma} distinct values like "
                      f"{example_c!r}, {point} like {example_p!r}); read with {mark!r} as "
                      "decimal mark, the others are rejected")
    if comma:
        return ",", f"decimal comma: values such as {example_c!r}"
    return ".", None


def parse_amount(text: str, decimal: str = ".") -> tuple[float | None, str]:
    """Read one amount: ``(value, "")``, ``(None, "")`` when empty, ``(None, why)`` else."""
    raw = str(text).strip()
    if not raw:
        return None, ""
    s, negative = _clean(raw)
    if not s:
        return None, f"{raw!r} is not a number"
    if decimal == ",":
        if not _COMMA.match(s):
            return None, f"{raw!r} is not a number (this file uses a decimal comma)"
        s = s.replace(".", "").replace(",", ".")
    else:
        if not _POINT.match(s):
            return None, f"{raw!r} is not a number"
        s = s.replace(",", "")
    try:
        value = float(s)
    except ValueError:
        return None, f"{raw!r} is not a number"
    if not math.isfinite(value):
        return None, f"{raw!r} is not a finite number"
    return (-value if negative else value), ""


def parse_amounts(values: pd.Series, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """Read a column of amounts: ``(float values with NaN, reasons)``."""
    cache: dict[str, tuple[float | None, str]] = {}
    out, why = [], []
    for v in values.astype(object).fillna(""):
        key = str(v)
        if key not in cache:
            cache[key] = parse_amount(key, decimal)
        value, reason = cache[key]
        out.append(math.nan if value is None else value)
        why.append(reason)
    return (pd.Series(out, index=values.index, dtype=float),
            pd.Series(why, index=values.index, dtype=object))


def parse_percent(text: str) -> float | None:
    """``"10"``, ``"10%"``, ``"10,0 %"`` → ``10.0``; anything else → ``None``."""
    s = str(text).replace("%", "").strip()
    value, _ = parse_amount(s, "," if "," in s and "." not in s else ".")
    return value


def parse_flag(text: str) -> bool | None:
    """Yes/no flags (``true``/``false``, ``1``/``0``, ``yes``/``no``...); ``None`` if neither.

    An empty cell reads as ``False`` (Salesforce leaves false flags empty in some reports).
    """
    s = str(text).strip().casefold()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    return None
