"""Point-in-time view: what was known at as_of, and nothing dated later."""

from __future__ import annotations

import numpy as np
import pandas as pd
from helpers import DEALS_CSV, HISTORY_CSV, write_dataset

from forecast.data.cells import DURATION_EDGES_WEEKS, build_cells, duration_bucket
from forecast.data.dataset import load_dataset
from forecast.data.snapshot import build_snapshot
from forecast.posterior import ModelIndex, snapshot_fingerprint


def test_status_and_stage_at_as_of(tiny_dir):
    snap = build_snapshot(load_dataset(tiny_dir), "2024-02-20")
    d = snap.deals.set_index("deal_id")
    assert set(d.index) == {"D1", "D2", "D3", "D4"}  # D5 created later
    assert d.loc["D1", "status"] == "open" and pd.isna(d.loc["D1", "closed_at"])
    assert d.loc["D1", "stage"] == "proposal"  # entered 2024-02-10
    assert d.loc["D2", "status"] == "lost"
    assert d.loc["D3", "stage"] == "qualification"  # proposal only on 2024-04-01
    assert d.loc["D3", "days_in_stage"] == 5
    assert d.loc["D4", "days_in_stage"] == 0


def test_spells_end_in_events_or_censoring(tiny_dir):
    snap = build_snapshot(load_dataset(tiny_dir), "2024-06-30")
    sp = snap.spells
    d1 = sp[sp["deal_id"] == "D1"]
    assert list(d1["outcome"]) == ["advance", "advance", "won"]
    assert d1["end"].iloc[-1] == pd.Timestamp("2024-03-01")
    d3 = sp[sp["deal_id"] == "D3"]
    assert list(d3["outcome"]) == ["advance", "advance", "censored"]
    assert d3["end"].iloc[-1] == pd.Timestamp("2024-06-30")


def test_without_history_stages_are_imputed_evenly(tmp_path):
    ds = load_dataset(write_dataset(tmp_path / "nh", history=None))
    snap = build_snapshot(ds, "2024-06-30")
    d1 = snap.spells[snap.spells["deal_id"] == "D1"]  # proposal (idx 2), 2024-01-05 → 03-01
    assert list(d1["stage_idx"]) == [0, 1, 2]
    assert list(d1["outcome"]) == ["advance", "advance", "won"]
    starts = d1["start"].tolist()
    assert starts[0] == pd.Timestamp("2024-01-05")
    gaps = [(starts[1] - starts[0]).days, (starts[2] - starts[1]).days]
    assert all(g in (18, 19) for g in gaps)  # 56 days split in three, floored to days


def test_unsorted_history_gives_the_same_snapshot(tmp_path):
    lines = HISTORY_CSV.strip().splitlines()
    shuffled = "\n".join([lines[0]] + lines[1:][::-1]) + "\n"
    a = build_snapshot(load_dataset(write_dataset(tmp_path / "a")), "2024-06-30")
    b = build_snapshot(load_dataset(write_dataset(tmp_path / "b", history=shuffled)),
                       "2024-06-30")
    pd.testing.assert_frame_equal(a.spells.reset_index(drop=True), b.spells.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.deals, b.deals)


def test_regressions_are_ignored_and_skips_allowed(tmp_path):
    history = HISTORY_CSV + "D1,qualification,2024-02-20\n"  # back from proposal
    ds = load_dataset(write_dataset(tmp_path / "r", history=history))
    sp = build_snapshot(ds, "2024-06-30").spells
    assert list(sp[sp["deal_id"] == "D1"]["stage_idx"]) == [0, 1, 2]


def _later_changes(tmp_path):
    """The tiny dataset, and a copy where only things dated after 2024-02-20 differ."""
    base = write_dataset(tmp_path / "base")
    deals = DEALS_CSV.replace("D5,2024-03-05,qualification,won,2024-05-10,1500",
                              "D5,2024-03-05,qualification,lost,2024-05-10,1500")
    deals = deals.replace("D3,2024-02-01,proposal,open,,2000",
                          "D3,2024-02-01,proposal,lost,2024-03-15,2000")
    deals += "D6,2024-04-01,contact,open,,900,cy,smb,east\n"
    history = HISTORY_CSV.replace("D3,proposal,2024-04-01", "D3,proposal,2024-03-01")
    history += "D6,contact,2024-04-01\nD4,qualification,2024-05-01\n"
    changed = write_dataset(tmp_path / "changed", deals=deals, history=history)
    return load_dataset(base), load_dataset(changed)


def test_changes_after_as_of_leave_the_snapshot_unchanged(tmp_path):
    base, changed = _later_changes(tmp_path)
    a, b = build_snapshot(base, "2024-02-20"), build_snapshot(changed, "2024-02-20")
    cols = ["deal_id", "status", "stage_idx", "stage_entered_at", "days_in_stage", "owner"]
    pd.testing.assert_frame_equal(a.deals[cols], b.deals[cols])
    pd.testing.assert_frame_equal(a.spells, b.spells)
    assert snapshot_fingerprint(a) == snapshot_fingerprint(b)
    # and the model's exposure cells, hence the posterior, are the same too
    ia, ib = ModelIndex.from_snapshot(a), ModelIndex.from_snapshot(b)
    assert ia.owners == ib.owners
    # but a later as_of sees the changes
    assert snapshot_fingerprint(build_snapshot(base, "2024-06-30")) != snapshot_fingerprint(
        build_snapshot(changed, "2024-06-30"))


def test_cells_count_weeks_exactly():
    spells = pd.DataFrame({
        "stage_idx": [0, 0, 1, 0],
        "start": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-01"]),
        "end": pd.to_datetime(["2024-01-20", "2024-03-01", "2024-01-03", "2024-01-14"]),
        "outcome": ["advance", "censored", "won", "censored"],
    })
    zero = np.zeros(4, dtype=np.int64)
    cells = build_cells(spells, zero, zero, zero, 2, 1, 1, 1)
    f = cells.to_frame()
    # spell 1: event on day 19 → week 2: stays in weeks 0, 1, advance in week 2 (bucket 2)
    # spell 2: censored, 61 days observed (Jan 1 .. Mar 1) → 8 complete weeks (buckets 0,1:
    #          1 each, 2: 2, 3: 4) and 5 days of week 8 (bucket 4) without an event
    # spell 3: won on day 2 → week 0
    # spell 4: censored after 14 days observed → 2 complete weeks, no part-week
    s0 = f[f["stage"] == 0].set_index("bucket")
    assert s0.loc[0, "stay"] == 3 and s0.loc[1, "stay"] == 3
    assert s0.loc[2, "stay"] == 2 and s0.loc[2, "advance"] == 1
    assert s0.loc[3, "stay"] == 4
    assert s0.loc[4, "partial_5"] == 1 and s0.loc[4, "stay"] == 0
    assert cells.partial.sum() == 1
    s1 = f[f["stage"] == 1]
    assert s1[["stay", "advance", "won", "lost"]].values.tolist() == [[0, 0, 1, 0]]
    assert cells.counts.sum() == 2 + 1 + 8 + 1 + 2


def test_duration_buckets():
    weeks = np.array([0, 1, 2, 3, 4, 12, 13, 51, 52, 400])
    assert duration_bucket(weeks).tolist() == [0, 1, 2, 2, 3, 4, 5, 6, 7, 7]
    assert len(DURATION_EDGES_WEEKS) == 8
