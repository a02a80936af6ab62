"""Property-based tests: hostile and broken exports never crash ``pipecast import``.

Hypothesis writes export files the way CRMs and spreadsheets do and the way they go wrong.
Three examples in four are *messy but valid* exports, as a real CRM writes them: shuffled
columns and header spellings the importers accept, any of four encodings (with or without
BOM) and four delimiters, one date style per file (ISO, US, European, month names, Excel
serials), one number style per file (plain, ``$1,200.50``, ``1.200,50 €``), names holding
HTML, formulas, delimiters, quotes and line breaks, and a few broken rows among valid ones.
The fourth is hostile throughout: dropped and misspelt columns, mixed currencies and
pipelines, bad dates and amounts in any row, duplicate and empty ids.

The contract is checked on every example: the import either accounts for every input row
(loaded + repaired + rejected = rows written) and writes a dataset that loads with them, or
stops with a :class:`DataValidationError` whose problems each name the file and the rule
(the CLI turns it into exit 2), or a :class:`UsageError` saying what to pass.

Share of examples reaching the row-accounting asserts (``pytest -s tests/test_import_fuzz.py``
prints it; 50 examples each). The examples are derandomized, as Hypothesis does on CI
anyway, so every run draws the same ones: Salesforce 43, HubSpot 43, Maven 45, mapping 49
of 50. With random seeds (``--hypothesis-seed`` 1, 4, 9, 12, 17, derandomize off) the
lowest seen was 30 of 50. The messy-but-valid mode is the one Hypothesis shrinks towards
(it favours small integers: with the hostile mode at 0 a derandomized run drew it in over
half the examples, 22 of 50 reached the accounting on Salesforce, and CI failed).
Each test asserts its share is at least :data:`MIN_ACCOUNTED_SHARE`.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections import Counter
from collections.abc import Callable
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

SETTINGS = settings(max_examples=50, deadline=None, database=None, derandomize=True,
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


#: Date styles read without a hint (``auto``); the others get ``--date-order`` when valid.
UNAMBIGUOUS = {"%Y-%m-%d", "%Y-%m-%dT%H:%M:%S.000Z", "%b %d, %Y", "%d-%b-%Y", "serial",
               "%d.%m.%Y", "%m/%d/%Y", "%m/%d/%y"}
#: A valid export must reach the row-accounting asserts at least this often (measured
#: shares are well above: see the module docstring).
MIN_ACCOUNTED_SHARE = 0.5


@dataclass(frozen=True)
class FileStyle:
    """How one messy-but-valid export writes its values (one style per file, as CRMs do)."""

    date_style: str
    number_style: str
    flags: tuple[str, str]
    id_prefix: str
    fixed: dict

    def date(self, d: date) -> str:
        if self.date_style == "serial":
            return str((d - date(1899, 12, 30)).days)
        return d.strftime(self.date_style)

    def amount(self, x: float) -> str:
        if self.number_style == "plain":
            return f"{x:.2f}"
        if self.number_style == "int":
            return str(round(x))
        if self.number_style == "us":
            return f"${x:,.2f}"
        return f"{x:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") + " €"


#: A valid row: ``(draw, style, row number) → header → cell``.
RowMaker = Callable[[Callable, FileStyle, int], dict[str, str]]


@dataclass(frozen=True)
class Valid:
    """What a messy-but-valid export of one format holds."""

    row: RowMaker
    fixed: dict[str, st.SearchStrategy]
    #: Columns a broken row leaves alone (a second currency, pipeline or an unknown stage
    #: stops a whole import by design: the hostile examples cover that).
    steady: frozenset[str] = frozenset()


def _hostile_rows(draw, columns: dict, date_columns: set[str]) -> tuple[list[str], list[list]]:
    """Headers and rows hostile throughout (dropped and misspelt columns, any bad value)."""
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
    rows = [[draw(dates(style)) if h in date_columns else draw(columns[h]) for h in kept]
            for _ in range(n)]
    if rows and draw(st.booleans()):
        rows.append(list(rows[0]))  # an exact duplicate
    return [renames.get(h, h) for h in kept], rows


def _valid_rows(draw, columns: dict, valid: Valid) -> tuple[list[str], list[list], FileStyle,
                                                           str]:
    """Headers and rows of a messy-but-valid export; a few rows carry one bad value."""
    date_style = draw(st.sampled_from(DATE_STYLES))
    order = "auto" if date_style in UNAMBIGUOUS and draw(st.booleans()) else (
        "dmy" if date_style.startswith("%d") else "mdy")
    style = FileStyle(
        date_style=date_style,
        number_style=draw(st.sampled_from(["plain", "int", "us", "eu"])),
        flags=draw(st.sampled_from([("true", "false"), ("TRUE", "FALSE"), ("1", "0")])),
        id_prefix=draw(st.sampled_from(["006Dn0000", "", "D-", "deal ", "=x"])),
        fixed={k: draw(v) for k, v in valid.fixed.items()})
    headers = list(columns)
    if draw(st.booleans()):
        headers = draw(st.permutations(headers))
    spelt = {h: draw(st.sampled_from([h.upper(), h.replace(" ", "_"), f" {h} ", h.lower()]))
             for h in headers if draw(st.integers(0, 5)) == 0}
    rows = []
    for i in range(draw(st.integers(1, 14))):
        cells = valid.row(draw, style, i)
        if draw(st.integers(0, 9)) == 0:  # a broken row among valid ones
            h = draw(st.sampled_from([h for h in headers
                                      if columns[h] is not None and h not in valid.steady]))
            cells[h] = draw(columns[h])
        rows.append([cells[h] for h in headers])
    if draw(st.integers(0, 5)) == 0:
        rows.append(list(rows[0]))  # an exact duplicate
    return [spelt.get(h, h) for h in headers], rows, style, order


@st.composite
def csv_export(draw, columns: dict[str, object], date_columns: set[str],
               valid: Valid | None = None) -> Export:
    """A CSV with ``columns`` (header → hostile value strategy): messy but valid three
    times in four when ``valid`` says how, else hostile in layout and content."""
    options = ImportOptions(currency=draw(st.sampled_from([None, None, "USD"])),
                            date_order=draw(st.sampled_from(["auto", "auto", "dmy", "mdy"])),
                            pipeline=draw(st.sampled_from([None, "Sales Pipeline"])))
    if valid is not None and draw(st.integers(0, 3)) < 3:
        header, rows, style, order = _valid_rows(draw, columns, valid)
        options = ImportOptions(currency=style.fixed.get("currency"), date_order=order,
                                pipeline=style.fixed.get("pipeline"))
    else:
        header, rows = _hostile_rows(draw, columns, date_columns)
    data = encode([header] + rows,
                  draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])),
                  draw(st.sampled_from([",", ";", "\t", "|"])),
                  draw(st.sampled_from(["\n", "\r\n"])))
    counted = sum(any(c.strip() for c in r) for r in rows)
    return Export(data=data, rows=counted, options=options)


def _dates_in_order(draw, n: int) -> list[date]:
    """``n`` dates, each on or after the one before (created, entered…, closed)."""
    d = draw(st.dates(min_value=date(2018, 1, 1), max_value=date(2025, 6, 30)))
    out = []
    for _ in range(n):
        d = d + timedelta(days=draw(st.integers(0, 90)))
        out.append(d)
    return out


OWNERS = st.one_of(st.sampled_from(["Ann Lee", "Bob O'Neil", "  Zoë Çelik ", "李雷", "A, B",
                                    'say "hi"', "<b>Eve</b>", "=Mallory"]), TEXT)
AMOUNT_VALUES = st.floats(0, 2e6, allow_nan=False).map(lambda x: round(x, 2))


def check_import(fmt: str, src: Path, export: Export | None, folder: Path,
                 mapping: Path | None = None, outcomes: Counter | None = None) -> None:
    """The property: a clear error naming the problem, or every row accounted for and a
    dataset that loads. ``outcomes`` counts which of the two each example reached."""
    options = export.options if export else ImportOptions()
    if fmt not in ("hubspot", "mapping"):
        options = ImportOptions(currency=options.currency, date_order=options.date_order)
    try:
        result = import_export(fmt, src, options, mapping=mapping)
    except DataValidationError as exc:
        assert exc.problems, "a DataValidationError must list its problems"
        for p in exc.problems:
            assert p.file and p.rule and p.message, p
        assert str(exc.problems[0]) in str(exc)
        if outcomes is not None:
            outcomes["error"] += 1
        return
    except UsageError as exc:
        assert str(exc).strip()
        if outcomes is not None:
            outcomes["error"] += 1
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
    if outcomes is not None:
        outcomes["accounted"] += 1


def assert_share(name: str, outcomes: Counter) -> None:
    """Most examples must reach the row-accounting asserts (printed with ``-s``)."""
    total = sum(outcomes.values())
    share = outcomes["accounted"] / total
    print(f"{name}: {outcomes['accounted']} of {total} examples reached the row accounting "
          f"({share:.0%})")
    assert share >= MIN_ACCOUNTED_SHARE, (name, dict(outcomes))


SALESFORCE = {
    "Id": IDS, "Name": TEXT,
    "StageName": st.sampled_from(["Prospecting", "Qualification", "Needs Analysis",
                                  "Closed Won", "Closed Lost", "", "Weird", "=stage"]),
    "Amount": AMOUNTS, "CloseDate": None, "CreatedDate": None, "Owner.Name": TEXT,
    "IsClosed": FLAGS, "IsWon": FLAGS, "Probability": st.sampled_from(["10", "50", "", "x"]),
    "CurrencyIsoCode": st.sampled_from(["USD"] * 8 + ["EUR", ""]),
}


SF_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
             "Closed Won", "Closed Lost")


def salesforce_row(draw, style: FileStyle, i: int) -> dict[str, str]:
    stage = draw(st.sampled_from(SF_STAGES))
    created, close = _dates_in_order(draw, 2)
    yes, no = style.flags
    return {"Id": f"{style.id_prefix}{i}", "Name": draw(TEXT), "StageName": stage,
            "Amount": style.amount(draw(AMOUNT_VALUES)), "CloseDate": style.date(close),
            "CreatedDate": style.date(created), "Owner.Name": draw(OWNERS),
            "IsClosed": yes if stage.startswith("Closed") else no,
            "IsWon": yes if stage == "Closed Won" else no,
            "Probability": draw(st.sampled_from(["10", "50", "90", "", "20%"])),
            "CurrencyIsoCode": style.fixed["currency_code"]}


SF_VALID = Valid(salesforce_row, {"currency_code": st.sampled_from(["USD", "EUR"])},
                 frozenset({"CurrencyIsoCode"}))
SF_DATES = {"CloseDate", "CreatedDate"}


def test_salesforce_exports_keep_the_contract():
    outcomes: Counter = Counter()

    @SETTINGS
    @given(export=csv_export(SALESFORCE, SF_DATES, SF_VALID))
    def run(export):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "Opportunity.csv"
            src.write_bytes(export.data)
            check_import("salesforce", src, export, Path(tmp), outcomes=outcomes)

    run()
    assert_share("salesforce", outcomes)


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


HS_ENTERED = ('Date entered "Appointment Scheduled (Sales Pipeline)"',
              'Date entered "Contract Sent (Sales Pipeline)"',
              'Date entered "Closed Won (Sales Pipeline)"')
HS_STAGES = ("Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
             "Decision Maker Bought-In", "Contract Sent", "Closed Won", "Closed Lost")


def hubspot_row(draw, style: FileStyle, i: int) -> dict[str, str]:
    stage = draw(st.sampled_from(HS_STAGES))
    created, scheduled, sent, won, close = _dates_in_order(draw, 5)
    rank = HS_STAGES.index(stage)
    pipeline = "Sales Pipeline" if style.fixed["pipeline"] is None else draw(
        st.sampled_from(["Sales Pipeline", "Sales Pipeline", "Renewals"]))
    return {"Record ID": f"{style.id_prefix}{i}", "Deal Name": draw(TEXT), "Deal Stage": stage,
            "Amount": style.amount(draw(AMOUNT_VALUES)), "Create Date": style.date(created),
            "Close Date": style.date(close), "Deal owner": draw(OWNERS), "Pipeline": pipeline,
            HS_ENTERED[0]: style.date(scheduled),
            HS_ENTERED[1]: style.date(sent) if 4 <= rank <= 5 else "",
            HS_ENTERED[2]: style.date(won) if stage == "Closed Won" else ""}


HS_VALID = Valid(hubspot_row, {"pipeline": st.sampled_from([None, "Sales Pipeline"])},
                 frozenset({"Pipeline", "Deal Stage"}))


def test_hubspot_exports_keep_the_contract():
    outcomes: Counter = Counter()

    @SETTINGS
    @given(export=csv_export(HUBSPOT, {"Create Date", "Close Date", *HS_ENTERED}, HS_VALID))
    def run(export):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "deals.csv"
            src.write_bytes(export.data)
            check_import("hubspot", src, export, Path(tmp), outcomes=outcomes)

    run()
    assert_share("hubspot", outcomes)


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


def maven_row(draw, style: FileStyle, i: int) -> dict[str, str]:
    stage = draw(st.sampled_from(["Prospecting", "Engaging", "Won", "Lost"]))
    engage, close = _dates_in_order(draw, 2)
    closed = stage in ("Won", "Lost")
    value = 0.0 if stage == "Lost" else draw(AMOUNT_VALUES)
    return {"opportunity_id": f"{style.id_prefix}{i}",
            "sales_agent": draw(st.sampled_from(["Ann", "Bob"])),
            "product": draw(st.sampled_from(["GTX Basic", "GTX Pro"])),
            "account": draw(st.sampled_from(["Acme", ""])), "deal_stage": stage,
            "engage_date": "" if stage == "Prospecting" else style.date(engage),
            "close_date": style.date(close) if closed else "",
            "close_value": style.amount(value) if closed else ""}


MAVEN_VALID = Valid(maven_row, {})


def test_maven_style_exports_keep_the_contract():
    outcomes: Counter = Counter()

    @SETTINGS
    @given(export=csv_export(MAVEN, {"engage_date", "close_date"}, MAVEN_VALID))
    def run(export):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "maven"
            folder.mkdir()
            (folder / "sales_pipeline.csv").write_bytes(export.data)
            for name, text in MAVEN_LOOKUPS.items():
                (folder / name).write_text(text, encoding="utf-8")
            check_import("maven", folder, export, Path(tmp), outcomes=outcomes)

    run()
    assert_share("maven", outcomes)


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


def mapped_row(draw, style: FileStyle, i: int) -> dict[str, str]:
    phase = draw(st.sampled_from(["Lead", "Demo", "Won", "Lost"]))
    opened, closed = _dates_in_order(draw, 2)
    return {"Ref": f"{style.id_prefix}{i}", "Opened": style.date(opened), "Phase": phase,
            "Closed": style.date(closed) if phase in ("Won", "Lost") else "",
            "Value": style.amount(draw(AMOUNT_VALUES)), "Rep": draw(OWNERS),
            "Product": draw(TEXT)}


MAPPED_VALID = Valid(mapped_row, {}, frozenset({"Phase"}))


def test_mapped_exports_keep_the_contract():
    outcomes: Counter = Counter()

    @SETTINGS
    @given(export=csv_export(MAPPED, {"Opened", "Closed"}, MAPPED_VALID))
    def run(export):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "export.csv"
            src.write_bytes(export.data)
            mapping = Path(tmp) / "mapping.yaml"
            mapping.write_text(MAPPING_YAML, encoding="utf-8")
            check_import("mapping", src, export, Path(tmp), mapping=mapping,
                         outcomes=outcomes)

    run()
    assert_share("mapping", outcomes)


@settings(max_examples=30, deadline=None, database=None, derandomize=True)
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
