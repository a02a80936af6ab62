"""Property-based tests: hostile and broken exports never crash ``pipecast import``.

Hypothesis writes export files the way CRMs and spreadsheets do and the way they go wrong:
dropped, renamed and shuffled columns, any of four encodings (with or without BOM) and four
delimiters, Excel-style dates and serial numbers, decimal commas, currency symbols,
negative and non-numeric amounts, duplicate and empty ids, names holding HTML, formulas,
delimiters, quotes and line breaks. Every import must either stop with a
:class:`DataValidationError` / :class:`UsageError`, or account for every input row
(loaded + repaired + rejected = rows written) and write a dataset that loads.
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast.data.dataset import load_dataset
from forecast.data.importers import ImportOptions, import_export
from forecast.data.importers.writing import write_import
from forecast.data.problems import DataValidationError, UsageError

SETTINGS = settings(max_examples=50, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HOSTILE_TEXT = st.sampled_from([
    "=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=x", "=HYPERLINK(\"http://x\",\"y\")",
    "<script>alert(1)</script>", "<b>bold</b> & co", "a,b;c|d\te", 'say "hi"', "line\nbreak",
    "cr\rlf", "Café Zoë", "", " ", "NULL", "nan", "#N/A", "🙂 emoji", "\ufeffbom", "'quoted",
    "ＡＢＣ", "٣٤٥", "x" * 60,
])
TEXT = st.one_of(
    HOSTILE_TEXT,
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            max_size=10),
)
DATE_STYLES = ("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S.000Z",
               "%b %d, %Y", "%d-%b-%Y", "%m/%d/%y", "serial")
BAD_DATES = st.sampled_from(["", "not a date", "31/02/2024", "2024-13-45", "0", "99999",
                             "1899-12-31", "2024", "12/31", "=TODAY()"])
AMOUNTS = st.one_of(
    st.integers(0, 10**7).map(str),
    st.floats(0, 1e7, allow_nan=False).map(lambda x: f"{x:.2f}"),
    st.sampled_from(["", "-5", "abc", "1,234.50", "$1,200", "1.234,50", "12,5", "€ 30",
                     "1e5", "inf", "NaN", "(100)", "0", "-0", "1 000", "=1+1"]),
)
IDS = st.one_of(st.sampled_from(["1", "2", "3", "A-1", "=id", "", " ", "-7"]),
                st.integers(0, 10**6).map(str), TEXT)
FLAGS = st.sampled_from(["true", "false", "TRUE", "False", "1", "0", "", "yes", "maybe"])


@dataclass
class Export:
    data: bytes
    rows: int
    options: ImportOptions


@st.composite
def dates(draw, style: str) -> str:
    d = draw(st.dates(min_value=date(2018, 1, 1), max_value=date(2026, 12, 31)))
    if draw(st.integers(0, 9)) == 0:
        return draw(BAD_DATES)
    if style == "serial":
        return str((d - date(1899, 12, 30)).days)
    return d.strftime(style)


def encode(rows: list[list[str]], encoding: str, delimiter: str, terminator: str) -> bytes:
    """CSV bytes; with LF line ends every field is quoted (a bare CR in a cell would
    otherwise end the record, as in any CSV reader)."""
    buffer = io.StringIO()
    quoting = csv.QUOTE_ALL if terminator == "\n" else csv.QUOTE_MINIMAL
    csv.writer(buffer, delimiter=delimiter, lineterminator=terminator,
               quoting=quoting).writerows(rows)
    text = buffer.getvalue()
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8")


@st.composite
def csv_export(draw, columns: dict[str, object], date_columns: set[str]) -> Export:
    """A CSV with ``columns`` (header → value strategy), hostile in layout and content."""
    style = draw(st.sampled_from(DATE_STYLES))
    headers = list(columns)
    if draw(st.booleans()):
        headers = draw(st.permutations(headers))
    drop = draw(st.sets(st.sampled_from(headers), max_size=1)) if draw(
        st.integers(0, 4)) == 0 else set()
    renames = {h: draw(st.sampled_from([h.upper(), h.replace(" ", "_"), f" {h} ", h + "x"]))
               for h in headers if draw(st.integers(0, 12)) == 0}
    kept = [h for h in headers if h not in drop]
    n = draw(st.integers(0, 14)) if draw(st.integers(0, 9)) == 0 else draw(st.integers(1, 14))
    rows = []
    for _ in range(n):
        row = []
        for h in kept:
            if h in date_columns:
                row.append(draw(dates(style)))
            else:
                row.append(draw(columns[h]))
        rows.append(row)
    if rows and draw(st.booleans()):
        rows.append(list(rows[0]))  # an exact duplicate
    data = encode([[renames.get(h, h) for h in kept]] + rows,
                  draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])),
                  draw(st.sampled_from([",", ";", "\t", "|"])),
                  draw(st.sampled_from(["\n", "\r\n"])))
    options = ImportOptions(currency=draw(st.sampled_from([None, None, "USD"])),
                            date_order=draw(st.sampled_from(["auto", "auto", "dmy", "mdy"])),
                            pipeline=draw(st.sampled_from([None, "Sales Pipeline"])))
    counted = sum(any(c.strip() for c in r) for r in rows)
    return Export(data=data, rows=counted, options=options)


def check_import(fmt: str, src: Path, export: Export | None, folder: Path,
                 mapping: Path | None = None) -> None:
    """The property: a clear error, or every row accounted for and a dataset that loads."""
    options = export.options if export else ImportOptions()
    if fmt not in ("hubspot", "mapping"):
        options = ImportOptions(currency=options.currency, date_order=options.date_order)
    try:
        result = import_export(fmt, src, options, mapping=mapping)
    except (DataValidationError, UsageError):
        return
    r = result.report.to_dict()
    assert r["loaded"] + r["repaired"] + r["rejected"] == r["input_rows"]
    if export is not None:
        assert r["input_rows"] == export.rows
    out = folder / "out"
    try:
        write_import(result, out)
    except DataValidationError as exc:  # pragma: no cover - the failure being looked for
        pytest.fail(f"import wrote a dataset that does not load: {exc}")
    ds = load_dataset(out)
    assert len(ds.deals) == r["loaded"] + r["repaired"]
    if ds.stage_history is not None:
        assert set(ds.stage_history["deal_id"]) <= set(ds.deals["deal_id"])


SALESFORCE = {
    "Id": IDS, "Name": TEXT,
    "StageName": st.sampled_from(["Prospecting", "Qualification", "Needs Analysis",
                                  "Closed Won", "Closed Lost", "", "Weird", "=stage"]),
    "Amount": AMOUNTS, "CloseDate": None, "CreatedDate": None, "Owner.Name": TEXT,
    "IsClosed": FLAGS, "IsWon": FLAGS, "Probability": st.sampled_from(["10", "50", "", "x"]),
    "CurrencyIsoCode": st.sampled_from(["USD"] * 8 + ["EUR", ""]),
}


@SETTINGS
@given(export=csv_export(SALESFORCE, {"CloseDate", "CreatedDate"}))
def test_salesforce_exports_never_crash(export):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "Opportunity.csv"
        src.write_bytes(export.data)
        check_import("salesforce", src, export, Path(tmp))


HUBSPOT = {
    "Record ID": IDS, "Deal Name": TEXT,
    "Deal Stage": st.sampled_from(["Appointment Scheduled", "Qualified To Buy",
                                   "Contract Sent", "closedwon", "Closed Lost", "", "Custom"]),
    "Amount": AMOUNTS, "Create Date": None, "Close Date": None, "Deal owner": TEXT,
    "Pipeline": st.sampled_from(["Sales Pipeline", "Sales Pipeline", "Renewals", ""]),
    'Date entered "Appointment Scheduled (Sales Pipeline)"': None,
    'Date entered "Contract Sent (Sales Pipeline)"': None,
    'Date entered "Closed Won (Sales Pipeline)"': None,
}


@SETTINGS
@given(export=csv_export(HUBSPOT, {"Create Date", "Close Date",
                                   'Date entered "Appointment Scheduled (Sales Pipeline)"',
                                   'Date entered "Contract Sent (Sales Pipeline)"',
                                   'Date entered "Closed Won (Sales Pipeline)"'}))
def test_hubspot_exports_never_crash(export):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "deals.csv"
        src.write_bytes(export.data)
        check_import("hubspot", src, export, Path(tmp))


MAVEN = {
    "opportunity_id": IDS,
    "sales_agent": st.one_of(st.sampled_from(["Ann", "Bob", "Nobody"]), TEXT),
    "product": st.sampled_from(["GTX Basic", "GTXPro", "gtx pro", "Unknown", "", "=x"]),
    "account": st.sampled_from(["Acme", "", "Ghost"]),
    "deal_stage": st.sampled_from(["Prospecting", "Engaging", "Won", "Lost", "won", "", "?"]),
    "engage_date": None, "close_date": None, "close_value": AMOUNTS,
}
MAVEN_LOOKUPS = {
    "products.csv": "product,series,sales_price\nGTX Basic,GTX,550\nGTX Pro,GTX,4821\n",
    "sales_teams.csv": "sales_agent,manager,regional_office\nAnn,Mia,East\nBob,Mia,East\n",
    "accounts.csv": "account,sector\nAcme,retail\n",
}


@SETTINGS
@given(export=csv_export(MAVEN, {"engage_date", "close_date"}))
def test_maven_style_exports_never_crash(export):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "maven"
        folder.mkdir()
        (folder / "sales_pipeline.csv").write_bytes(export.data)
        for name, text in MAVEN_LOOKUPS.items():
            (folder / name).write_text(text, encoding="utf-8")
        check_import("maven", folder, export, Path(tmp))


MAPPED = {
    "Ref": IDS, "Opened": None, "Phase": st.sampled_from(["Lead", "Demo", "Won", "Lost", ""]),
    "Closed": None, "Value": AMOUNTS, "Rep": TEXT, "Product": TEXT,
}
MAPPING_YAML = """
columns: {deal_id: Ref, created_at: Opened, stage: Phase, closed_at: Closed, amount: Value,
          owner: Rep}
extra_columns: {product: Product}
status_values: {won: [Won], lost: [Lost]}
stages: [Lead, Demo]
covariates: [product]
"""


@SETTINGS
@given(export=csv_export(MAPPED, {"Opened", "Closed"}))
def test_mapped_exports_never_crash(export):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "export.csv"
        src.write_bytes(export.data)
        mapping = Path(tmp) / "mapping.yaml"
        mapping.write_text(MAPPING_YAML, encoding="utf-8")
        check_import("mapping", src, export, Path(tmp), mapping=mapping)


@settings(max_examples=30, deadline=None, database=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "Opportunity.csv"
        src.write_bytes(b"Id,StageName,Amount,CloseDate,CreatedDate,Owner.Name\n" + data)
        check_import("salesforce", src, None, Path(tmp))


def test_fuzz_date_helper_is_sane():
    # the strategies above rely on these formats producing readable dates
    d = date(2024, 3, 15)
    assert (d - date(1899, 12, 30)).days == 45366
    assert (d + timedelta(days=0)).strftime("%d.%m.%Y") == "15.03.2024"
