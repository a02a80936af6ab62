"""The pipeline waterfall (``forecast.data.changes``) and ``pipecast changes``."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import write_dataset

from forecast.data.changes import BARS, DEAL_COLUMNS, MEASURES, pipeline_changes
from forecast.data.dataset import load_dataset
from forecast.data.problems import UsageError
from forecast.data.snapshot import build_snapshot
from pipecast.cli import main

# from 2024-03-15 to 2024-04-15; CRM probabilities contact .1, qualification .3, proposal .6
DEALS = """deal_id,created_at,stage,status,closed_at,amount,owner,segment,team,expected_close_at
D1,2024-01-05,proposal,won,2024-04-01,1000,ann,smb,east,2024-03-20
D2,2024-01-10,qualification,lost,2024-03-20,500,ann,smb,east,2024-04-30
D3,2024-02-01,proposal,open,,2000,bob,ent,west,2024-04-10
D4,2024-02-20,contact,open,,300,bob,smb,west,2024-05-31
D5,2024-04-01,contact,open,,700,ann,smb,east,2024-04-25
D6,2024-03-20,qualification,lost,2024-04-10,400,bob,smb,west,2024-04-20
D7,2024-01-02,contact,lost,2024-02-01,100,ann,smb,east,2024-02-15
D8,2024-03-01,qualification,open,,800,bob,ent,west,2024-03-25
"""
HISTORY = """deal_id,stage,entered_at
D1,contact,2024-01-05
D1,proposal,2024-02-15
D2,contact,2024-01-10
D2,qualification,2024-02-01
D3,contact,2024-02-01
D3,qualification,2024-02-15
D3,proposal,2024-04-01
D4,contact,2024-02-20
D5,contact,2024-04-01
D6,contact,2024-03-20
D6,qualification,2024-03-25
D7,contact,2024-01-02
D8,contact,2024-03-01
D8,qualification,2024-03-10
"""


@pytest.fixture
def hand_dir(tmp_path):
    return write_dataset(tmp_path / "hand", deals=DEALS, history=HISTORY, quotas=None)


def _bars(ch) -> dict[str, list[str]]:
    return {b: sorted(ch.deals.loc[ch.deals["bar"] == b, "deal_id"]) for b in BARS
            if (ch.deals["bar"] == b).any()}


def _identity_holds(ch) -> None:
    for m in MEASURES:
        assert ch.start[m] + ch.bars[f"{m}_change"].sum() == pytest.approx(ch.end[m], abs=1e-6)
    assert ch.bars["deals"].sum() == len(ch.deals)
    assert ch.deals["deal_id"].is_unique


def test_hand_made_whole_pipeline(hand_dir):
    ch = pipeline_changes(load_dataset(hand_dir), "2024-03-15", "2024-04-15")
    assert _bars(ch) == {"created": ["D5"], "progressed": ["D3"], "same_stage": ["D4", "D8"],
                         "won": ["D1"], "lost": ["D2"]}
    assert ch.start == {"deals": 5, "amount": 4600.0, "weighted": pytest.approx(1620.0)}
    assert ch.end == {"deals": 4, "amount": 3800.0, "weighted": pytest.approx(1540.0)}
    bars = ch.bars.set_index("bar")
    assert bars.loc["won", "amount_change"] == -1000
    assert bars.loc["won", "weighted_change"] == pytest.approx(-600)
    assert bars.loc["lost", "weighted_change"] == pytest.approx(-150)
    assert bars.loc["progressed", "weighted_change"] == pytest.approx(600)  # .3 → .6 of 2000
    assert bars.loc["progressed", "amount_change"] == 0
    assert bars.loc["created", "deals_change"] == 1
    assert bars.loc["created", "weighted_change"] == pytest.approx(70)
    assert bars.loc["pushed", "deals"] == 0
    _identity_holds(ch)
    row = ch.deals.set_index("deal_id").loc["D3"]
    assert (row["stage_from"], row["stage_to"]) == ("qualification", "proposal")
    assert (row["amount_from"], row["amount_to"], row["owner"], row["team"]) == (
        2000, 2000, "bob", "west")
    assert pd.isna(ch.deals.set_index("deal_id").loc["D5", "stage_from"])


def test_hand_made_period_push_and_move_in(hand_dir):
    ds = load_dataset(hand_dir)
    march = pipeline_changes(ds, "2024-03-15", "2024-04-15", "2024-03")
    assert pipeline_changes(ds, "2024-03-15", "2024-04-15", "2024-q1").period == "2024-Q1"
    # D8 expected 2024-03-25, still open on 2024-04-15: pushed out of March
    assert _bars(march) == {"won": ["D1"], "pushed": ["D8"]}
    assert march.end["deals"] == 0
    _identity_holds(march)
    april = pipeline_changes(ds, "2024-03-15", "2024-04-15", "2024-04")
    # D8 is overdue on 2024-04-15 and expected from the next day on: moved into April;
    # D1 was expected in March, so it is not in April's pipeline at either date
    assert _bars(april) == {"created": ["D5"], "moved_in": ["D8"], "progressed": ["D3"],
                            "lost": ["D2"]}
    assert april.start["amount"] == 2500 and april.end["amount"] == 3500
    _identity_holds(april)


def test_without_expected_close_dates_every_open_deal_is_due_next_day(tmp_path):
    deals = "\n".join(",".join(r.split(",")[:9]) for r in DEALS.strip().splitlines()) + "\n"
    ds = load_dataset(write_dataset(tmp_path / "noexp", deals=deals, history=HISTORY,
                                    quotas=None))
    ch = pipeline_changes(ds, "2024-03-15", "2024-04-15", "2024-03")
    # every deal open on 2024-03-15 is expected on 03-16 (in March); open ones are pushed
    assert _bars(ch) == {"won": ["D1"], "lost": ["D2"], "pushed": ["D3", "D4", "D8"]}
    _identity_holds(ch)


@pytest.mark.parametrize("dates, period", [
    (("2026-07-31", "2026-08-31"), None), (("2026-08-31", "2026-09-30"), "2026-Q3"),
    (("2026-08-31", "2026-09-30"), "2026-Q4"), (("2026-09-15", "2026-10-31"), "2026-10"),
    (("2025-01-31", "2026-10-31"), None), (("2026-06-30", "2026-10-31"), "2026-Q4"),
])
def test_identity_and_partition_on_generated_data(small_dataset, dates, period):
    from forecast.data.changes import expected_close
    from forecast.data.periods import period_bounds

    ch = pipeline_changes(small_dataset, *dates, period)
    _identity_holds(ch)
    # the deals in the bars are exactly the deals in the pipeline at either date
    in_pipe = set()
    for date in dates:
        snap = build_snapshot(small_dataset, date)
        d = snap.open_deals
        if period is not None:
            lo, hi = period_bounds(period)
            exp = expected_close(d, snap.as_of)
            d = d[(exp >= lo) & (exp <= hi)]
        in_pipe |= set(d["deal_id"])
    assert set(ch.deals["deal_id"]) == in_pipe
    assert len(ch.deals) > 0
    assert list(ch.deals.columns) == list(DEAL_COLUMNS)
    # signs: nothing comes back from won/lost/pushed, weighted rises on progress
    bars = ch.bars.set_index("bar")
    for b in ("won", "lost", "pushed"):
        assert bars.loc[b, "amount_change"] <= 0
    assert bars.loc["progressed", "weighted_change"] >= 0
    assert bars.loc["created", "amount_change"] >= 0
    # no deal can progress while it is not open at both dates
    moved = ch.deals[ch.deals["bar"].isin(["progressed", "regressed", "same_stage"])]
    assert (moved["status_from"] == "open").all() and (moved["status_to"] == "open").all()


def test_bad_dates_are_refused(hand_dir):
    ds = load_dataset(hand_dir)
    with pytest.raises(UsageError, match="must be before"):
        pipeline_changes(ds, "2024-04-15", "2024-03-15")
    with pytest.raises(UsageError, match="before the first deal"):
        pipeline_changes(ds, "2023-01-01", "2024-03-15")
    with pytest.raises(UsageError, match="YYYY-MM or YYYY-Qn"):
        pipeline_changes(ds, "2024-03-15", "2024-04-15", "2024-13")


def test_cli_writes_json_and_deals_atomically(hand_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["changes", "--data", str(hand_dir), "--from", "2024-03-15", "--to", "2024-04-15",
            "--period", "2024-04", "--out", str(out), "--no-bridge"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["changes.json", "changes_deals.csv"]
    doc = json.loads((out / "changes.json").read_text())
    assert doc["bridge"] is None  # --no-bridge: no fit (the bridge: tests/test_bridge.py)
    assert (doc["from"], doc["to"], doc["period"]) == ("2024-03-15", "2024-04-15", "2024-04")
    assert doc["period_bounds"] == ["2024-04-01", "2024-04-30"]
    assert [b["bar"] for b in doc["bars"]] == list(BARS)
    for m in MEASURES:
        total = doc["start"][m] + sum(b["change"][m] for b in doc["bars"])
        assert total == pytest.approx(doc["end"][m])
    csv = pd.read_csv(out / "changes_deals.csv", dtype={"deal_id": str})
    assert list(csv.columns[:8]) == ["deal_id", "bar", "amount_from", "amount_to",
                                     "stage_from", "stage_to", "owner", "team"]
    assert dict(zip(csv["deal_id"], csv["bar"], strict=True)) == {
        "D5": "created", "D8": "moved_in", "D3": "progressed", "D2": "lost"}
    assert csv.set_index("deal_id").loc["D8", "expected_close_to"] == "2024-04-16"
    # no overwrite without --force; with it, fine
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".pipecast-")]


@pytest.mark.parametrize("dates, message", [
    (("2024-04-15", "2024-03-15"), "--from 2024-04-15 must be before --to 2024-03-15"),
    (("2024-04-15", "2024-04-15"), "must be before"),
    (("2024-03-15", "15/04/2024"), "--to '15/04/2024' is not a date"),
])
def test_cli_bad_dates_exit_2(hand_dir, tmp_path, capsys, dates, message):
    out = tmp_path / "out"
    code = main(["changes", "--data", str(hand_dir), "--from", dates[0], "--to", dates[1],
                 "--out", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_bad_period_and_data_exit_2(hand_dir, tmp_path, capsys):
    code = main(["changes", "--data", str(hand_dir), "--from", "2024-03-15", "--to",
                 "2024-04-15", "--period", "Q2-2024", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "Q2-2024" in capsys.readouterr().err
    code = main(["changes", "--data", str(tmp_path / "missing"), "--from", "2024-03-15",
                 "--to", "2024-04-15", "--out", str(tmp_path / "o")])
    assert code == 2
