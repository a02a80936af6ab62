"""Reading CRM export files as they arrive: any common encoding, any common delimiter.

:func:`read_csv_file` returns every cell as text together with the line each row starts
on, so that later rules can name rows the way a user finds them in an editor. It handles
a UTF-8 byte-order mark, UTF-16 (Excel's "Unicode text"), Windows-1252 files, an Excel
``sep=;`` first line, and sniffs the delimiter among ``,`` ``;`` tab and ``|``. Files it
cannot read at all (missing, empty, binary, a workbook) raise
:class:`~forecast.data.problems.DataValidationError` with a message that says what to do.

:func:`read_table` is the one reader of a dataset directory's tables (``deals``,
``stage_history``, ``quotas``; CSV or Parquet), used by
:func:`forecast.data.dataset.load_dataset`: the same decoding and delimiter detection,
read strictly (a malformed row is an error naming its line, not a repair).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.problems import DataValidationError, Problem

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_SEP_LINE = re.compile(r'^"?sep=(.)"?\s*$', re.IGNORECASE)
_SNIFF_RECORDS = 50


@dataclass
class RawTable:
    """A CSV file as text.

    Attributes
    ----------
    frame
        One row per input row, every cell a stripped ``str``; columns as in the header.
    lines
        Line of the file on which each row starts (the header is line 1, or 2 after a
        ``sep=`` line).
    file
        The file's name, for messages.
    path
        Where it was read from.
    delimiter, encoding
        What was detected.
    overflow
        Row position → the non-empty cells the row has beyond the header's columns.
    notes
        What was noticed while reading (encoding fallback, duplicate headers, ...).
    blank_rows
        Rows with no content at all, skipped (they are not input rows).
    """

    frame: pd.DataFrame
    lines: np.ndarray
    file: str
    path: Path
    delimiter: str = ","
    encoding: str = "utf-8"
    overflow: dict[int, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    blank_rows: int = 0

    def __len__(self) -> int:
        return len(self.frame)

    def info(self) -> dict:
        """What ``import_report.json`` says about the file."""
        return {"rows": len(self.frame), "delimiter": self.delimiter,
                "encoding": self.encoding, "blank_rows_skipped": self.blank_rows,
                "notes": list(self.notes)}


def _fail(file: str, rule: str, message: str) -> DataValidationError:
    return DataValidationError([Problem(file, rule, message)], file)


def decode_bytes(data: bytes, file: str) -> tuple[str, str, list[str]]:
    """Decode a file's bytes: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252.

    Returns the text, the encoding used and notes. Raises
    :class:`~forecast.data.problems.DataValidationError` for workbooks and binary files.
    """
    notes: list[str] = []
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _fail(file, "not_csv", "this is an Excel workbook (.xlsx/.xls), not a CSV "
                    "file: open it and save it as CSV (UTF-8), then import the CSV")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16", notes
    if data.startswith(codecs.BOM_UTF8):
        text, enc = data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
        if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
            notes.append("bytes that are not UTF-8 were replaced by U+FFFD")
        return text, enc, notes
    head = data[:4096]
    if head.count(b"\x00") > len(head) // 4:
        raise _fail(file, "not_csv", "the file holds binary data, not CSV text (a UTF-16 "
                    "file without byte-order mark, or not a CSV at all): save it as CSV UTF-8")
    try:
        return data.decode("utf-8"), "utf-8", notes
    except UnicodeDecodeError:
        notes.append("file is not UTF-8; read as Windows-1252 (Excel's 'CSV' on Windows)")
        return data.decode("cp1252", errors="replace"), "cp1252", notes


class CsvSyntaxError(ValueError):
    """A record the CSV rules cannot read; ``line`` is the line it starts on."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _records(text: str, delimiter: str,
             strict: bool = False) -> Iterable[tuple[int, list[str]]]:
    """``(start line, fields)`` of each CSV record.

    With ``strict``, a stray quote or a quote left open to the end of the file raises
    :class:`CsvSyntaxError` naming the line its record starts on.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"',
                        doublequote=True, skipinitialspace=False, strict=strict)
    last_line = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if "unexpected end of data" in reason:
                reason = "a quoted field is never closed (unterminated quote)"
            raise CsvSyntaxError(last_line + 1, reason) from exc
        start = last_line + 1
        last_line = reader.line_num
        yield start, fields


def sniff_delimiter(text: str) -> str:
    """The delimiter among ``,`` ``;`` tab ``|`` that splits the first records most
    consistently into the most columns (``,`` when nothing splits the header)."""
    best, best_score = ",", (False, 0.0, 0)
    for delim in DELIMITERS:
        counts = []
        try:
            for _, fields in _records(text, delim):
                if any(f.strip() for f in fields):
                    counts.append(len(fields))
                if len(counts) >= _SNIFF_RECORDS:
                    break
        except (csv.Error, CsvSyntaxError):
            continue
        if not counts:
            continue
        header = counts[0]
        rest = counts[1:] or [header]
        consistency = sum(c == header for c in rest) / len(rest)
        score = (header > 1, round(consistency, 2), header)
        if score > best_score:
            best, best_score = delim, score
    return best


def _header_names(fields: list[str], notes: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for j, raw in enumerate(fields):
        name = raw.replace("\ufeff", "").strip().strip('"').strip()
        if not name:
            name = f"column_{j + 1}"
        if name in seen:
            seen[name] += 1
            new = f"{name}.{seen[name]}"
            notes.append(f"column {name!r} appears more than once; the first is used, "
                         f"the copy is named {new!r}")
            name = new
        else:
            seen[name] = 0
        names.append(name)
    return names


def read_csv_file(path: Path, label: str | None = None, strict: bool = False) -> RawTable:
    """Read a CSV export as text, whatever its encoding and delimiter.

    Parameters
    ----------
    path
        The file.
    label
        Name used in messages (defaults to the file name).
    strict
        Read as a dataset file (:func:`read_table`): a stray or unterminated quote, a row
        with more fields than the header (non-empty ones) or with fewer is an error naming
        its line, instead of being kept for the importers' repair rules.

    Returns
    -------
    RawTable

    Raises
    ------
    DataValidationError
        When the file is missing, empty, binary or a workbook, or has no header.
        With ``strict``, also for every malformed row (all of them at once).
    """
    file = label or path.name
    if not path.exists():
        raise _fail(file, "missing_file", f"{path} does not exist")
    if not path.is_file():
        raise _fail(file, "not_a_file", f"{path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(file, "unreadable", f"cannot read {path}: {exc.strerror or exc}") from exc
    text, encoding, notes = decode_bytes(data, file)
    if "\x00" in text:
        text = text.replace("\x00", "")
        notes.append("NUL characters removed")
    if not text.strip():
        raise _fail(file, "empty_file", f"{path} is empty: export the records again, "
                    "with a header row")
    first_line, _, remainder = text.partition("\n")
    line_offset = 0
    sep = _SEP_LINE.match(first_line.strip())
    if sep and sep.group(1) in DELIMITERS:
        delimiter = sep.group(1)
        text, line_offset = remainder, 1
        notes.append(f"Excel 'sep={delimiter}' line read as the delimiter")
    else:
        delimiter = sniff_delimiter(text)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    blank = 0
    try:
        for start, fields in _records(text, delimiter, strict):
            if header is None:
                if any(f.strip() for f in fields):
                    header = _header_names(fields, notes)
                continue
            if not any(f.strip() for f in fields):
                blank += 1
                continue
            rows.append(fields)
            lines.append(start + line_offset)
    except CsvSyntaxError as exc:
        raise DataValidationError([Problem(
            file, "csv_syntax", f"not readable as CSV (delimiter {delimiter!r}): {exc.reason}",
            row=exc.line + line_offset)], file) from exc
    if header is None:
        raise _fail(file, "empty_file", f"{path} has no header row")
    width = len(header)
    if strict:
        _check_widths(file, header, rows, lines, delimiter)
    overflow: dict[int, list[str]] = {}
    cells: list[list[str]] = []
    for i, fields in enumerate(rows):
        extra = [f for f in fields[width:] if f.strip()]
        if extra:
            overflow[i] = extra
        padded = (fields + [""] * width)[:width]
        cells.append([unicodedata.normalize("NFC", f).strip() for f in padded])
    frame = pd.DataFrame(cells, columns=header, dtype=object) if cells else pd.DataFrame(
        {c: pd.Series([], dtype=object) for c in header})
    return RawTable(frame=frame, lines=np.asarray(lines, dtype=np.int64), file=file, path=path,
                    delimiter=delimiter, encoding=encoding, overflow=overflow, notes=notes,
                    blank_rows=blank)


def _check_widths(file: str, header: list[str], rows: list[list[str]], lines: list[int],
                  delimiter: str) -> None:
    """Raise naming every row whose field count is not the header's (strict reading)."""
    width = len(header)
    problems = []
    for fields, line in zip(rows, lines, strict=True):
        extra = [f for f in fields[width:] if f.strip()]
        if extra:
            problems.append(Problem(
                file, "extra_field", f"the row has {len(fields)} fields, the header "
                f"{width} (delimiter {delimiter!r}); extra: {extra[:3]}; quote values that "
                "hold the delimiter", row=line))
        elif len(fields) < width:
            problems.append(Problem(
                file, "missing_field", f"the row has {len(fields)} fields, the header {width} "
                f"(delimiter {delimiter!r}): {header[len(fields)]!r} and after are missing",
                row=line))
    if problems:
        raise DataValidationError(problems, file)


def read_table(directory: Path, name: str, strict: bool = True) -> RawTable | None:
    """Read the dataset table ``name`` (``name.parquet``, else ``name.csv``) as text.

    The one reader of every tabular input: CSV goes through :func:`read_csv_file`
    (encoding, delimiter, real line numbers), Parquet through pyarrow with every cell
    turned into text (dates as ``YYYY-MM-DD``), so that one set of rules reads both.

    Parameters
    ----------
    directory
        The dataset directory.
    name
        ``deals``, ``stage_history`` or ``quotas``.
    strict
        See :func:`read_csv_file`.

    Returns
    -------
    RawTable or None
        ``None`` when neither file exists. For Parquet, ``lines`` holds each row's position
        (1 = the first row), ``encoding`` is ``"parquet"``.

    Raises
    ------
    DataValidationError
        For a file that cannot be read (empty, corrupt, a directory, malformed rows).
    """
    csv_path, pq_path = directory / f"{name}.csv", directory / f"{name}.parquet"
    if pq_path.exists():
        return _read_parquet(pq_path)
    if csv_path.exists():
        return read_csv_file(csv_path, strict=strict)
    return None


def _read_parquet(path: Path) -> RawTable:
    file = path.name
    if not path.is_file():
        raise _fail(file, "not_a_file", f"{path} is not a file")
    if path.stat().st_size == 0:
        raise _fail(file, "empty_file", f"{path} is empty (0 bytes)")
    try:
        import pyarrow.parquet as pq

        frame = pq.read_table(path).to_pandas()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise _fail(file, "unreadable", f"{path} is not a readable Parquet file "
                    f"({type(exc).__name__}: {str(exc)[:200]})") from exc
    cells = {}
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            text = col.dt.strftime("%Y-%m-%d")
        else:
            text = col.astype("string")
        cells[str(c).strip()] = text.fillna("").astype(object).map(str.strip)
    out = pd.DataFrame(cells, index=pd.RangeIndex(len(frame)), dtype=object)
    return RawTable(frame=out, lines=np.arange(1, len(frame) + 1, dtype=np.int64), file=file,
                    path=path, delimiter="", encoding="parquet")


def norm_key(name: str) -> str:
    """Compare column and stage names ignoring case, spaces and punctuation."""
    return "".join(ch for ch in str(name).casefold() if ch.isalnum())


def find_column(table: RawTable, aliases: Iterable[str]) -> str | None:
    """The header of ``table`` matching the first of ``aliases`` found (``None`` if none)."""
    by_key: dict[str, str] = {}
    for c in table.frame.columns:
        by_key.setdefault(norm_key(c), c)
    for alias in aliases:
        hit = by_key.get(norm_key(alias))
        if hit is not None:
            return hit
    return None


def resolve_columns(
    table: RawTable,
    spec: dict[str, tuple[str, ...]],
    required: Iterable[str],
    hint: str = "",
) -> dict[str, str]:
    """Find each column of ``spec`` (our name → accepted headers) in ``table``.

    Returns our name → header for the columns found; raises
    :class:`~forecast.data.problems.DataValidationError` naming every missing required column,
    the headers accepted for it, close matches among the headers present, and ``hint``.
    """
    found = {ours: col for ours, aliases in spec.items()
             if (col := find_column(table, aliases)) is not None}
    problems = []
    present = [str(c) for c in table.frame.columns]
    keys = {norm_key(c): c for c in present}
    for ours in required:
        if ours in found:
            continue
        aliases = spec[ours]
        close: list[str] = []
        for alias in aliases:
            close += [keys[k] for k in difflib.get_close_matches(norm_key(alias), list(keys),
                                                                 n=2, cutoff=0.75)]
        guess = f"; did you mean {sorted(set(close))}?" if close else ""
        problems.append(Problem(
            table.file, "missing_column",
            f"required column {aliases[0]!r} (accepted: {', '.join(repr(a) for a in aliases)}) "
            f"is missing{guess} Columns present: {present}. {hint}".strip(),
            column=ours))
    if problems:
        raise DataValidationError(problems, table.file)
    return found


def column_or_blank(table: RawTable, column: str | None) -> pd.Series:
    """The text of ``column`` (all ``""`` when ``None``), indexed like the table."""
    if column is None:
        return pd.Series([""] * len(table.frame), index=table.frame.index, dtype=object)
    return table.frame[column].astype(object)
