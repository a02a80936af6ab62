"""The months' own variation: cells by month, expected counts by hand, the spread's posterior
on counts with known truth, and the engine's fresh month effects (fast)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest
from test_calendar import random_spells

from benchmarks.engine_inputs import realistic_inputs
from forecast.data.cells import CellTable, build_cells, month_slot_and_change
from forecast.data.periods import quarter_slot
from forecast.models.month_variation import (
    MonthCounts,
    log_marginal,
    month_counts,
    month_sigma_draws,
)
from forecast.posterior import FlowPosterior
from simulations.engine import simulate as E
from simulations.engine.calendar import (
    calendar_weeks,
    month_keys,
    month_shocks,
    slot_day_shares,
    with_month_shocks,
)
from simulations.engine.horizon import make_horizon

FIRST = np.datetime64("2023-01", "M")


def test_cells_by_month_sum_to_the_calendar_cells_and_count_by_week_start():
    rng = np.random.default_rng(5)
    spells = random_spells(rng, 500)
    codes = (rng.integers(0, 3, len(spells)), np.zeros(len(spells), dtype=np.int64),
             rng.integers(0, 2, len(spells)))
    sizes = dict(n_stages=3, n_owners=3, n_segments=1, n_patterns=2)
    by_slot = build_cells(spells, *codes, **sizes, calendar=True, fiscal_year_start=2)
    by_month = build_cells(spells, *codes, **sizes, calendar=True, fiscal_year_start=2,
                           first_month=FIRST)
    assert by_month.n_cells > by_slot.n_cells
    summed = by_month.to_frame().assign(slot=by_month.slot % 4)
    cols = ["stage", "bucket", "owner", "segment", "pattern", "slot"]
    pd = pytest.importorskip("pandas")
    got = summed.groupby(cols).sum().reset_index()
    expected = by_slot.to_frame().sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # stay weeks per month, one deal-week at a time (week w starts on start + 7w)
    stays: dict[int, int] = defaultdict(int)
    for row in spells.itertuples(index=False):
        days = max((row.end - row.start).days, 0)
        k = (days + 1) // 7 if row.outcome == "censored" else days // 7
        for w in range(k):
            day = np.datetime64(row.start.date()) + 7 * w
            stays[int((day.astype("datetime64[M]") - FIRST).astype(int))] += 1
    month = by_month.slot // 4
    assert {m: int(by_month.counts[month == m, 0].sum()) for m in np.unique(month)
            if by_month.counts[month == m, 0].sum()} == dict(stays)
    code, _ = month_slot_and_change(np.array(["2023-03-25"], dtype="datetime64[D]"), FIRST, 2)
    assert code.tolist() == [4 * 2 + int(quarter_slot(np.array(["2023-03-25"],
                                                                dtype="datetime64[D]"), 2)[0])]


def _flow(a_won: float, a_lost: float, n_draws: int = 4, calendar=None) -> FlowPosterior:
    a = np.zeros((n_draws, 3, 1))
    a[:, 0], a[:, 1], a[:, 2] = -50.0, a_won, a_lost  # one stage: no advancing
    return FlowPosterior(a=a, dur=np.zeros((n_draws, 3, 8)),
                         owner_eff=np.zeros((n_draws, 3, 1)),
                         segment_eff=np.zeros((n_draws, 3, 1)),
                         sigma_owner=np.zeros((n_draws, 3)), beta_cat=[],
                         beta_num=np.zeros((n_draws, 0)), calendar=calendar)


def test_expected_counts_by_hand():
    from forecast.data.covariates import CovariateSpec

    # month 0: 100 complete deal-weeks and a part-week of 3 days; month 2: 50 deal-weeks
    counts = np.array([[80, 0, 15, 5], [40, 0, 6, 4]])
    partial = np.zeros((2, 6), dtype=np.int64)
    partial[0, 2] = 1
    cells = CellTable(stage=np.zeros(2, dtype=np.int64), bucket=np.zeros(2, dtype=np.int64),
                      owner=np.zeros(2, dtype=np.int64), segment=np.zeros(2, dtype=np.int64),
                      pattern=np.zeros(2, dtype=np.int64), counts=counts, partial=partial,
                      n_stages=1, n_owners=1, n_segments=1, n_patterns=1, n_slots=12,
                      slot=np.array([0 * 4 + 1, 2 * 4 + 3]))
    cal = np.zeros((4, 3, 4))
    cal[:, 1, 3] = np.log(2.0)  # won odds doubled in the last two weeks
    flow = _flow(np.log(0.1), np.log(0.05), calendar=cal)
    got = month_counts(cells, FIRST, flow, CovariateSpec(), np.zeros((1, 0)))
    # from the month after the first close (month 0, 2023-01): an export may record the
    # first month with closes in part, and the months before none at all
    assert got.months == ("2023-02", "2023-03")
    p0 = np.array([0.1, 0.05]) / 1.15
    p2 = np.array([0.2, 0.05]) / 1.25
    np.testing.assert_allclose(got.expected[1, 1:], 50 * p2)
    assert got.expected[0].sum() == 0 and got.expected[:, 0].sum() == pytest.approx(0)
    np.testing.assert_array_equal(got.observed[:, 1:], [[0, 0], [6, 4]])
    # month 0 by hand, as the month after an earlier close
    earlier = replace(cells, slot=cells.slot + 4, counts=np.vstack([counts, [[10, 0, 1, 0]]]),
                      partial=np.vstack([partial, np.zeros((1, 6), dtype=np.int64)]),
                      stage=np.zeros(3, dtype=np.int64), bucket=np.zeros(3, dtype=np.int64),
                      owner=np.zeros(3, dtype=np.int64), segment=np.zeros(3, dtype=np.int64),
                      pattern=np.zeros(3, dtype=np.int64))
    earlier = replace(earlier, slot=np.array([1 * 4 + 1, 3 * 4 + 3, 0]))
    again = month_counts(earlier, FIRST, flow, CovariateSpec(), np.zeros((1, 0)))
    assert again.months[0] == "2023-02"
    np.testing.assert_allclose(again.expected[0, 1:], (100 + 3 / 7) * p0)
    np.testing.assert_array_equal(again.observed[0, 1:], [15, 5])


def _counts(sigma: float, n_months: int, expected: float, rng) -> MonthCounts:
    e = np.full((n_months, 3), expected)
    eps = rng.normal(0.0, sigma, (n_months, 3))
    return MonthCounts(months=tuple(str(FIRST + i) for i in range(n_months)),
                       observed=rng.poisson(e * np.exp(eps)).astype(float), expected=e)


def test_the_spread_is_recovered_from_counts_with_known_truth():
    """Months with ~150 expected events and a true spread of 0.15: the truth inside the 94%
    interval in most of 40 datasets; none far outside."""
    inside = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        draws = month_sigma_draws(_counts(0.15, 36, 150.0, rng), 2000, rng)
        assert draws.shape == (2000, 3) and not draws[:, 0].any()
        lo, hi = np.quantile(draws[:, 1], [0.03, 0.97])
        inside += lo <= 0.15 <= hi
        assert 0.02 < np.median(draws[:, 1]) < 0.35
    assert inside >= 34  # 94% of 40 is 37.6; binomial 5% tail at 34


def test_no_variation_gives_a_spread_near_zero():
    rng = np.random.default_rng(1)
    draws = month_sigma_draws(_counts(0.0, 36, 150.0, rng), 4000, rng)
    assert draws[:, 1:].mean() < 0.05 and np.quantile(draws[:, 1:], 0.97) < 0.12


def test_marginal_likelihood_is_the_poisson_one_at_zero_spread():
    from scipy import stats

    obs, exp = np.array([3.0, 10.0, 0.0]), np.array([4.0, 8.5, 0.7])
    got = log_marginal(obs, exp, np.array([1e-9, 0.5]))
    assert got[0] == pytest.approx(stats.poisson.logpmf(obs, exp).sum(), rel=1e-9)
    # σ = 0.5 by brute-force integration over z
    z = np.linspace(-9, 9, 20001)
    dens = stats.norm.pdf(z)
    lik = [np.trapezoid(stats.poisson.pmf(o, e * np.exp(0.5 * z)) * dens, z)
           for o, e in zip(obs, exp, strict=True)]
    assert got[1] == pytest.approx(np.log(lik).sum(), rel=1e-6)


# ------------------------------------------------------------------ the engine
@pytest.fixture(scope="module")
def inputs():
    return realistic_inputs(200, n_posterior=3, months=3, as_of="2026-10-31", seed=2)


def test_month_shocks_depend_on_the_seed_draw_and_month_only(inputs):
    sigma = np.array([[0.0, 0.2, 0.3]] * 5)
    keys = month_keys(["2026-11", "2026-12", "2027-01"])
    assert keys.tolist() == [12 * 2026 + 10, 12 * 2026 + 11, 12 * 2027]
    a = month_shocks(sigma, keys, seed=4)
    np.testing.assert_array_equal(a[:2], month_shocks(sigma[:2], keys, seed=4))
    # a month has its effect whatever the months around it (another as_of, same seed)
    np.testing.assert_array_equal(a[:, 1:], month_shocks(sigma, keys[1:], seed=4))
    assert not a[:, :, 0].any() and a[:, :, 1].std() > 0
    assert not np.array_equal(a, month_shocks(sigma, keys, seed=5))
    hz = inputs.horizon
    week = with_month_shocks(None, sigma, hz, seed=4)
    assert week.shape == (5, calendar_weeks(hz.days), 3)
    # the first week of November takes November's effect, the first of December December's
    np.testing.assert_array_equal(week[:, 0], a[:, 0])
    np.testing.assert_array_equal(week[:, 5], a[:, 1])
    later = with_month_shocks(None, sigma, make_horizon("2026-11-30", 2), seed=4)
    np.testing.assert_array_equal(later[:, 0], a[:, 1])  # December again


def test_slot_day_shares():
    shares = slot_day_shares()
    assert shares.sum() == pytest.approx(1.0)
    # months 1 and 2 of a quarter ~30.4 days each, month 3 less its last 14 days ~16.4
    np.testing.assert_allclose(shares * 365.25 / 4, [30.4, 30.1, 16.8, 14.0], atol=0.4)


def test_hired_reps_share_the_runs_months():
    """A scenario's hired reps are simulated apart from the others: both parts must meet the
    same good and bad months (one draw from the run's seed), or the scenario's months would
    vary less than the model says."""
    from test_scenarios import run_one, toy_inputs

    from simulations.engine.simulate import with_run_months

    base = replace(toy_inputs(), month_sigma=np.tile([0.0, 0.8, 0.8], (6, 1)))
    drawn = with_run_months(base, 3)
    assert drawn.month_sigma is None and drawn.week_effect is not None
    hire = {"hire": {"count": 2, "team": "west", "start": "2026-11"}}
    got = run_one(base, hire, draws=60, seed=3)
    again = run_one(drawn, hire, draws=60, seed=3)  # the months fixed before: the same run
    assert np.array_equal(got.revenue, again.revenue)
    # and the baseline owners' paths are the baseline run's
    plain = E.simulate(base, 60, seed=3)
    assert np.array_equal(got.revenue[:, :, :3], plain.revenue)


def test_month_variation_in_the_engine(inputs):
    zero = replace(inputs, month_sigma=np.zeros((inputs.n_posterior, 3)))
    plain = E.simulate(inputs, 300, seed=2).revenue.sum(axis=2)
    np.testing.assert_allclose(E.simulate(zero, 300, seed=2).revenue.sum(axis=2), plain,
                               rtol=1e-9)
    wide = replace(inputs, month_sigma=np.tile([0.0, 0.6, 0.6], (inputs.n_posterior, 1)))
    ref = E.simulate(wide, 40, seed=3, threads=1, chunk_size=40)
    for threads, chunk in [(2, 7), (3, None)]:
        again = E.simulate(wide, 40, seed=3, threads=threads, chunk_size=chunk)
        assert np.array_equal(ref.revenue, again.revenue)

    # a good or bad month for every deal at once: the months vary more (a month's effect is
    # drawn per posterior draw and run, so many draws are needed to see its spread)
    many = realistic_inputs(200, n_posterior=150, months=3, as_of="2026-10-31", seed=2)
    plain = E.simulate(many, 600, seed=2).revenue.sum(axis=2)
    spread = E.simulate(replace(many, month_sigma=np.tile([0.0, 0.6, 0.6], (150, 1))), 600,
                        seed=2).revenue.sum(axis=2)
    assert (spread.std(axis=0) > 1.2 * plain.std(axis=0)).all()
