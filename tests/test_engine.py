"""Monte Carlo engine: degenerate cases by hand, an analytic check, seeding invariants."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.data.cells import DURATION_EDGES_WEEKS
from simulations.engine.horizon import make_horizon
from simulations.engine.inputs import FORCE_LOST, FORCE_WON, DealBook, SimulationInputs
from simulations.engine.simulate import simulate

N_B = len(DURATION_EDGES_WEEKS)
BIG = 40.0
LOG100 = float(np.log(100.0))


def make_inputs(amounts, stage=None, won_logit=-BIG, adv_logit=-BIG, lost_logit=-BIG,
                n_stages=2, arrivals=0.0, as_of="2024-06-30", months=3, n_post=1,
                size_mu=LOG100, size_sigma=0.0):
    n = len(amounts)
    a = np.zeros((n_post, 3, n_stages))
    a[:, 0], a[:, 1], a[:, 2] = adv_logit, won_logit, lost_logit
    hz = make_horizon(as_of, months)
    book = DealBook(
        deal_id=np.array([f"D{i}" for i in range(n)], dtype=object),
        owner=np.arange(n) % 2, segment=np.zeros(n, dtype=np.int64),
        xb=np.zeros(n, dtype=np.int64), stage=np.zeros(n, dtype=np.int64) if stage is None
        else np.asarray(stage), week=np.zeros(n, dtype=np.int64), part=np.zeros(n, dtype=np.int64),
        amount=np.asarray(amounts, dtype=float), override=np.zeros(n, dtype=np.int8),
        forced_day=np.zeros(n, dtype=np.int64), delay_days=np.zeros(n, dtype=np.int64))
    return SimulationInputs(
        horizon=hz, owners=("ann", "bob"), teams={"ann": "east", "bob": "east"},
        segments=("all",), stages=tuple(f"s{i}" for i in range(n_stages)), deals=book,
        a=a, dur=np.zeros((n_post, 3, N_B)), owner_eff=np.zeros((n_post, 3, 2)),
        segment_eff=np.zeros((n_post, 3, 1)), xb=np.zeros((n_post, 1)),
        arr_b0=np.full(n_post, np.log(arrivals) if arrivals > 0 else -BIG),
        arr_owner_eff=np.zeros((n_post, 2)), season=np.zeros((n_post, 12)),
        alpha=np.full(n_post, 1e6), arrival_multiplier=np.ones((2, months)),
        segment_mix=np.ones((n_post, 2, 1)), entry_stage=np.tile([1.0] + [0.0] * (n_stages - 1),
                                                                 (n_post, 1)),
        size_mu=np.full((n_post, 1), size_mu), size_sigma=np.full((n_post, 1), size_sigma),
        ratio_mu=np.zeros(n_post), ratio_sigma=np.zeros(n_post))


def test_all_deals_certain_to_win_give_the_sum_of_amounts_in_month_one():
    amounts = [100.0, 250.0, 1000.0, 5.5]
    res = simulate(make_inputs(amounts, won_logit=BIG), n_draws=50, seed=1)
    assert np.allclose(res.total()[:, 0], sum(amounts))
    assert np.all(res.total()[:, 1:] == 0)
    # by owner: deals alternate ann/bob
    assert np.allclose(res.revenue[:, 0, 0], 100 + 1000)
    assert np.allclose(res.revenue[:, 0, 1], 250 + 5.5)


def test_all_deals_certain_to_lose_give_zero():
    res = simulate(make_inputs([100.0, 200.0], lost_logit=BIG), n_draws=20, seed=1)
    assert np.all(res.revenue == 0)


def test_deals_pass_through_stages_before_winning():
    # certain to advance from stage 0, certain to win in stage 1: one week each → month 1
    inputs = make_inputs([10.0, 20.0], adv_logit=BIG)
    a = inputs.a.copy()
    a[:, 1, 1] = BIG  # won from the last stage
    from dataclasses import replace

    res = simulate(replace(inputs, a=a), n_draws=10, seed=3, keep_deal_outcomes=True)
    assert np.allclose(res.total()[:, 0], 30.0)
    assert np.all(res.deal_month == 0)


def test_weekly_hazard_matches_the_geometric_law():
    # constant weekly win probability q, nothing else: P(won within w weeks) = 1 − (1 − q)^w
    q = 0.1
    inputs = make_inputs([1.0] * 2000, won_logit=np.log(q / (1 - q)), months=1)
    res = simulate(inputs, n_draws=20, seed=5, keep_deal_outcomes=True)
    days = inputs.horizon.days  # July: 31 days → 4 full weeks + 3 days
    won = (res.deal_month == 0).mean()
    full, rest = divmod(days, 7)
    expected = 1 - (1 - q) ** full * (1 - q * rest / 7)  # uniform day within the week
    se = np.sqrt(expected * (1 - expected) / res.deal_month.size)
    assert abs(won - expected) < 4 * se


def test_forced_outcomes_and_delays():
    from dataclasses import replace

    inputs = make_inputs([100.0, 200.0, 300.0], won_logit=BIG)
    book = replace(inputs.deals, override=np.array([FORCE_LOST, FORCE_WON, 0], dtype=np.int8),
                   forced_day=np.array([0, 40, 0]), delay_days=np.array([0, 0, 70]))
    res = simulate(replace(inputs, deals=book), n_draws=5, seed=2, keep_deal_outcomes=True)
    assert np.all(res.deal_month[:, 0] == -1)      # forced lost
    assert np.all(res.deal_month[:, 1] == 1)       # day 40 after 2024-06-30 → August
    assert np.all(res.deal_month[:, 2] == 2)       # won in week 1, slipped 70 days → September


def test_new_deals_arrive_at_the_expected_rate():
    # 20 deals per owner-month, each won within a week at amount 100 (no open deals)
    inputs = make_inputs([], won_logit=BIG, arrivals=20.0)
    res = simulate(inputs, n_draws=400, seed=9)
    per_month = res.new_revenue.sum(axis=2).mean(axis=0)
    # two owners × 20 deals × 100; the last week of a month spills into the next
    assert 3600 < per_month[1] < 4400
    assert np.allclose(res.revenue, res.new_revenue)


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_results_do_not_depend_on_chunk_size(chunk):
    inputs = make_inputs(np.linspace(10, 500, 40), won_logit=-2.0, adv_logit=-1.5,
                         lost_logit=-2.5, arrivals=3.0, n_post=5, size_sigma=0.5)
    ref = simulate(inputs, n_draws=30, seed=11, chunk_size=30, keep_deal_outcomes=True)
    res = simulate(inputs, n_draws=30, seed=11, chunk_size=chunk, keep_deal_outcomes=True)
    assert np.array_equal(ref.revenue, res.revenue)
    assert np.array_equal(ref.deal_month, res.deal_month)


def test_same_seed_same_numbers_other_seed_other_numbers():
    inputs = make_inputs(np.linspace(10, 500, 40), won_logit=-2.0, lost_logit=-2.5,
                         arrivals=3.0, size_sigma=0.5)
    a = simulate(inputs, n_draws=20, seed=1)
    b = simulate(inputs, n_draws=20, seed=1)
    c = simulate(inputs, n_draws=20, seed=2)
    assert np.array_equal(a.revenue, b.revenue)
    assert not np.array_equal(a.revenue, c.revenue)


def test_first_n_draws_do_not_depend_on_how_many_are_asked():
    inputs = make_inputs(np.linspace(10, 500, 40), won_logit=-2.0, lost_logit=-2.5,
                         arrivals=3.0, n_post=3)
    few = simulate(inputs, n_draws=10, seed=4)
    many = simulate(inputs, n_draws=25, seed=4)
    assert np.array_equal(few.revenue, many.revenue[:10])


def test_horizon_months():
    hz = make_horizon("2024-06-30", 3)
    assert hz.months == ("2024-07", "2024-08", "2024-09")
    assert hz.first_day.tolist() == [1, 32, 63] and hz.last_day.tolist() == [31, 62, 92]
    mid = make_horizon("2024-06-15", 2)
    assert mid.months == ("2024-06", "2024-07")
    assert mid.first_day.tolist() == [1, 16] and mid.last_day.tolist() == [15, 46]
    assert np.allclose(mid.fraction_of_month(), [0.5, 1.0])


def test_daily_win_times_match_the_generators_day_level_paths():
    """The engine's win-time CDFs against deals stepped day by day through the weekly
    chain by the synthetic generator (events on a uniform day of the week, next stage from
    that day). A weekly recursion that starts the next stage at a week boundary lags ~4 days
    per stage and halves P(won within 60 days) of a new deal; this catches it."""
    from forecast.data.cells import MAX_WEEK, duration_bucket
    from simulations.engine.reference import win_cdfs
    from simulations.synthetic.generator import GeneratorConfig, _simulate_paths

    cfg = GeneratorConfig()
    a = np.array(cfg.a)
    a[0, -1] = -np.inf
    dur = np.array(cfg.dur)

    class Params:  # the fields _simulate_paths reads: no calendar, month effects, drift or
        pass  # month of year

    params = Params()
    params.a, params.dur = a, dur
    params.calendar, params.month_eff, params.first_month = np.zeros((3, 4)), np.zeros((3, 1)), 0
    params.drift, params.first_quarter, params.moy = np.zeros((3, 1)), 0, np.zeros((3, 12))
    n = 200_000
    paths = _simulate_paths(params, np.zeros(n, dtype=np.int64), np.zeros((3, n)), 200,
                            np.random.default_rng(0))
    won_day = np.where(paths.status == 1, paths.closed, np.iinfo(np.int64).max)
    # first event in stage 0: advancing, or closing from it
    first = np.full(n, np.iinfo(np.int64).max)
    to_1 = paths.hist_stage == 1
    first[paths.hist_deal[to_1]] = paths.hist_day[to_1]
    closed_0 = (paths.status > 0) & (paths.stage == 0)
    first[closed_0] = np.minimum(first[closed_0], paths.closed[closed_0])

    eta = a[:, :, None] + dur[:, None, duration_bucket(np.arange(MAX_WEEK + 1))]
    ex = np.exp(eta)
    ex[0, -1] = 0.0
    den = 1.0 + ex.sum(axis=0)
    stay, adv, won = (x[None, None] for x in (1.0 / den, ex[0] / den, ex[1] / den))
    parts = np.arange(7)
    cells = (np.zeros(7, int), np.zeros(7, int), np.zeros(7, int), parts)
    open_cdf, new_cdf = win_cdfs(stay, adv, won, 150, cells, np.array([0]))
    for days in (20, 45, 60, 91, 150):
        emp = (won_day < days).mean()
        se = np.sqrt(emp * (1 - emp) / n)
        assert abs(new_cdf[0, 0, 0, days - 1] - emp) < 4 * se + 1e-4, days
    # a deal that has spent r days of its first week without an event
    for r in (1, 3, 6):
        alive = first >= r
        for days in (30, 91, 140):
            emp = (won_day[alive] < r + days).mean()
            se = np.sqrt(emp * (1 - emp) / alive.sum())
            assert abs(open_cdf[0, r, days - 1] - emp) < 4 * se + 1e-4, (r, days)
