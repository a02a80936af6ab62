"""``pipecast import``: vendor formats, the mapping format, every repair and rejection rule,
and the Maven CRM export accounted row by row."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from forecast.data.dataset import load_dataset
from forecast.data.importers import ImportOptions, import_export
from forecast.data.importers.dates import DateRule, decide_date_order, parse_date_text
from forecast.data.importers.numbers import decide_decimal, parse_amount
from forecast.data.importers.reading import read_csv_file, sniff_delimiter
from forecast.data.problems import DataValidationError, UsageError
from forecast.data.safe_output import escape_html, neutralise_formula, safe_csv_frame
from pipecast.commands import importing

FIXTURES = Path(__file__).parent / "fixtures" / "import"
MAVEN = Path(__file__).parents[1].parent / "shared" / "data" / "maven-crm"


def run_import(*argv: str | Path) -> int:
    """``pipecast import ARGV`` through the command's own parser."""
    parser = argparse.ArgumentParser()
    importing.configure(parser)
    return importing.run(parser.parse_args([str(a) for a in argv]))


def report_of(out: Path) -> dict:
    return json.loads((out / "import_report.json").read_text(encoding="utf-8"))


def assert_accounted(report: dict) -> None:
    assert report["loaded"] + report["repaired"] + report["rejected"] == report["input_rows"]
    assert len({r["row"] for r in report["rejections"]}) == report["rejected"]
    assert len({r["row"] for r in report["repairs"]}) == report["repaired"]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


SF_HEADER = "Id,Name,StageName,Amount,CloseDate,CreatedDate,Owner.Name,IsClosed,IsWon"


def sf_csv(tmp_path: Path, rows: list[str], header: str = SF_HEADER, name: str = "opp.csv",
           encoding: str = "utf-8", delimiter: str = ",") -> Path:
    text = "\n".join([header] + rows) + "\n"
    if delimiter != ",":
        text = text.replace(",", delimiter)
    return write(tmp_path / name, text, encoding)


# --------------------------------------------------------------------------- Maven


@pytest.mark.skipif(not MAVEN.is_dir(), reason=f"Maven CRM export not found at {MAVEN} "
                    "(the repository's sibling ../shared/data/maven-crm)")
def test_maven_export_accounts_for_all_8800_opportunities(tmp_path, capsys):
    out = tmp_path / "maven"
    assert run_import("maven", "--src", MAVEN, "--out", out) == 0
    assert "8800 input rows" in capsys.readouterr().out
    report = report_of(out)
    assert report["input_rows"] == 8800
    assert_accounted(report)
    assert (report["loaded"], report["repaired"], report["rejected"]) == (6900, 1900, 0)
    assert report["repairs_by_rule"] == {"product_name": 1480, "created_from_extract_date": 500}

    ds = load_dataset(out)
    d = ds.deals
    assert len(d) == 8800 and d["deal_id"].is_unique
    assert ds.stages == ("Prospecting", "Engaging")
    assert ds.config.covariates == ("product", "sector")
    assert d["status"].value_counts().to_dict() == {"won": 4238, "lost": 2473, "open": 2089}
    assert (d.loc[d["status"] != "open", "stage"] == "Engaging").all()
    assert "GTXPro" not in set(d["product"])
    assert (d["amount"] >= 0).all()
    lost = d[d["status"] == "lost"]
    assert (lost["amount"] == lost["list_price"].astype(float)).all()
    prospecting = d[d["stage"] == "Prospecting"]
    assert (prospecting["created_at"] == pd.Timestamp("2017-12-31")).all()
    assert set(d["team"]) == {"Dustin Brinkmann", "Melvin Marxen", "Cara Losch",
                              "Rocco Neubert", "Celia Rouche", "Summer Sewald"}
    assert len(ds.stage_history) == 8300

    from pipecast.commands import validate
    assert validate.run(argparse.Namespace(data=out)) == 0


def test_maven_rules_on_a_small_export(tmp_path):
    result = import_export("maven", FIXTURES / "maven_mini")
    r = result.report.to_dict()
    assert_accounted(r)
    assert r["input_rows"] == 9 and r["rejected"] == 1
    assert r["rejections"][0]["rule"] == "unknown_stage" and r["rejections"][0]["id"] == "BADSTAGE"
    assert r["repairs_by_rule"] == {"product_name": 2, "created_from_extract_date": 2,
                                    "no_list_price": 1}
    d = result.deals.set_index("deal_id")
    assert d.loc["Z063OYW0", "product"] == "GTX Pro"
    assert d.loc["EC4QE1BX", "amount"] == "55"  # lost: list price, not close_value 0
    assert d.loc["HAXMC4IX", "amount"] == "3393"  # open: list price
    assert d.loc["6CWZFOHJ", "created_at"] == "2017-11-02"  # the file's extract date
    assert d.loc["8E0VRCLW", "team"] == ""  # agent missing from sales_teams.csv
    assert any("sales agent not in sales_teams.csv" in n for n in r["notes"])
    out = tmp_path / "ds"
    assert run_import("maven", "--src", FIXTURES / "maven_mini", "--out", out) == 0
    assert load_dataset(out).deals.set_index("deal_id").loc["8E0VRCLW", "team"] == "(none)"


def fixture_with_row(tmp_path: Path, name: str, file: str, line: str) -> Path:
    """A copy of the export fixture ``name`` with ``line`` appended to its ``file``."""
    src = tmp_path / name
    src.mkdir()
    for f in (FIXTURES / name).iterdir():
        (src / f.name).write_bytes(f.read_bytes())
    with open(src / file, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    return src


def test_the_extract_date_is_never_after_the_data_end(tmp_path):
    src = fixture_with_row(tmp_path, "maven_mini", "sales_pipeline.csv",
                           "FUTURE01,Moses Frase,GTX Basic,Cancity,Won,2017-01-05,2099-03-01,100")
    result = import_export("maven", src, ImportOptions(data_end=pd.Timestamp("2017-12-31")))
    r = result.report.to_dict()
    assert_accounted(r)
    assert {x["id"]: x["rule"] for x in r["rejections"]}["FUTURE01"] == "after_data_end"
    # deals without an engage date get the latest date in the file that has happened
    assert result.deals.set_index("deal_id").loc["6CWZFOHJ", "created_at"] == "2017-11-02"


# --------------------------------------------------------------------------- Salesforce


def test_salesforce_opportunity_and_history(tmp_path):
    out = tmp_path / "sf"
    assert run_import("salesforce", "--src", FIXTURES / "salesforce", "--out", out) == 0
    r = report_of(out)
    assert_accounted(r)
    assert (r["loaded"], r["repaired"], r["rejected"]) == (11, 1, 0)
    assert r["repairs"][0]["id"] == "0065g00000Sf3AAAAZ"  # closed, no history
    assert r["repairs"][0]["rule"] == "closed_stage_assumed"
    assert r["stage_history"]["skipped_by_rule"]["unknown_deal"] == 1
    ds = load_dataset(out)
    d = ds.deals.set_index("deal_id")
    assert d.loc["0065g00000Sf1AAAAZ", "stage"] == "Negotiation/Review"  # from history
    assert d.loc["0065g00000Sf8AAAAZ", "stage"] == "Prospecting"
    assert d.loc["0065g00000Sf2AAAAZ", "status"] == "lost"
    assert pd.isna(d.loc["0065g00000Sf4AAAAZ", "closed_at"])
    assert d.loc["0065g00000Sf4AAAAZ", "expected_close_at"] == pd.Timestamp("2024-06-30")
    assert ds.stages[0] == "Prospecting" and ds.stages[-1] == "Negotiation/Review"
    assert ds.config.crm_probabilities["Negotiation/Review"] == pytest.approx(0.9)
    yaml_text = (out / "pipeline.yaml").read_text()
    assert "currency: USD" in yaml_text


def test_salesforce_file_with_explicit_history(tmp_path):
    src = FIXTURES / "salesforce" / "Opportunity.csv"
    hist = FIXTURES / "salesforce" / "OpportunityHistory.csv"
    result = import_export("salesforce", src, ImportOptions(history=hist))
    assert result.history is not None and len(result.history) == 23
    without = import_export("salesforce", src)
    assert without.history is None
    assert without.report.counts()["repaired"] == 6  # every closed deal's stage assumed


def test_salesforce_report_export_several_currencies(tmp_path):
    src = FIXTURES / "salesforce_report" / "opportunities.csv"
    with pytest.raises(DataValidationError) as err:
        import_export("salesforce", src)
    assert err.value.problems[0].rule == "several_currencies"
    assert "EUR" in str(err.value) and "GBP" in str(err.value) and "--currency" in str(err.value)

    out = tmp_path / "eur"
    assert run_import("salesforce", "--src", src, "--out", out, "--currency", "eur") == 0
    r = report_of(out)
    assert_accounted(r)
    assert (r["loaded"], r["repaired"], r["rejected"]) == (1, 5, 7)
    assert set(r["rejections_by_rule"]) == {"negative_amount", "closed_before_created",
                                            "other_currency", "duplicate_row", "bad_amount",
                                            "bad_date", "missing_currency"}
    decisions = {d["topic"]: d for d in r["decisions"]}
    assert decisions["date order (opportunities.csv)"]["choice"] == "dmy"
    assert decisions["decimal mark"]["choice"] == ","
    raw = (out / "deals.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in raw and "'@SUM" in raw
    assert "\n=" not in raw and ",=" not in raw
    ds = load_dataset(out)
    d = ds.deals.set_index("deal_id")
    assert d.loc["006A02", "amount"] == pytest.approx(12500.5)
    assert d.loc["006A03", "deal_name"].startswith("<script>")  # CSV is not HTML: kept
    assert d.loc["006A07", "owner"] == "(unassigned)"
    assert ds.stages == ("Discovery", "Demo", "Contracting")  # by CRM probability
    assert "currency: EUR" in (out / "pipeline.yaml").read_text()


def test_salesforce_stage_names_give_status_without_flags(tmp_path):
    src = sf_csv(tmp_path, [
        "1,A,Closed Won,100,2024-02-01,2024-01-01,Ann",
        "2,B,Closed Lost,100,2024-02-01,2024-01-01,Ann",
        "3,C,Prospecting,100,2024-03-01,2024-01-01,Bob",
    ], header="Id,Name,StageName,Amount,CloseDate,CreatedDate,Owner.Name")
    d = import_export("salesforce", src).deals.set_index("deal_id")
    assert list(d["status"]) == ["won", "lost", "open"]
    assert set(d["stage"]) == {"Prospecting"}


def test_missing_and_renamed_columns_are_named(tmp_path):
    src = sf_csv(tmp_path, ["1,A,Prospecting,100,2024-03-01,2024-01-01,Ann,false,false"],
                 header="Id,Name,Stage Nme,Amount,CloseDate,CreatedDate,Owner.Name,"
                 "IsClosed,IsWon")
    with pytest.raises(DataValidationError) as err:
        import_export("salesforce", src)
    message = str(err.value)
    assert "StageName" in message and "Stage Nme" in message and "--mapping" in message
    src = sf_csv(tmp_path, ["1,A,Prospecting,100"], header="Id,Name,StageName,Amount",
                 name="few.csv")
    with pytest.raises(DataValidationError) as err:
        import_export("salesforce", src)
    assert {p.column for p in err.value.problems} == {"close", "created"}


# --------------------------------------------------------------------------- HubSpot


def test_hubspot_deals_with_date_entered_columns(tmp_path):
    out = tmp_path / "hs"
    assert run_import("hubspot", "--src", FIXTURES / "hubspot", "--out", out) == 0
    r = report_of(out)
    assert_accounted(r)
    assert r["repairs_by_rule"] == {"close_date_from_stage_entry": 1, "closed_stage_assumed": 1}
    ds = load_dataset(out)
    assert ds.stages == ("Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
                         "Decision Maker Bought-In", "Contract Sent")
    d = ds.deals.set_index("deal_id")
    assert d.loc["15483920012", "stage"] == "Qualified To Buy"  # last open stage entered
    assert d.loc["15483920016", "closed_at"] == pd.Timestamp("2024-04-02")
    assert d.loc["15483920013", "status"] == "open"
    assert len(ds.stage_history) == 29


def test_hubspot_internal_ids_and_pipelines(tmp_path):
    header = "Deal ID,Deal Name,Deal Stage,Amount,Create Date,Close Date,Deal owner,Pipeline"
    rows = [
        "1,A,closedwon,100,2024-01-01,2024-02-01,Ann,default",
        "2,B,closedlost,100,2024-01-01,2024-02-01,Ann,default",
        "3,C,appointmentscheduled,100,2024-01-01,2024-03-01,Bob,default",
        "4,D,contractsent,100,2024-01-05,2024-03-01,Bob,default",
        "5,E,renewal-open,100,2024-01-05,2024-03-01,Bob,Renewals",
    ]
    src = write(tmp_path / "deals.csv", "\n".join([header] + rows))
    with pytest.raises(DataValidationError) as err:
        import_export("hubspot", src)
    assert err.value.problems[0].rule == "several_pipelines"
    result = import_export("hubspot", src, ImportOptions(pipeline="default"))
    r = result.report.to_dict()
    assert r["rejections_by_rule"] == {"other_pipeline": 1}
    assert list(result.deals["status"]) == ["won", "lost", "open", "open"]
    assert result.pipeline["stages"] == ["appointmentscheduled", "contractsent"]


# --------------------------------------------------------------------------- mapping


def test_mapping_file_import(tmp_path):
    out = tmp_path / "mapped"
    src, mapping = FIXTURES / "mapping" / "export.csv", FIXTURES / "mapping" / "mapping.yaml"
    assert run_import("--mapping", mapping, "--src", src, "--out", out) == 0
    r = report_of(out)
    assert_accounted(r)
    assert r["repairs_by_rule"] == {"missing_amount": 1}
    ds = load_dataset(out)
    assert ds.stages == ("Lead", "Demo", "Proposal", "Negotiation")
    assert ds.config.covariates == ("product",)
    d = ds.deals.set_index("deal_id")
    assert d.loc["P-1001", "created_at"] == pd.Timestamp("2024-01-15")  # date_format: dmy
    assert d.loc["P-1001", "amount"] == 12500
    assert d.loc["P-1002", "stage"] == "Demo"
    assert len(ds.stage_history) == 7


@pytest.mark.parametrize("text, words", [
    ("columns: [a, b", "not valid YAML"),
    ("- just\n- a list\n", "YAML mapping"),
    ("columns: {deal_id: Id}\ncolour: red\n", "unknown keys"),
    ("columns: {deal_id: Id, created_at: C}\n", "must map"),
    ("columns: {deal_id: Id, created_at: C, stage: S, closed_at: X, amount: A, owner: O}\n"
     "date_format: someday\n", "date_format"),
])
def test_mapping_file_errors(tmp_path, text, words):
    mapping = write(tmp_path / "m.yaml", text)
    src = write(tmp_path / "x.csv", "Id,C,S,X,A,O\n1,2024-01-01,a,,1,o\n")
    with pytest.raises(DataValidationError) as err:
        import_export("mapping", src, mapping=mapping)
    assert words in str(err.value)


def test_mapping_names_a_column_the_file_lacks(tmp_path):
    mapping = write(tmp_path / "m.yaml", "columns: {deal_id: Id, created_at: Created, "
                    "stage: S, closed_at: X, amount: A, owner: O}\n")
    src = write(tmp_path / "x.csv", "Id,C,S,X,A,O\n1,2024-01-01,a,,1,o\n")
    with pytest.raises(DataValidationError) as err:
        import_export("mapping", src, mapping=mapping)
    assert "'Created'" in str(err.value) and err.value.problems[0].column == "created_at"


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("content", [b"", b"   \n\n", "\ufeff".encode()])
def test_empty_files_are_clear_errors(tmp_path, content):
    src = tmp_path / "opp.csv"
    src.write_bytes(content)
    with pytest.raises(DataValidationError) as err:
        import_export("salesforce", src)
    assert err.value.problems[0].rule == "empty_file"


def test_header_only_file(tmp_path):
    src = sf_csv(tmp_path, [])
    with pytest.raises(DataValidationError) as err:
        import_export("salesforce", src)
    assert err.value.problems[0].rule == "no_rows"


def test_workbook_and_binary_files_are_refused(tmp_path):
    src = tmp_path / "opp.csv"
    src.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with pytest.raises(DataValidationError, match="Excel workbook"):
        import_export("salesforce", src)
    src.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(DataValidationError, match="binary"):
        import_export("salesforce", src)


ROWS = ["1,Acme Café,Prospecting,100,2024-03-01,2024-01-01,Zoë,false,false",
        "2,Globex,Closed Won,250,2024-02-01,2024-01-02,Zoë,true,true"]


@pytest.mark.parametrize("encoding, delimiter, bom", [
    ("utf-8", ",", False), ("utf-8", ";", True), ("utf-16", "\t", False),
    ("cp1252", ";", False), ("utf-8", "|", True),
])
def test_encodings_bom_and_delimiters_read_the_same(tmp_path, encoding, delimiter, bom):
    text = "\n".join([SF_HEADER] + ROWS).replace(",", delimiter)
    src = tmp_path / "opp.csv"
    src.write_bytes(("\ufeff" if bom else "").encode(encoding) + text.encode(encoding))
    result = import_export("salesforce", src)
    assert list(result.deals["deal_name"]) == ["Acme Café", "Globex"]
    assert list(result.deals["owner"]) == ["Zoë", "Zoë"]
    assert result.report.files["opp.csv"]["delimiter"] == delimiter


def test_excel_sep_line_and_line_numbers(tmp_path):
    src = write(tmp_path / "opp.csv", "sep=;\n" + "\n".join([SF_HEADER] + ROWS + [
        "3,Bad,Prospecting,-1,2024-03-01,2024-01-01,Ann,false,false"]).replace(",", ";"))
    table = read_csv_file(src)
    assert table.delimiter == ";" and list(table.lines) == [3, 4, 5]
    r = import_export("salesforce", src).report.to_dict()
    assert r["rejections"][0]["row"] == 5 and r["rejections"][0]["rule"] == "negative_amount"


def test_shifted_rows_and_duplicates(tmp_path):
    src = sf_csv(tmp_path, [
        "1,A,Prospecting,100,2024-03-01,2024-01-01,Ann,false,false",
        "1,A,Prospecting,100,2024-03-01,2024-01-01,Ann,false,false",
        "2,B,Prospecting,100,2024-03-01,2024-01-01,Ann,false,false",
        "2,B,Prospecting,999,2024-03-01,2024-01-01,Ann,false,false",
        "3,Acme, Inc,Prospecting,100,2024-03-01,2024-01-01,Ann,false,false",
        ",No id,Prospecting,100,2024-03-01,2024-01-01,Ann,false,false",
    ])
    r = import_export("salesforce", src, ImportOptions(stages=("Prospecting",))).report
    by_line = {n.row: n.rule for _, n in r.rejections}
    assert by_line == {3: "duplicate_row", 4: "duplicate_id", 5: "duplicate_id",
                       6: "extra_fields", 7: "missing_id"}
    assert r.counts() == {"loaded": 1, "repaired": 0, "rejected": 5}


def test_row_rules_amounts_dates_owner(tmp_path):
    src = sf_csv(tmp_path, [
        "1,ok,Prospecting,\"$1,200.50\",2024-03-01,2024-01-01,Ann,false,false",
        "2,neg,Prospecting,-5,2024-03-01,2024-01-01,Ann,false,false",
        "3,text,Prospecting,lots,2024-03-01,2024-01-01,Ann,false,false",
        "4,empty amount,Prospecting,,2024-03-01,2024-01-01,Ann,false,false",
        "5,closed early,Closed Won,10,2023-12-01,2024-01-01,Ann,true,true",
        "6,no close,Closed Won,10,,2024-01-01,Ann,true,true",
        "7,no created,Prospecting,10,2024-03-01,,Ann,false,false",
        "8,bad flag,Prospecting,10,2024-03-01,2024-01-01,Ann,maybe,false",
        "9,no owner,Prospecting,10,2024-03-01,2024-01-01,,false,false",
        "10,bad expected,Prospecting,10,someday,2024-01-01,Ann,false,false",
        "11,1899,Prospecting,10,2024-03-01,1899-01-01,Ann,false,false",
    ])
    r = import_export("salesforce", src).report
    rejected = {n.id: n.rule for _, n in r.rejections}
    assert rejected == {"2": "negative_amount", "3": "bad_amount", "5": "closed_before_created",
                        "6": "missing_close_date", "7": "missing_created", "8": "bad_flag",
                        "11": "bad_date"}
    repaired = {n.id: n.rule for n in r.kept_repairs()}
    assert repaired == {"4": "missing_amount", "9": "missing_owner", "10": "bad_expected_close"}


def test_dates_after_the_data_end_are_rejected_not_imported(tmp_path):
    src = sf_csv(tmp_path, [
        "1,open,Prospecting,10,2030-03-01,2024-01-01,Ann,false,false",  # expected: fine
        "2,future created,Prospecting,10,2024-03-01,2099-01-01,Ann,false,false",
        "3,future win,Closed Won,10,2099-03-01,2024-01-01,Ann,true,true",
        "4,won,Closed Won,10,2024-03-01,2024-01-01,Ann,true,true",
    ])
    options = ImportOptions(data_end=pd.Timestamp("2024-06-30"))
    r = import_export("salesforce", src, options).report
    rejected = {n.id: (n.rule, n.column, n.row) for _, n in r.rejections}
    assert rejected == {"2": ("after_data_end", "created_at", 3),
                        "3": ("after_data_end", "closed_at", 4)}
    assert "2099-03-01, after the data's end 2024-06-30" in \
        {n.id: n.reason for _, n in r.rejections}["3"]
    # the CLI's clock is --data-end (default today); the rows are accounted for
    out = tmp_path / "out"
    assert run_import("salesforce", "--src", src, "--out", out,
                      "--data-end", "2024-06-30") == 0
    report = report_of(out)
    assert_accounted(report)
    assert report["rejections_by_rule"] == {"after_data_end": 2}
    assert load_dataset(out, data_end="2024-06-30").deals["deal_id"].tolist() == ["1", "4"]


def test_a_stage_entry_after_the_data_end_is_skipped_and_named(tmp_path):
    src = fixture_with_row(tmp_path, "salesforce", "OpportunityHistory.csv",
                           "0085g00000H99AAA,0065g00000Sf4AAAAZ,Proposal/Price Quote,"
                           "2099-01-05T10:00:00.000Z,31000,2024-06-30,75,23250,BestCase")
    result = import_export("salesforce", src,
                           ImportOptions(data_end=pd.Timestamp("2024-12-31")))
    history = result.report.to_dict()["stage_history"]
    skipped = [p for p in history["problems"] if p["id"] == "0065g00000Sf4AAAAZ"]
    assert [(p["rule"], "after the data's end 2024-12-31" in p["reason"]) for p in skipped] \
        == [("bad_date", True)]
    assert result.deals.set_index("deal_id").loc["0065g00000Sf4AAAAZ", "status"] == "open"


def test_excel_style_dates(tmp_path):
    src = sf_csv(tmp_path, [
        "1,serial,Prospecting,1,45366,45292,Ann,false,false",
        "2,us,Prospecting,1,03/15/2024,01/02/2024,Ann,false,false",
        "3,named,Prospecting,1,15 Mar 2024,\"Jan 2, 2024\",Ann,false,false",
        "4,short,Prospecting,1,3/15/24,1/2/24,Ann,false,false",
    ])
    result = import_export("salesforce", src)
    d = result.deals.set_index("deal_id")
    assert d.loc["1", "expected_close_at"] == "2024-03-15"
    assert d.loc["1", "created_at"] == "2024-01-01"
    assert set(d["created_at"]) == {"2024-01-01", "2024-01-02"}
    decision = {x.topic: x for x in result.report.decisions}["date order (opp.csv)"]
    assert decision.choice == "mdy" and "03/15/2024" in decision.reason


def test_ambiguous_and_mixed_date_orders(tmp_path):
    rows = ["1,a,Prospecting,1,03/04/2024,02/01/2024,Ann,false,false"]
    src = sf_csv(tmp_path, rows)
    d = import_export("salesforce", src).deals
    assert d["created_at"].iat[0] == "2024-02-01"  # ambiguous slashes: month first, reported
    d = import_export("salesforce", src, ImportOptions(date_order="dmy")).deals
    assert d["created_at"].iat[0] == "2024-01-02"
    dotted = sf_csv(tmp_path, ["1,a,Prospecting,1,03.04.2024,02.01.2024,Ann,false,false"],
                    name="dots.csv")
    assert import_export("salesforce", dotted).deals["created_at"].iat[0] == "2024-01-02"
    mixed = sf_csv(tmp_path, rows + ["2,b,Prospecting,1,15/04/2024,04/20/2024,Ann,false,false"],
                   name="mixed.csv")
    with pytest.raises(DataValidationError) as err:
        import_export("salesforce", mixed)
    assert err.value.problems[0].rule == "mixed_date_order"
    assert "--date-order" in str(err.value)


def test_stage_order_unknown_is_a_clear_error(tmp_path):
    src = sf_csv(tmp_path, ["1,a,Zeta,1,2024-03-01,2024-01-01,Ann,false,false",
                            "2,b,Alpha,1,2024-03-01,2024-01-01,Ann,false,false"])
    with pytest.raises(DataValidationError, match="--stages"):
        import_export("salesforce", src)
    result = import_export("salesforce", src, ImportOptions(stages=("Zeta", "Alpha")))
    assert result.pipeline["stages"] == ["Zeta", "Alpha"]


# --------------------------------------------------------------------------- command


def test_out_directory_rules(tmp_path, capsys):
    src = FIXTURES / "salesforce"
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        run_import("salesforce", "--src", src, "--out", out)
    with pytest.raises(UsageError, match="does not write"):
        run_import("salesforce", "--src", src, "--out", out, "--force")
    assert (out / "notes.txt").read_text() == "mine"
    out2 = tmp_path / "out2"
    assert run_import("salesforce", "--src", src, "--out", out2) == 0
    with pytest.raises(UsageError, match="--force"):
        run_import("hubspot", "--src", FIXTURES / "hubspot", "--out", out2)
    assert run_import("hubspot", "--src", FIXTURES / "hubspot", "--out", out2, "--force") == 0
    assert report_of(out2)["format"] == "hubspot"
    assert not list(tmp_path.glob(".out2*"))  # no temporary folders left behind
    with pytest.raises(UsageError, match="holds the export"):
        run_import("maven", "--src", FIXTURES / "maven_mini", "--out", FIXTURES, "--force")


@pytest.mark.parametrize("argv, words", [
    (["--src", "x", "--out", "y"], "format"),
    (["mapping", "--src", "x", "--out", "y"], "--mapping FILE"),
    (["hubspot", "--mapping", "m.yaml", "--src", "x", "--out", "y"], "--mapping is for"),
    (["hubspot", "--history", "h.csv", "--src", "x", "--out", "y"], "--history"),
    (["salesforce", "--src", "nowhere.csv", "--out", "y"], "does not exist"),
])
def test_usage_errors(tmp_path, argv, words):
    with pytest.raises(UsageError, match=words):
        run_import(*argv)


def test_failed_import_writes_nothing(tmp_path):
    src = sf_csv(tmp_path, ["1,a,Prospecting,-1,2024-03-01,2024-01-01,Ann,false,false"])
    out = tmp_path / "out"
    with pytest.raises(DataValidationError, match="negative"):
        run_import("salesforce", "--src", src, "--out", out)
    assert not out.exists()


# --------------------------------------------------------------------------- helpers


def test_neutralise_formula_and_safe_frames():
    for text in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=x", "\r=x"):
        assert neutralise_formula(text) == "'" + text
    for value in ("plain", "'=quoted", "-5", "+3.5", "1e5", "", 7, None):
        assert neutralise_formula(value) == value
    frame = pd.DataFrame({"name": ["=evil", "ok"], "n": [-1, 2]})
    safe = safe_csv_frame(frame)
    assert list(safe["name"]) == ["'=evil", "ok"] and list(safe["n"]) == [-1, 2]
    assert list(frame["name"]) == ["=evil", "ok"]  # the caller's frame is untouched
    assert escape_html('<a href="x">A & B</a>') == "&lt;a href=&quot;x&quot;&gt;A &amp; B&lt;/a&gt;"
    assert escape_html(None) == ""


def test_date_and_number_parsers():
    rule = DateRule(order="dmy")
    assert str(parse_date_text("15.03.2024", rule)[0]) == "2024-03-15"
    assert str(parse_date_text("2024-03-15T23:59:59Z", rule)[0]) == "2024-03-15"
    assert str(parse_date_text("1710460800000", rule)[0]) == "2024-03-15"
    assert parse_date_text("31.02.2024", rule)[0] is None
    assert parse_date_text("1066-10-14", rule)[1].startswith("year 1066")
    rule, why = decide_date_order([pd.Series(["01/02/2024", "25/12/2024"])], "f.csv")
    assert rule.order == "dmy" and "25/12/2024" in why
    assert parse_amount("1.234,50 €", ",") == (1234.5, "")
    assert parse_amount("USD 1,234.50") == (1234.5, "")
    assert parse_amount("(100)")[0] == -100
    assert parse_amount("1.2E+05") == (120000.0, "")
    assert decide_decimal(pd.Series(["12,50", "1.000,00"]))[0] == ","
    assert decide_decimal(pd.Series(["1,234", "99"]))[0] == "."
    assert sniff_delimiter('a;b;c\n"x;y";2;3\n') == ";"
