"""Every validation rule: each bad input names file, row, deal_id, column and rule."""

from __future__ import annotations

import pytest
from helpers import DEALS_CSV, HISTORY_CSV, QUOTAS_CSV, write_dataset

from forecast.data.dataset import load_dataset
from forecast.data.problems import DataValidationError

HEADER = DEALS_CSV.splitlines()[0]


def deals_with(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def problems_of(tmp_path, **files):
    with pytest.raises(DataValidationError) as err:
        load_dataset(write_dataset(tmp_path / "ds", **files))
    return err.value.problems


def test_valid_dataset_loads_every_row(tiny_dir):
    ds = load_dataset(tiny_dir)
    assert len(ds.deals) == 5
    assert len(ds.stage_history) == 11
    assert len(ds.quotas) == 3
    assert ds.stages == ("contact", "qualification", "proposal")
    assert ds.owner_team() == {"ann": "east", "bob": "west"}


@pytest.mark.parametrize(
    ("row", "column", "rule"),
    [
        (",2024-01-01,contact,open,,1,ann,smb,east", "deal_id", "required"),
        ("X1,2024-13-01,contact,open,,1,ann,smb,east", "created_at", "date"),
        ("X1,2024-01-01,contact,pending,,1,ann,smb,east", "status", "allowed_values"),
        ("X1,2024-01-01,contact,won,,1,ann,smb,east", "closed_at", "required_when_closed"),
        ("X1,2024-01-01,contact,open,2024-02-01,1,ann,smb,east", "closed_at", "empty_while_open"),
        ("X1,2024-03-01,contact,lost,2024-02-01,1,ann,smb,east", "closed_at",
         "closed_before_created"),
        ("X1,2024-01-01,contact,lost,01/02/2024,1,ann,smb,east", "closed_at", "date"),
        ("X1,2024-01-01,contact,open,,abc,ann,smb,east", "amount", "number"),
        ("X1,2024-01-01,contact,open,,-5,ann,smb,east", "amount", "non_negative"),
        ("X1,2024-01-01,contact,open,,5,,smb,east", "owner", "required"),
        ("X1,2024-01-01,,open,,5,ann,smb,east", "stage", "required"),
        ("X1,2024-01-01,demo,open,,5,ann,smb,east", "stage", "known_stage"),
    ],
)
def test_deal_rules(tmp_path, row, column, rule):
    problems = problems_of(tmp_path, deals=deals_with(row), history=None, quotas=None)
    match = [p for p in problems if p.rule == rule]
    assert match, [str(p) for p in problems]
    p = match[0]
    assert (p.file, p.row, p.column) == ("deals.csv", 2, column)
    assert str(p).startswith("deals.csv:2")


def test_duplicate_ids_and_all_problems_at_once(tmp_path):
    problems = problems_of(tmp_path, deals=deals_with(
        "X1,2024-01-01,contact,open,,1,ann,smb,east",
        "X1,2024-01-02,contact,open,,-1,ann,smb,east",
        "X2,bad,contact,open,,1,ann,smb,east"), history=None, quotas=None)
    rules = sorted(p.rule for p in problems)
    assert rules == ["date", "non_negative", "unique", "unique"]
    assert {p.row for p in problems if p.rule == "unique"} == {2, 3}
    assert all(p.deal_id in ("X1", "X2") for p in problems)


def test_missing_required_column_names_it_and_suggests(tmp_path):
    text = DEALS_CSV.replace("closed_at", "Closed_At ", 1)
    problems = problems_of(tmp_path, deals=text)
    p = [p for p in problems if p.rule == "missing_column"][0]
    assert p.column == "closed_at"
    assert "rename" in p.message


def test_missing_deals_file(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DataValidationError) as err:
        load_dataset(root)
    assert err.value.problems[0].rule == "missing_file"


def test_empty_deals_file(tmp_path):
    problems = problems_of(tmp_path, deals=HEADER + "\n", history=None, quotas=None)
    assert [p.rule for p in problems] == ["empty_file"]


def test_history_rules(tmp_path):
    history = HISTORY_CSV + "\n".join([
        "ZZ,contact,2024-01-01",          # unknown deal
        "D1,demo,2024-01-06",             # unknown stage
        "D1,proposal,2024-01-01",         # before created (D1 created 2024-01-05)
        "D2,proposal,2024-03-01",         # after closed (D2 closed 2024-02-15)
        "D3,proposal,someday",            # not a date
    ]) + "\n"
    problems = problems_of(tmp_path, history=history)
    rules = {p.rule for p in problems}
    assert rules == {"known_deal", "known_stage", "entered_before_created",
                     "entered_after_closed", "date"}
    assert all(p.file == "stage_history.csv" and p.row >= 13 for p in problems)


def test_quota_rules(tmp_path):
    quotas = QUOTAS_CSV + "nobody,2024-06,10\nann,2024-6,10\nann,2024-Q3,-1\nann,2024-06,5\n"
    problems = problems_of(tmp_path, quotas=quotas)
    rules = sorted(p.rule for p in problems)
    assert rules == ["known_owner", "non_negative_number", "period_format", "unique", "unique"]


def test_pipeline_yaml_rules(tmp_path):
    problems = problems_of(tmp_path, pipeline="stages: [contact, contact]\n"
                           "crm_probabilities: {contact: 2}\ncovariates: [nope]\n")
    messages = " ".join(p.message for p in problems)
    assert "must not repeat" in messages
    assert "[0, 1]" in messages
    assert any(p.rule == "missing_covariate" for p in problems)


def test_stage_order_inferred_from_default_names(tmp_path):
    ds = load_dataset(write_dataset(tmp_path / "ds", pipeline=None))
    assert ds.stages == ("contact", "qualification", "proposal")
    assert ds.config.stages_inferred


def test_unknown_stage_order_without_yaml_or_history(tmp_path):
    deals = DEALS_CSV.replace("qualification", "discovery")
    problems = problems_of(tmp_path, deals=deals, history=None, pipeline=None)
    assert any(p.rule == "stage_order_unknown" for p in problems)


def test_parquet_dataset(tmp_path, tiny_dir):
    import pandas as pd

    root = tmp_path / "pq"
    root.mkdir()
    deals = pd.read_csv(tiny_dir / "deals.csv", dtype=str, keep_default_na=False)
    deals.to_parquet(root / "deals.parquet")
    (root / "pipeline.yaml").write_text((tiny_dir / "pipeline.yaml").read_text())
    ds = load_dataset(root)
    assert len(ds.deals) == 5 and ds.deals["amount"].sum() == 5300


def test_row_problems_name_real_lines_deals_and_columns():
    import numpy as np

    from forecast.data.problems import RowProblems

    rows = RowProblems("deals.csv", np.array([2, 5, 9]), ["A", "", "C"])
    rows.add(np.array([False, True, True]), "amount", "number", lambda i: f"row {i}")
    assert [(p.row, p.deal_id, p.column, p.rule, p.message) for p in rows.problems] == [
        (5, None, "amount", "number", "row 1"), (9, "C", "amount", "number", "row 2")]


def test_lines_are_the_files_own_after_blank_lines_and_a_sep_line(tmp_path):
    text = "sep=,\n" + HEADER + "\n\nX1,2024-01-01,contact,open,,1,ann,smb,east\n\n\n" \
        "X2,2024-01-01,contact,open,,abc,ann,smb,east\n"
    problems = problems_of(tmp_path, deals=text, history=None, quotas=None)
    assert [(p.file, p.row, p.rule) for p in problems] == [("deals.csv", 7, "number")]
