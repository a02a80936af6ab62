"""Make text safe to hand to spreadsheets (CSV) and browsers (HTML).

CRM fields are typed by people and by integrations, so a deal name, an owner or a stage
may hold ``=HYPERLINK(...)`` or ``<script>``. A CSV opened in Excel or LibreOffice runs
a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(CSV injection); an HTML report shows markup as markup. Every CSV pipecast writes goes
through :func:`safe_csv_frame`; every text put into an HTML report goes through
:func:`escape_html`.
"""

from __future__ import annotations

import html
import re

import pandas as pd

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def neutralise_formula(value: object) -> object:
    """Prefix a formula-like text cell with a single quote; return anything else unchanged.

    A text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return becomes
    ``'`` + text, which spreadsheets show as text and never evaluate. Plain numbers
    (``-12.5``, ``+3``, ``1e5``) are left alone: a spreadsheet reads them as numbers, not
    formulas. The function is idempotent (a neutralised value starts with ``'``).

    Parameters
    ----------
    value
        A cell value of any type; only ``str`` values are changed.

    Returns
    -------
    object
        The safe value.

    Examples
    --------
    >>> neutralise_formula("=1+1")
    "'=1+1"
    >>> neutralise_formula("-5")
    '-5'
    >>> neutralise_formula(3)
    3
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        if _PLAIN_NUMBER.match(value):
            return value
        return "'" + value
    return value


def safe_csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell and column name passed through
    :func:`neutralise_formula`; numeric and date columns are untouched.

    Parameters
    ----------
    df
        The frame about to be written as CSV (not modified).

    Returns
    -------
    pandas.DataFrame
        A new frame, safe to open in a spreadsheet.
    """
    out = df.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            out[col] = values.map(neutralise_formula)
    out.columns = [neutralise_formula(str(c)) for c in out.columns]
    return out


def escape_html(text: object) -> str:
    """Escape a value for an HTML page (element text or a quoted attribute).

    ``&``, ``<``, ``>``, ``"`` and ``'`` become entities; ``None`` becomes ``""``; other
    values are converted with ``str`` first.

    Examples
    --------
    >>> escape_html('<b onclick="x()">Acme & Co</b>')
    '&lt;b onclick=&quot;x()&quot;&gt;Acme &amp; Co&lt;/b&gt;'
    """
    if text is None:
        return ""
    return html.escape(str(text), quote=True)
