"""An export that records closes from some date on: its earlier weeks are left out of the fit.

A CRM migrated with its open pipeline, or a table that keeps closes from one date on,
holds deals created long before its first recorded close and none of the deals that
closed before it. The deals still open then were selected for not having closed: counted
from their creation, they teach the model closing odds far too low. The fit detects the
stretch (:func:`forecast.data.recording.closes_recorded_from`) and counts each deal's
weeks from the week of the first close on (left truncation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.data.cells import build_cells, duration_bucket
from forecast.data.recording import IMPLAUSIBLE_ZERO, closes_recorded_from
from forecast.data.snapshot import build_snapshot
from simulations.synthetic.generator import GeneratorConfig, generate

CUT = pd.Timestamp("2025-01-01")  # the export records closes from here on
AS_OF = "2025-06-30"


def _cells(spells: pd.DataFrame, counted_from=None, calendar: bool = False):
    n = len(spells)
    zero = np.zeros(n, dtype=np.int64)
    return build_cells(spells, zero, zero, zero, n_stages=int(spells["stage_idx"].max()) + 1,
                       n_owners=1, n_segments=1, n_patterns=1, calendar=calendar,
                       counted_from=counted_from)


def _rates(cells) -> np.ndarray:
    """Advances, wins and losses per deal-week, all cells together."""
    return cells.counts[:, 1:].sum(axis=0) / cells.counts.sum()


@pytest.fixture(scope="module")
def exports():
    """Generated deals as a full history, and as an export that starts recording at ``CUT``:
    the deals closed before it are not in it, those open then are, with their creation."""
    data = generate(GeneratorConfig(n_deals=6000.0, start="2024-01-01", end=AS_OF), 11)
    full = data.to_dataset()
    deals = data.deals
    early = (deals["closed_at"] < CUT) & deals["status"].isin(["won", "lost"])
    kept = deals.loc[~early, "deal_id"]
    history = data.stage_history[data.stage_history["deal_id"].isin(kept)]
    from dataclasses import replace

    export = replace(data, deals=deals[~early].reset_index(drop=True),
                     stage_history=history.reset_index(drop=True)).to_dataset()
    return build_snapshot(full, AS_OF), build_snapshot(export, AS_OF)


def test_an_export_that_starts_recording_late_is_detected(exports):
    full, export = exports
    assert not closes_recorded_from(full.spells).truncated
    rec = closes_recorded_from(export.spells)
    assert rec.truncated and rec.expected_before >= IMPLAUSIBLE_ZERO
    assert pd.Timestamp(str(rec.first_close)) >= CUT
    assert rec.to_dict()["first_close"] == str(rec.first_close)


def test_counting_from_the_first_close_removes_the_selection(exports):
    """Counted from its creation dates, the export reads wins and losses as far rarer than
    they were (its old deals were kept for not closing); counted from its first close on,
    it has the cells of the full history counted from the same day, but for the deals that
    closed in a first counted week before the day (the week holding it is counted whole)."""
    full, export = exports
    first = closes_recorded_from(export.spells).first_close
    naive = _rates(_cells(export.spells))
    truth = _rates(_cells(full.spells))
    assert naive[1] < 0.9 * truth[1] and naive[2] < 0.8 * truth[2], (naive, truth)
    fixed = _cells(export.spells, counted_from=first)
    same = _cells(full.spells, counted_from=first)
    assert np.allclose(_rates(fixed), _rates(same), rtol=0.02), (_rates(fixed), _rates(same))
    assert abs(fixed.counts.sum() / same.counts.sum() - 1) < 0.01


def test_left_truncation_counts_the_weeks_from_the_first_close_by_hand():
    start = pd.Timestamp("2024-01-01")
    spells = pd.DataFrame({
        "deal_id": ["a", "b", "c"], "stage_idx": [0, 0, 0],
        "start": [start, start, start + pd.Timedelta(days=40)],
        "end": [start + pd.Timedelta(days=60), start + pd.Timedelta(days=10),
                start + pd.Timedelta(days=97)],
        "outcome": ["won", "advance", "censored"]})
    cut = np.datetime64("2024-02-05")  # day 35, in week 5 of a's and b's stays
    cells, full = _cells(spells, counted_from=cut), _cells(spells)
    # a: won on day 60 (week 8); its weeks 0-4 start before the cut's week: 3 stays (weeks
    # 5-7, bucket 3) and the win (bucket 4) are counted. b: advanced in week 1, before the
    # cut: nothing. c: starts after the cut: 8 stays and a part-week of 2 days, as without.
    assert full.counts.sum(axis=0).tolist() == [8 + 1 + 8, 1, 1, 0]
    assert cells.counts.sum(axis=0).tolist() == [3 + 8, 0, 1, 0]
    frame = cells.to_frame()
    assert frame.loc[frame["won"] > 0, "bucket"].tolist() == [duration_bucket(np.array(8))]
    a_stays = frame[(frame["stay"] > 0) & (frame["bucket"] == 3)]["stay"].sum()
    assert a_stays == 3 + 4  # a's weeks 5-7 and c's weeks 4-7
    assert cells.partial.sum() == full.partial.sum() == 1
    # the calendar's cells count the same weeks
    cal = _cells(spells, counted_from=cut, calendar=True)
    assert cal.counts.sum(axis=0).tolist() == cells.counts.sum(axis=0).tolist()
    assert cal.partial.sum() == cells.partial.sum()
    # a cut before every spell changes nothing
    early = _cells(spells, counted_from=np.datetime64("2023-06-01"))
    assert early.counts.tolist() == full.counts.tolist()


def test_the_fit_line_says_when_the_history_is_counted_from_its_first_close():
    from pipecast.commands.common import fit_line

    diag = {"rhat_max": 1.004, "divergences": 0,
            "closes_recorded_from": {"first_close": "2017-03-01", "deal_weeks_before": 7234.6,
                                     "expected_before": 868.6, "truncated": True}}
    assert fit_line(diag) == ("R-hat max 1.004, divergences 0; counted from the first "
                              "recorded close, 2017-03-01 (none before it, where 869 were "
                              "expected: docs/model.md)")
