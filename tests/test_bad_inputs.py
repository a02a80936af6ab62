"""Bad input files × every command that loads data: exit 2 naming the problem, nothing written.

Each bad input of issue 17 (a misread number, a bad date, a date in the future, an empty
or unreadable file, a malformed CSV row, a badly typed ``pipeline.yaml``) is run through
``validate``, ``forecast``, ``report``, ``scenarios``, ``recommend``, ``score`` and
``backtest``. Every one must stop while loading (before any model is fitted, so this file
stays fast) with exit code 2, a message naming the file and, where there is one, the line
and the rule, no traceback, and no output folder. Inputs that are readable but unusual
(Windows-1252, ``;`` with a byte-order mark, a declared decimal comma) must load, with the
way they were read reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import DEALS_CSV, HISTORY_CSV, QUOTAS_CSV, write_dataset

from forecast.data.dataset import load_dataset
from forecast.data.problems import DataValidationError
from pipecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "data" / "scenarios" / "example.yaml"
HEADER, *ROWS = DEALS_CSV.strip().splitlines()


def deals(*replace: tuple[int, str]) -> str:
    """``DEALS_CSV`` with data row ``i`` (0-based; file line ``i + 2``) replaced."""
    rows = list(ROWS)
    for i, text in replace:
        rows[i] = text
    return "\n".join([HEADER, *rows]) + "\n"


@dataclass(frozen=True)
class Bad:
    """A bad dataset: how to write it, and what the error must name."""

    write: Callable[[Path], None]
    file: str
    rule: str
    line: int | None = None


def _files(**kw) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        write_dataset(root, **kw)
    return write


def _then(first: Callable[[Path], None], then: Callable[[Path], None]):
    def write(root: Path) -> None:
        first(root)
        then(root)
    return write


def _replace_deals(action: Callable[[Path], None]) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        write_dataset(root)
        (root / "deals.csv").unlink()
        action(root)
    return write


BAD: dict[str, Bad] = {
    "amount_1.234,56": Bad(_files(deals=deals((0, 'D1,2024-01-05,proposal,won,2024-03-01,'
                                                  '"1.234,56",ann,smb,east'))),
                           "deals.csv", "number", 2),
    "amount_12,5": Bad(_files(deals=deals((2, 'D3,2024-02-01,proposal,open,,"12,5",bob,ent,'
                                              'west'))), "deals.csv", "number", 4),
    "date_with_junk": Bad(_files(deals=deals((1, "D2,2024-01-10,qualification,lost,"
                                                 "2024-02-20XYZ,500,ann,smb,east"))),
                          "deals.csv", "date", 3),
    "closed_in_2099": Bad(_files(deals=deals((1, "D2,2024-01-10,qualification,lost,"
                                                 "2099-02-15,500,ann,smb,east"))),
                          "deals.csv", "after_data_end", 3),
    "entered_in_2099": Bad(_files(history=HISTORY_CSV + "D3,proposal,2099-01-01\n"),
                           "stage_history.csv", "after_data_end",
                           len(HISTORY_CSV.strip().splitlines()) + 1),
    "deals_0_bytes": Bad(_files(deals=""), "deals.csv", "empty_file"),
    "quotas_empty": Bad(_files(quotas=""), "quotas.csv", "empty_file"),
    "extra_field": Bad(_files(deals=deals((2, "D3,2024-02-01,proposal,open,,2000,bob,ent,west,"
                                              "oops"))), "deals.csv", "extra_field", 4),
    "unterminated_quote": Bad(_files(deals=deals((1, 'D2,2024-01-10,qualification,lost,'
                                                     '2024-02-15,500,"ann,smb,east'))),
                              "deals.csv", "csv_syntax", 3),
    "corrupt_parquet": Bad(_replace_deals(
        lambda root: (root / "deals.parquet").write_bytes(b"PAR1 this is not parquet")),
        "deals.parquet", "unreadable"),
    "directory_deals_csv": Bad(_replace_deals(lambda root: (root / "deals.csv").mkdir()),
                               "deals.csv", "not_a_file"),
    "blank_line_before_bad_row": Bad(_files(deals=HEADER + "\n" + ROWS[0] + "\n\n"
                                            + ROWS[1].replace("lost", "pending") + "\n"
                                            + "\n".join(ROWS[2:]) + "\n"),
                                     "deals.csv", "allowed_values", 4),
    "stages_a_string": Bad(_files(pipeline="stages: contact\n"), "pipeline.yaml", "config"),
}


def command_args(command: str, data: Path, out: Path) -> list[str]:
    """A complete, valid command line for ``command`` (only the data is bad)."""
    common = ["--data", str(data), "--seed", "1"]
    fit = ["--method", "advi", "--quiet"]
    return {
        "validate": ["validate", "--data", str(data)],
        "forecast": ["forecast", *common, "--as-of", "2024-03-31", "--out", str(out), *fit],
        "report": ["report", *common, "--as-of", "2024-03-31", "--out", str(out), *fit],
        "scenarios": ["scenarios", *common, "--as-of", "2024-03-31", "--scenarios",
                      str(SCENARIOS), "--out", str(out), *fit],
        "recommend": ["recommend", *common, "--as-of", "2024-03-31", "--target", "1000",
                      "--confidence", "0.8", "--out", str(out), *fit],
        "score": ["score", *common, "--as-of", "2024-03-31", "--out", str(out), *fit],
        "backtest": ["backtest", *common, "--start", "2024-02-29", "--end", "2024-03-31",
                     "--out", str(out), *fit],
    }[command]


COMMANDS = ("validate", "forecast", "report", "scenarios", "recommend", "score", "backtest")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_naming_it(tmp_path, capsys, case, command):
    bad = BAD[case]
    data = tmp_path / "data"
    bad.write(data)
    out = tmp_path / "out"
    assert main(command_args(command, data, out)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("error: ")
    where = bad.file + (f":{bad.line}" if bad.line is not None else "")
    assert where in err, err
    assert f"rule={bad.rule}" in err, err
    assert not out.exists(), f"{command} wrote {out} for bad input"


def test_stages_given_as_a_string_is_one_problem(tmp_path):
    with pytest.raises(DataValidationError) as err:
        load_dataset(write_dataset(tmp_path / "d", pipeline="stages: contact\n"))
    problems = err.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    assert "stages must be a list" in problems[0].message


def test_pipeline_schema_lists_every_problem_at_once(tmp_path):
    yaml_text = ("stages: [contact, qualification, proposal]\n"
                 "crm_probabilities: {contact: 1.5, nowhere: 0.2, proposal: high}\n"
                 "covariates: product\nfiscal_year_start: 13\nnumber_format: {decimal: x}\n"
                 "calendar: sometimes\ncolour: blue\n")
    with pytest.raises(DataValidationError) as err:
        load_dataset(write_dataset(tmp_path / "d", pipeline=yaml_text))
    text = "\n".join(p.message for p in err.value.problems)
    for expected in ("crm_probabilities['contact'] = 1.5", "names stage 'nowhere'",
                     "crm_probabilities['proposal'] = 'high'", "covariates must be a list",
                     "fiscal_year_start must be a month number 1..12",
                     "number_format.decimal", "calendar must be true or false",
                     "unknown keys ['colour']"):
        assert expected in text, text
    assert all(p.file == "pipeline.yaml" for p in err.value.problems)


def test_covariate_not_a_column_is_named(tmp_path):
    with pytest.raises(DataValidationError) as err:
        load_dataset(write_dataset(tmp_path / "d", pipeline="covariates: [product]\n"
                                   "stages: [contact, qualification, proposal]\n"))
    assert [p.rule for p in err.value.problems] == ["missing_covariate"]


def test_declared_number_format_reads_decimal_commas(tmp_path):
    text = deals((0, 'D1,2024-01-05,proposal,won,2024-03-01,"1.234,56",ann,smb,east'),
                 (2, 'D3,2024-02-01,proposal,open,,"12,5",bob,ent,west'))
    quotas = QUOTAS_CSV.replace("1000", '"1.000,5"')
    pipeline = ("stages: [contact, qualification, proposal]\n"
                "number_format: {decimal: \",\", thousands: \".\"}\n")
    ds = load_dataset(write_dataset(tmp_path / "d", deals=text, quotas=quotas,
                                    pipeline=pipeline))
    amounts = dict(zip(ds.deals["deal_id"], ds.deals["amount"], strict=True))
    assert amounts["D1"] == pytest.approx(1234.56)
    assert amounts["D3"] == pytest.approx(12.5)
    assert amounts["D2"] == 500
    assert ds.quotas["quota"].iloc[0] == pytest.approx(1000.5)
    assert ds.config.number_format.decimal == ","


def test_plain_format_refuses_thousands_commas(tmp_path):
    text = deals((0, 'D1,2024-01-05,proposal,won,2024-03-01,"1,234.50",ann,smb,east'))
    with pytest.raises(DataValidationError) as err:
        load_dataset(write_dataset(tmp_path / "d", deals=text))
    (p,) = err.value.problems
    assert (p.file, p.row, p.column, p.rule) == ("deals.csv", 2, "amount", "number")
    assert "number_format" in p.message


def test_cp1252_files_are_read_and_reported(tmp_path, capsys):
    data = write_dataset(tmp_path / "d")
    for name, text in (("deals.csv", DEALS_CSV.replace("ann", "Zoë")),
                       ("quotas.csv", QUOTAS_CSV.replace("ann", "Zoë")),
                       ("pipeline.yaml", "# Café pipeline\nstages: [contact, qualification, "
                        "proposal]\n")):
        (data / name).write_bytes(text.encode("cp1252"))
    ds = load_dataset(data)
    assert "Zoë" in set(ds.deals["owner"])
    assert any("deals.csv" in n and "cp1252" in n for n in ds.notes), ds.notes
    assert any("pipeline.yaml" in n and "cp1252" in n for n in ds.notes), ds.notes
    assert main(["validate", "--data", str(data)]) == 0
    err = capsys.readouterr().err
    assert "deals.csv: read with encoding cp1252" in err


def test_semicolons_with_bom_are_detected(tmp_path, capsys):
    data = write_dataset(tmp_path / "d")
    (data / "deals.csv").write_bytes(b"\xef\xbb\xbf" + DEALS_CSV.replace(",", ";").encode())
    ds = load_dataset(data)
    assert len(ds.deals) == len(ROWS)
    assert main(["validate", "--data", str(data)]) == 0
    assert "deals.csv: read with delimiter ';'" in capsys.readouterr().err


def test_parquet_deals_load_like_csv(tmp_path):
    import pandas as pd

    data = write_dataset(tmp_path / "d")
    frame = pd.read_csv(data / "deals.csv", dtype=str, keep_default_na=False)
    frame["amount"] = frame["amount"].astype(float)
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    (data / "deals.csv").unlink()
    frame.to_parquet(data / "deals.parquet")
    ds = load_dataset(data)
    assert list(ds.deals["amount"]) == list(frame["amount"])
    frame.loc[1, "closed_at"] = "2024-02-20XYZ"
    frame.to_parquet(data / "deals.parquet")
    with pytest.raises(DataValidationError) as err:
        load_dataset(data)
    (p,) = err.value.problems
    assert (p.file, p.row, p.rule) == ("deals.parquet", 2, "date")


def test_future_dates_are_checked_against_the_clock_given(tmp_path):
    data = write_dataset(tmp_path / "d")
    load_dataset(data, data_end="2024-06-30")  # the last date in the data is 2024-05-20
    with pytest.raises(DataValidationError) as err:
        load_dataset(data, data_end="2024-03-31")
    rules = {(p.file, p.column, p.rule) for p in err.value.problems}
    assert ("deals.csv", "closed_at", "after_data_end") in rules
    assert ("stage_history.csv", "entered_at", "after_data_end") in rules


def test_data_end_option(tmp_path, capsys):
    data = write_dataset(tmp_path / "d")
    assert main(["validate", "--data", str(data), "--data-end", "2024-03-31"]) == 2
    assert "rule=after_data_end" in capsys.readouterr().err
    assert main(["validate", "--data", str(data), "--data-end", "2999-01-01"]) == 2
    assert "is in the future" in capsys.readouterr().err
    assert main(["validate", "--data", str(data), "--data-end", "2024-06-30"]) == 0


def test_internal_error_exits_1_with_a_bug_report_request(tmp_path, capsys, monkeypatch):
    import pipecast.commands.validate as validate

    def broken(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(validate, "run", broken)
    data = write_dataset(tmp_path / "d")
    assert main(["validate", "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert "internal error (ZeroDivisionError: boom)" in err and "bug" in err
    assert "Traceback" not in err
    assert main(["--debug", "validate", "--data", str(data)]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_badly_typed_stages_are_not_also_an_unknown_order(tmp_path):
    text = DEALS_CSV.replace("proposal", "demo")  # stages pipecast cannot order alone
    with pytest.raises(DataValidationError) as err:
        load_dataset(write_dataset(tmp_path / "d", deals=text, history=None,
                                   pipeline="stages: demo\n"))
    assert [p.rule for p in err.value.problems] == ["config"]
