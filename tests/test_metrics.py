"""Pipeline metrics and period helpers against numbers worked out by hand.

The fixture (stages a, b, c; every deal has a stage history, so no imputation):

=====  =======  =====  ====  =========  ======  ==========  ======  ==================
deal   owner    team   seg   created    status  closed      amount  history (entered)
=====  =======  =====  ====  =========  ======  ==========  ======  ==================
D1     alice    east   smb   01-01      won     01-21       100     a 01-01 b 01-06 c 01-11
D2     alice    east   smb   01-01      won     02-10       300     a 01-01 b 01-11 c 01-31
D3     bob      west   ent   01-01      lost    01-31       200     a 01-01 b 01-16
D4     bob      west   ent   02-01      lost    02-11       50      a 02-01
D5     alice    east   ent   03-01      open                500     a 03-01 b 03-06
D6     bob      west   smb   03-21      open                80      a 03-21
D7     bob      west   smb   01-11      won     03-01       600     a 01-11 c 01-21 (skips b)
D8     alice    east   smb   02-15      open                250     a 02-15 b 02-20 c 03-01
D9     bob      west   smb   04-05      open                999     a 04-05 (after as_of)
D10    bob      west   smb   03-10      won     04-10       120     a 03-10 (open at as_of)
=====  =======  =====  ====  =========  ======  ==========  ======  ==================

All in 2024; ``as_of = 2024-03-31`` unless a test says otherwise. At ``as_of`` D9 does
not exist and D10 is open in stage a. Cycle lengths (created → close, days): D1 20,
D2 40, D3 30, D4 10, D7 50 (Jan 11 → Mar 1 = 20 + 29 + 1); open ages: D5 30, D6 10,
D8 45, D10 21. Days in stage of open deals: D5 25 (b), D6 10 (a), D8 30 (c), D10 21 (a).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from forecast.data import coverage, metrics
from forecast.data.dataset import dataset_from_frames
from forecast.data.periods import month_periods, months_of, period_bounds, quarter_of
from forecast.data.snapshot import build_snapshot

STAGES = ("a", "b", "c")
AS_OF = "2024-03-31"

_DEALS = [
    # deal_id, owner, team, segment, created, status, closed, amount, expected_close
    ("D1", "alice", "east", "smb", "2024-01-01", "won", "2024-01-21", 100, ""),
    ("D2", "alice", "east", "smb", "2024-01-01", "won", "2024-02-10", 300, ""),
    ("D3", "bob", "west", "ent", "2024-01-01", "lost", "2024-01-31", 200, ""),
    ("D4", "bob", "west", "ent", "2024-02-01", "lost", "2024-02-11", 50, ""),
    ("D5", "alice", "east", "ent", "2024-03-01", "open", "", 500, "2024-03-20"),
    ("D6", "bob", "west", "smb", "2024-03-21", "open", "", 80, ""),
    ("D7", "bob", "west", "smb", "2024-01-11", "won", "2024-03-01", 600, ""),
    ("D8", "alice", "east", "smb", "2024-02-15", "open", "", 250, "2024-05-15"),
    ("D9", "bob", "west", "smb", "2024-04-05", "open", "", 999, ""),
    ("D10", "bob", "west", "smb", "2024-03-10", "won", "2024-04-10", 120, "2024-02-28"),
]
_HISTORY = {
    "D1": [("a", "2024-01-01"), ("b", "2024-01-06"), ("c", "2024-01-11")],
    "D2": [("a", "2024-01-01"), ("b", "2024-01-11"), ("c", "2024-01-31")],
    "D3": [("a", "2024-01-01"), ("b", "2024-01-16")],
    "D4": [("a", "2024-02-01")],
    "D5": [("a", "2024-03-01"), ("b", "2024-03-06")],
    "D6": [("a", "2024-03-21")],
    "D7": [("a", "2024-01-11"), ("c", "2024-01-21")],
    "D8": [("a", "2024-02-15"), ("b", "2024-02-20"), ("c", "2024-03-01")],
    "D9": [("a", "2024-04-05")],
    "D10": [("a", "2024-03-10")],
}
_QUOTAS = [
    ("alice", "2024-Q1", 1000.0),
    ("bob", "2024-01", 300.0), ("bob", "2024-02", 300.0), ("bob", "2024-03", 300.0),
    ("east", "2024-Q1", 2000.0),
]


def _deals_frame() -> pd.DataFrame:
    cols = ["deal_id", "owner", "team", "segment", "created_at", "status", "closed_at",
            "amount", "expected_close_at"]
    d = pd.DataFrame(_DEALS, columns=cols)
    # the current stage of each deal is its last history entry
    d["stage"] = [_HISTORY[i][-1][0] for i in d["deal_id"]]
    return d


def _history_frame() -> pd.DataFrame:
    h = pd.DataFrame([(d, s, t) for d, rows in _HISTORY.items() for s, t in rows],
                     columns=["deal_id", "stage", "entered_at"])
    # sorted as snapshot.stage_entries sorts it: that function currently copies created_at
    # onto the wrong deals' first entries when the history comes in another order
    return h.sort_values(["deal_id", "entered_at", "stage"], ignore_index=True)


@pytest.fixture(scope="module")
def dataset():
    quotas = pd.DataFrame(_QUOTAS, columns=["owner", "period", "quota"])
    return dataset_from_frames(_deals_frame(), STAGES, _history_frame(), quotas)


@pytest.fixture(scope="module")
def snap(dataset):
    return build_snapshot(dataset, AS_OF)


def _row(frame: pd.DataFrame, group: str = "all") -> pd.Series:
    rows = frame[frame["group"] == group]
    assert len(rows) == 1, f"expected one row for {group}"
    return rows.iloc[0]


def _beta_ppf_by_bisection(cdf, q: float) -> float:
    """Invert a closed-form CDF on [0, 1] by bisection (independent of scipy.stats)."""
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
    return (lo + hi) / 2


# --------------------------------------------------------------------------- counts, sizes


def test_counts_all_time(snap):
    # open: D5 D6 D8 D10; leads (open in a): D6 D10; created: 9 (D9 after as_of);
    # won: D1 D2 D7 (D10 is won only after as_of); lost: D3 D4
    r = _row(metrics.deal_counts(snap))
    assert (r.n_open, r.n_leads, r.n_created, r.n_won, r.n_lost, r.n_closed) == (4, 2, 9, 3, 2, 5)


def test_counts_window_and_groups(snap):
    # since Feb 1: closed D2 (02-10, won), D4 (02-11, lost), D7 (03-01, won);
    # created D4 D5 D6 D8 D10
    r = _row(metrics.deal_counts(snap, since="2024-02-01"))
    assert (r.n_created, r.n_won, r.n_lost, r.n_open) == (5, 2, 1, 4)
    by_seg = metrics.deal_counts(snap, by="segment").set_index("group")
    # smb: D1 D2 D6 D7 D8 D10 → open D6 D8 D10, leads D6 D10, won D1 D2 D7
    # ent: D3 D4 D5 → open D5 (in b), won 0, lost D3 D4
    assert by_seg.loc["smb", ["n_open", "n_leads", "n_won", "n_lost"]].tolist() == [3, 2, 3, 0]
    assert by_seg.loc["ent", ["n_open", "n_leads", "n_won", "n_lost"]].tolist() == [1, 0, 0, 2]
    by_team = metrics.deal_counts(snap, by="team")
    assert list(by_team["group"]) == ["east", "west"]


def test_group_without_activity_in_window_still_has_a_row(snap):
    # since Mar 2 nothing closed; bob still has open deals, alice too
    c = metrics.deal_counts(snap, by="owner", since="2024-03-02").set_index("group")
    assert c.loc["alice", "n_closed"] == 0 and c.loc["alice", "n_open"] == 2
    wr = metrics.win_rates(snap, by="owner", since="2024-03-02").set_index("group")
    assert math.isnan(wr.loc["alice", "win_rate"])
    # no data: the prior's 90% interval, Beta(1, 1) → [0.05, 0.95]
    assert wr.loc["alice", ["win_rate_lo", "win_rate_hi"]].tolist() == pytest.approx([0.05, 0.95])


def test_deal_sizes(snap):
    # won 100, 300, 600 → mean 333.33, median 300; open 500, 80, 250, 120 → 950,
    # mean 237.5, median (120 + 250) / 2 = 185
    r = _row(metrics.deal_sizes(snap))
    assert r.won_amount_mean == pytest.approx(1000 / 3)
    assert r.won_amount_median == 300
    assert (r.open_amount_total, r.open_amount_mean, r.open_amount_median) == (950, 237.5, 185)
    ent = _row(metrics.deal_sizes(snap, by="segment"), "ent")
    assert ent.n_won == 0 and math.isnan(ent.won_amount_mean) and ent.open_amount_total == 500


# --------------------------------------------------------------------------- win rate


def test_win_rate_and_interval(snap):
    wr = metrics.win_rates(snap)
    r = _row(wr)
    # 3 won, 2 lost → 0.6; posterior Beta(4, 3), mean 4/7
    assert r.win_rate == pytest.approx(0.6)
    assert r.win_rate_mean == pytest.approx(4 / 7)

    # CDF of Beta(4, 3) = P(Binomial(6, x) ≥ 4) = Σ_{j=4..6} C(6, j) x^j (1 − x)^(6 − j)
    def cdf(x):
        return sum(math.comb(6, j) * x**j * (1 - x) ** (6 - j) for j in range(4, 7))

    assert r.win_rate_lo == pytest.approx(_beta_ppf_by_bisection(cdf, 0.05), abs=1e-9)
    assert r.win_rate_hi == pytest.approx(_beta_ppf_by_bisection(cdf, 0.95), abs=1e-9)


def test_win_rate_per_group_closed_forms(snap):
    by_owner = metrics.win_rates(snap, by="owner").set_index("group")
    # alice: 2 won, 0 lost → Beta(3, 1), CDF x³ → interval [0.05^(1/3), 0.95^(1/3)]
    a = by_owner.loc["alice"]
    assert a.win_rate == 1.0
    assert (a.win_rate_lo, a.win_rate_hi) == pytest.approx((0.05 ** (1 / 3), 0.95 ** (1 / 3)))
    # bob: 1 won (D7), 2 lost → 1/3
    assert by_owner.loc["bob", "win_rate"] == pytest.approx(1 / 3)
    # ent: 0 won, 2 lost → Beta(1, 3), CDF 1 − (1 − x)³ → [1 − 0.95^(1/3), 1 − 0.05^(1/3)]
    ent = _row(metrics.win_rates(snap, by="segment"), "ent")
    assert ent.win_rate == 0.0
    assert (ent.win_rate_lo, ent.win_rate_hi) == pytest.approx(
        (1 - 0.95 ** (1 / 3), 1 - 0.05 ** (1 / 3)))


def test_beta_interval_level():
    # Beta(1, 1) with level 0.5 → quartiles of the uniform
    assert metrics.beta_interval(0, 0, level=0.5) == pytest.approx((0.5, 0.25, 0.75))
    with pytest.raises(ValueError):
        metrics.beta_interval(1, 1, level=1.5)


# --------------------------------------------------------------------------- cycle length


def test_km_median_by_hand(snap):
    cyc = metrics.cycle_length(snap)
    # times (W = won, c = censored): 10c 10c 20W 21c 30c 30c 40W 45c 50W
    # t=20: 7 at risk → S = 6/7; t=40: 3 at risk (40, 45, 50) → S = 6/7·2/3 = 4/7;
    # t=50: 1 at risk → S = 0. First S < 0.5 at t = 50.
    curve = cyc.curves
    assert curve["days"].tolist() == [20, 40, 50]
    assert curve["n_at_risk"].tolist() == [7, 3, 1]
    assert curve["surv_prob"].tolist() == pytest.approx([6 / 7, 4 / 7, 0.0])
    r = _row(cyc.summary)
    assert (r.n_deals, r.n_won, r.n_censored) == (9, 3, 6)
    assert r.median_days_to_win == 50
    assert r.median_lo <= 50 <= r.median_hi
    # naive: mean of won cycles (20 + 40 + 50) / 3, ignoring the open and lost deals
    assert r.mean_won_cycle_days == pytest.approx(110 / 3)
    assert r.median_won_cycle_days == 40


def test_km_median_per_owner(snap):
    s = metrics.cycle_length(snap, by="owner").summary.set_index("group")
    # alice: 20W 30c(D5 open) 40W 45c(D8 open): S(20) = 3/4, S(40) = 3/4 · 1/2 = 3/8 → 40
    assert s.loc["alice", "median_days_to_win"] == 40
    # bob: 10c 10c 21c 30c 50W → S(50) = 0 → 50
    assert s.loc["bob", "median_days_to_win"] == 50


def test_km_with_window_is_left_truncated(snap):
    cyc = metrics.cycle_length(snap, since="2024-02-01")
    # in: open D5 D6 D8 D10 and closed since Feb 1 D2 (40W), D4 (10c), D7 (50W).
    # D2 was 31 days old on Feb 1 and D7 21: they are at risk only from those ages on.
    # t=40 at risk: D2, D7, D8 (45) → S = 2/3 (D5's 30 < 40); t=50: D7 → S = 0.
    assert cyc.curves["n_at_risk"].tolist() == [3, 1]
    assert cyc.curves["surv_prob"].tolist() == pytest.approx([2 / 3, 0.0])
    r = _row(cyc.summary)
    assert (r.n_deals, r.n_won, r.median_days_to_win) == (7, 2, 50)
    assert r.mean_won_cycle_days == 45


def test_km_group_without_wins(snap):
    # ent has no wins: no curve, median undefined
    cyc = metrics.cycle_length(snap, by="segment")
    ent = _row(cyc.summary, "ent")
    assert ent.n_won == 0 and math.isnan(ent.median_days_to_win)
    assert set(cyc.curves["group"]) == {"smb"}


def test_deal_lifetime(snap):
    r = _row(metrics.deal_lifetime(snap))
    # closed: 20, 40, 30, 10, 50 → 30; won (20 + 40 + 50) / 3; lost (30 + 10) / 2 = 20
    assert r.mean_lifetime_days == 30
    assert r.mean_won_lifetime_days == pytest.approx(110 / 3)
    assert r.mean_lost_lifetime_days == 20
    # open ages 30, 10, 45, 21 → 26.5
    assert r.mean_open_age_days == 26.5


def test_velocity(snap):
    v = _row(metrics.pipeline_velocity(snap))
    # 4 open × 0.6 × 1000/3 / (110/3 days) = 800 / 36.667 = 21.818 per day
    assert v.velocity_per_day == pytest.approx(800 / (110 / 3))
    assert v.velocity_per_month == pytest.approx(800 / (110 / 3) * 30.44)
    km = _row(metrics.pipeline_velocity(snap, cycle="km_median"))
    assert km.cycle_days == 50 and km.velocity_per_day == pytest.approx(16.0)
    # ent: win rate 0 → velocity 0; no won deal size → NaN
    ent = _row(metrics.pipeline_velocity(snap, by="segment"), "ent")
    assert math.isnan(ent.velocity_per_day)


# --------------------------------------------------------------------------- funnel, stale


def test_funnel_by_hand(snap):
    f = metrics.funnel(snap).set_index("stage")
    # furthest stage: D1 c won, D2 c won, D3 b lost, D4 a lost, D5 b open, D6 a open,
    # D7 c won (skipped b: still counts as having reached b), D8 c open, D10 a open
    cols = ["reached", "advanced", "won", "lost", "still_open"]
    assert f.loc["a", cols].tolist() == [9, 6, 0, 1, 2]
    assert f.loc["b", cols].tolist() == [6, 4, 0, 1, 1]
    assert f.loc["c", cols].tolist() == [4, 0, 3, 0, 1]
    # conversion: advanced / (advanced + won + lost): a 6/7, b 4/5, c (last) NaN
    assert f.loc["a", "conversion_to_next"] == pytest.approx(6 / 7)
    assert f.loc["b", "conversion_to_next"] == pytest.approx(4 / 5)
    assert math.isnan(f.loc["c", "conversion_to_next"])
    # win rate from stage: a 3/(3+2), b 3/(3+1) (D3 lost after b), c 3/3
    assert f["win_rate_from_stage"].tolist() == pytest.approx([0.6, 0.75, 1.0])


def test_funnel_window_and_groups(snap):
    # created since Mar 1: D5 (b open), D6 (a open), D10 (a open)
    f = metrics.funnel(snap, since="2024-03-01").set_index("stage")
    assert f["reached"].tolist() == [3, 1, 0]
    # a: D5 advanced, D6 and D10 undecided → 1/1; b: D5 still open → undefined
    assert f.loc["a", "conversion_to_next"] == 1.0
    assert math.isnan(f.loc["b", "conversion_to_next"])
    assert f["win_rate_from_stage"].isna().all()  # nothing closed yet
    g = metrics.funnel(snap, by="owner")
    assert len(g) == 2 * len(STAGES)
    alice = g[g["group"] == "alice"].set_index("stage")
    # alice: D1 c won, D2 c won, D5 b open, D8 c open
    assert alice["reached"].tolist() == [4, 4, 3]


def test_stage_thresholds(snap):
    t = metrics.stage_time_thresholds(snap).set_index("stage")
    # won spells (days): D1 a5 b5 c10, D2 a10 b20 c10, D7 a10 c40
    # P90 (linear): a [5, 10, 10] → 10; b [5, 20] → 5 + 0.9·15 = 18.5;
    # c [10, 10, 40] → position 1.8 → 10 + 0.8·30 = 34
    assert t["n_won_spells"].tolist() == [3, 2, 3]
    assert t["threshold_days"].tolist() == pytest.approx([10.0, 18.5, 34.0])


def test_stale_flagging(snap):
    s = metrics.stale_deals(snap)
    # open: D5 b 25 > 18.5 (stale, +6.5); D6 a 10, not > 10; D8 c 30 ≤ 34; D10 a 21 > 10 (+11)
    assert s["deal_id"].tolist() == ["D10", "D5"]
    assert s["excess_days"].tolist() == [11, 6.5]
    assert s.loc[1, ["owner", "stage", "days_in_stage", "threshold_days", "amount"]].tolist() \
        == ["alice", "b", 25, 18.5, 500]


def test_stale_without_won_deals_in_stage(snap):
    # won since Mar 1: only D7 (a 10, c 40): no threshold for b → D5 not flagged
    t = metrics.stage_time_thresholds(snap, since="2024-03-01").set_index("stage")
    assert math.isnan(t.loc["b", "threshold_days"])
    s = metrics.stale_deals(snap, since="2024-03-01")
    assert s["deal_id"].tolist() == ["D10"]


def test_stale_group_thresholds(snap):
    # alice's own won deals D1, D2: a [5, 10] → 9.5, b [5, 20] → 18.5, c [10, 10] → 10;
    # bob's D7: a [10] → 10, b none, c [40] → 40.
    # D5 (alice, b 25 > 18.5) stale; D8 (alice, c 30 > 10) now stale too (pooled c: 34);
    # D6 (bob, a 10) not; D10 (bob, a 21 > 10) stale
    s = metrics.stale_deals(snap, by="owner", group_thresholds=True)
    assert s["deal_id"].tolist() == ["D8", "D10", "D5"]  # excess 20, 11, 6.5
    assert s["group"].tolist() == ["alice", "bob", "alice"]
    assert s["threshold_days"].tolist() == [10.0, 10.0, 18.5]


# --------------------------------------------------------------------------- coverage


@pytest.fixture(scope="module")
def mid_march(dataset):
    # at Mar 15: open D5 (500, alice), D8 (250, alice), D10 (120, bob);
    # won in Q1: D1 100 + D2 300 (alice), D7 600 (bob)
    return build_snapshot(dataset, "2024-03-15")


def test_coverage_by_owner(mid_march):
    c = coverage.coverage(mid_march, "2024-Q1", by="owner").set_index("group")
    # alice: quota 1000 − won 400 = 600; pipeline 750 → 1.25
    assert c.loc["alice", ["quota", "won_in_period", "remaining_quota", "pipeline_amount"]] \
        .tolist() == [1000, 400, 600, 750]
    assert c.loc["alice", "coverage"] == pytest.approx(1.25)
    # bob: no Q1 row → 3 × 300 = 900; remaining 300; pipeline 120 → 0.4
    assert c.loc["bob", "quota"] == 900
    assert c.loc["bob", "coverage"] == pytest.approx(0.4)


def test_coverage_by_team_and_total(mid_march):
    c = coverage.coverage(mid_march, "2024-Q1", by="team").set_index("group")
    # east has its own row 2000: (2000 − 400) → 750 / 1600; west = bob's 900 → 120 / 300
    assert c.loc["east", "coverage"] == pytest.approx(750 / 1600)
    assert c.loc["west", "coverage"] == pytest.approx(0.4)
    # no total row: 2000 + 900 = 2900; won 1000; pipeline 870
    t = _row(coverage.coverage(mid_march, "2024-Q1"))
    assert (t.quota, t.remaining_quota) == (2900, 1900)
    assert t.coverage == pytest.approx(870 / 1900)
    total = pd.DataFrame({"owner": ["total"], "period": ["2024-Q1"], "quota": [1500.0]})
    t = _row(coverage.coverage(mid_march, "2024-Q1", quotas=total))
    assert t.coverage == pytest.approx(870 / 500)


def test_coverage_quota_met_and_expected_only(mid_march):
    c = coverage.coverage(mid_march, "2024-03", by="owner").set_index("group")
    # bob: March quota 300, won D7 600 → met, coverage undefined; alice: no March quota
    assert bool(c.loc["bob", "quota_met"]) and math.isnan(c.loc["bob", "coverage"])
    assert math.isnan(c.loc["alice", "quota"]) and not c.loc["alice", "quota_met"]
    e = coverage.coverage(mid_march, "2024-Q1", by="owner", expected_only=True).set_index("group")
    # expected by Mar 31: D5 (03-20) and D10 (02-28, overdue); not D8 (05-15)
    assert e.loc["alice", "pipeline_amount"] == 500
    assert e.loc["bob", "pipeline_amount"] == 120
    with pytest.raises(ValueError):
        coverage.coverage(mid_march, "2024-Q1", by="segment")


# --------------------------------------------------------------------------- summary, misc


def test_pipeline_summary(snap):
    s = metrics.pipeline_summary(snap, by="owner").set_index("group")
    assert list(s.index) == ["alice", "bob"]
    a, b = s.loc["alice"], s.loc["bob"]
    assert (a.n_open, a.n_won, a.n_lost, a.median_days_to_win, a.n_stale) == (2, 2, 0, 40, 1)
    assert (b.n_open, b.n_leads, b.n_stale, b.stale_amount) == (2, 2, 1, 120)
    total = _row(metrics.pipeline_summary(snap))
    assert (total.n_open, total.win_rate, total.n_stale) == (4, pytest.approx(0.6), 2)


def test_inputs_not_mutated(dataset):
    before = dataset.deals.copy()
    snap = build_snapshot(dataset, AS_OF)
    deals_before, spells_before = snap.deals.copy(), snap.spells.copy()
    metrics.pipeline_summary(snap, by="team", since="2024-02-01")
    metrics.funnel(snap, by="segment")
    coverage.coverage(snap, "2024-Q1", by="team")
    pd.testing.assert_frame_equal(dataset.deals, before)
    pd.testing.assert_frame_equal(snap.deals, deals_before)
    pd.testing.assert_frame_equal(snap.spells, spells_before)


def test_bad_arguments(snap):
    with pytest.raises(ValueError):
        metrics.deal_counts(snap, by="region")
    with pytest.raises(ValueError):
        metrics.deal_counts(snap, since="2024-04-01")
    with pytest.raises(ValueError):
        metrics.pipeline_velocity(snap, cycle="mean")


def test_plots_render(snap):
    from simulations.plots import metrics as plots

    axes = [
        plots.plot_funnel(metrics.funnel(snap, by="owner")),
        plots.plot_cycle_survival(metrics.cycle_length(snap, by="owner")),
        plots.plot_win_rates(metrics.win_rates(snap, by="owner")),
        plots.plot_stale(metrics.stale_deals(snap)),
        plots.plot_stale(metrics.stale_deals(snap).iloc[0:0]),
    ]
    for ax in axes:
        buf = io.BytesIO()
        ax.figure.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- periods


def test_period_bounds():
    ts = pd.Timestamp
    assert period_bounds("2024-02") == (ts("2024-02-01"), ts("2024-02-29"))
    assert period_bounds("2023-02") == (ts("2023-02-01"), ts("2023-02-28"))
    assert period_bounds("2024-Q1") == (ts("2024-01-01"), ts("2024-03-31"))
    assert period_bounds("2023-q4") == (ts("2023-10-01"), ts("2023-12-31"))
    for bad in ("2024-13", "2024-Q5", "24-01", "2024/01", ""):
        with pytest.raises(ValueError):
            period_bounds(bad)


def test_month_periods():
    # as_of on a month end: the next month comes first
    assert month_periods("2024-01-31", 3) == ["2024-02", "2024-03", "2024-04"]
    assert month_periods("2024-02-29", 1) == ["2024-03"]
    assert month_periods("2024-12-31", 2) == ["2025-01", "2025-02"]
    # mid-month: the rest of the as_of month is the first period
    assert month_periods("2024-01-15", 2) == ["2024-01", "2024-02"]
    assert month_periods("2024-12-30", 2) == ["2024-12", "2025-01"]
    assert month_periods(pd.Timestamp("2024-03-01"), 0) == []
    with pytest.raises(ValueError):
        month_periods("2024-01-31", -1)


def test_quarters():
    assert [quarter_of(f"2024-{m:02d}") for m in range(1, 13)] == \
        ["2024-Q1"] * 3 + ["2024-Q2"] * 3 + ["2024-Q3"] * 3 + ["2024-Q4"] * 3
    assert quarter_of(pd.Timestamp("2025-11-30")) == "2025-Q4"
    assert quarter_of("2024-Q2") == "2024-Q2"
    assert months_of("2024-Q3") == ["2024-07", "2024-08", "2024-09"]
    assert months_of("2024-05") == ["2024-05"]
    assert np.all(np.diff([period_bounds(m)[0].value for m in months_of("2024-Q1")]) > 0)


def test_quarter_linearity_and_the_reports_caution_by_hand():
    from types import SimpleNamespace

    from pipecast.report_tables import linearity_caution

    def won(day, amount):
        return {"status": "won", "closed_at": pd.Timestamp(day), "amount": amount,
                "created_at": pd.Timestamp("2023-12-01")}

    deals = pd.DataFrame([
        won("2024-01-10", 100.0), won("2024-02-10", 200.0), won("2024-03-30", 700.0),
        won("2024-04-02", 150.0), won("2024-05-02", 250.0), won("2024-06-02", 600.0),
        won("2024-07-02", 999.0),  # Q3 has not ended by as_of: left out
        {"status": "lost", "closed_at": pd.Timestamp("2024-01-05"), "amount": 5000.0,
         "created_at": pd.Timestamp("2023-12-01")},
    ])
    snap = SimpleNamespace(deals=deals, as_of=pd.Timestamp("2024-08-15"))
    lin = metrics.quarter_linearity(snap)
    assert list(lin["quarter"]) == ["2024-Q1", "2024-Q2"]
    assert lin["booked"].tolist() == [1000.0, 1000.0]
    assert lin[["share_1", "share_2", "share_3"]].iloc[0].tolist() == [0.1, 0.2, 0.7]
    assert lin[["won_1", "won_2", "won_3"]].iloc[1].tolist() == [1, 1, 1]
    # a quarter that began before the data's first deal is not full: left out
    late = SimpleNamespace(deals=deals.assign(created_at=pd.Timestamp("2024-01-02")),
                           as_of=pd.Timestamp("2024-08-15"))
    assert list(metrics.quarter_linearity(late)["quarter"]) == ["2024-Q2"]
    # ends on a quarter's last day: that quarter counts
    assert metrics.quarter_linearity(SimpleNamespace(
        deals=deals, as_of=pd.Timestamp("2024-06-30")))["quarter"].iloc[-1] == "2024-Q2"
    caution = linearity_caution(lin)
    assert caution is not None and "12% / 22% / 65%" in caution and "2 full quarters" in caution
    assert "calendar: true" in caution
    assert linearity_caution(lin, calendar=True) is None  # the model learns the pattern
    flat = lin.assign(share_1=1 / 3, share_2=1 / 3, share_3=1 / 3)
    assert linearity_caution(flat) is None
    assert linearity_caution(lin.head(1)) is None  # one quarter is no pattern
    mixed = pd.concat([lin, lin.assign(share_1=0.7, share_3=0.1)] * 1, ignore_index=True)
    assert linearity_caution(mixed) is None  # the last month leads in half the quarters


def test_quarter_linearity_sees_the_generators_calendar():
    from forecast.data.snapshot import build_snapshot
    from pipecast.report_tables import linearity_caution
    from simulations.synthetic.generator import GeneratorConfig, generate

    def caution(config):
        ds = generate(config, 3).to_dataset()
        return linearity_caution(metrics.quarter_linearity(build_snapshot(ds, "2026-09-30")))

    assert caution(GeneratorConfig.quarter_end()) is not None
    assert caution(GeneratorConfig()) is None
