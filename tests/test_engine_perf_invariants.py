"""The compiled engine against its numpy reference, and its invariances (fast)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import special, stats

from benchmarks.engine_inputs import realistic_inputs
from forecast.data.cells import MAX_WEEK
from simulations.engine import kernels as K
from simulations.engine import plan as P
from simulations.engine import reference as R
from simulations.engine import simulate as E
from simulations.engine.inputs import FORCE_LOST, FORCE_WON


@pytest.fixture(scope="module")
def inputs():
    return realistic_inputs(300, n_posterior=4, months=3, seed=3)


def reference_tables(inputs, plan, ps):
    """Win-time CDFs of the open cells and new-deal rows by the numpy reference."""
    stay, adv, won = R.hazards(inputs, ps, plan.g_owner, plan.g_segment, plan.g_xb)
    cell_group = np.repeat(np.arange(len(plan.g_owner)), np.diff(plan.cell_start))
    new_groups = np.flatnonzero(plan.new_row >= 0)
    open_cdf, new_cdf = R.win_cdfs(stay, adv, won, plan.days,
                                   (cell_group, plan.cell_stage, plan.cell_week, plan.cell_part),
                                   new_groups)
    return open_cdf, new_cdf[:, np.argsort(plan.new_row[new_groups])]


def test_compiled_win_tables_equal_the_numpy_recursion(inputs):
    plan = P.make_plan(inputs)
    ps = np.arange(inputs.n_posterior)
    n_s = len(inputs.stages)
    t_open = np.empty((len(ps), plan.n_cells, plan.days))
    t_last = np.empty((len(ps), plan.n_cells))
    t_new = np.empty((len(ps), plan.n_new_rows, n_s, plan.days))
    E.win_tables(inputs, plan, ps, K.WinTables(t_last, t_new, t_open))
    ref_open, ref_new = reference_tables(inputs, plan, ps)
    np.testing.assert_allclose(t_open, ref_open, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t_last, ref_open[..., -1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t_new, ref_new, rtol=1e-12, atol=1e-15)
    assert (np.diff(t_open, axis=-1) >= -1e-15).all()
    # cells at the last week (whose next week is itself) and part-weeks are there
    assert (plan.cell_week == MAX_WEEK).any() and (plan.cell_week < 4).any()
    assert set(plan.cell_part) == set(range(7))


def test_cov_sign_is_the_flow_models():
    from forecast.posterior import COV_SIGN

    assert np.array_equal(E._flow_draws(realistic_inputs(5, n_posterior=1)).cov_sign, COV_SIGN)


def test_normal_quantile_matches_scipy():
    p = np.concatenate([np.linspace(1e-6, 1 - 1e-6, 2001), [2.0**-53, 1e-300, 1e-20, 1e-10,
                                                            0.025, 0.5, 0.975, 1 - 2.0**-53]])
    got = np.array([K.ndtri(x) for x in p])
    np.testing.assert_allclose(got, special.ndtri(p), rtol=1e-13, atol=1e-13)


def test_threads_chunks_and_path_order_never_change_a_path(inputs):
    book = replace(inputs.deals, override=np.where(np.arange(300) % 17 == 0, FORCE_WON,
                                                   np.where(np.arange(300) % 19 == 0,
                                                            FORCE_LOST, 0)).astype(np.int8),
                   forced_day=np.full(300, 20), delay_days=np.where(np.arange(300) % 5 == 0,
                                                                   30, 0))
    inp = replace(inputs, deals=book)
    ref = E.simulate(inp, 23, seed=8, threads=1, chunk_size=23, keep_deal_outcomes=True)
    for threads, chunk in [(3, 5), (2, 1), (4, None)]:
        res = E.simulate(inp, 23, seed=8, threads=threads, chunk_size=chunk,
                         keep_deal_outcomes=True)
        assert np.array_equal(ref.revenue, res.revenue)
        assert np.array_equal(ref.new_revenue, res.new_revenue)
        assert np.array_equal(ref.deal_month, res.deal_month)
        assert np.array_equal(ref.deal_revenue, res.deal_revenue)
    paths = np.array([22, 3, 7, 0, 15])
    sub = E.simulate_paths(inp, paths, seed=8, keep_deal_outcomes=True)
    assert np.array_equal(sub.revenue, ref.revenue[paths])
    assert np.array_equal(sub.deal_month, ref.deal_month[paths])
    rest = np.setdiff1d(np.arange(23), paths)
    joined = E.assemble([(paths, sub), (rest, E.simulate_paths(inp, rest, seed=8,
                                                                keep_deal_outcomes=True))], 23)
    assert np.array_equal(joined.revenue, ref.revenue)
    assert np.array_equal(joined.deal_revenue, ref.deal_revenue)
    # forced outcomes hold in every path
    assert (ref.deal_month[:, book.override == FORCE_LOST] == -1).all()
    assert (ref.deal_month[:, book.override == FORCE_WON] == 0).all()


def test_table_batches_do_not_change_results(inputs, monkeypatch):
    ref = E.simulate(inputs, 12, seed=5)
    ref_absorbed = E.absorbed_by_horizon_end(inputs, threads=1)
    assert P.tables_per_batch(P.make_plan(inputs), len(inputs.stages)) >= inputs.n_posterior
    monkeypatch.setattr(P, "TABLE_BYTES", 1)  # one posterior draw per batch
    assert P.tables_per_batch(P.make_plan(inputs), len(inputs.stages)) == 1
    assert np.array_equal(ref.revenue, E.simulate(inputs, 12, seed=5).revenue)
    assert np.array_equal(ref_absorbed, E.absorbed_by_horizon_end(inputs, threads=1))


def test_open_deals_are_drawn_by_the_reference_inverse_cdf(inputs):
    """Each open deal's win month and booked amount in each path, recomputed by hand: its
    uniform from the path's documented stream, the first day whose reference CDF exceeds it
    (plus the deal's delay), and the log-normal ratio at the uniform left over."""
    book = replace(inputs.deals, delay_days=np.where(np.arange(300) % 4 == 0, 25, 0))
    inp = replace(inputs, deals=book)
    n, seed = 9, 4
    res = E.simulate(inp, n, seed=seed, keep_deal_outcomes=True)
    plan = P.make_plan(inp)
    ref_open, _ = reference_tables(inp, plan, np.arange(inp.n_posterior))
    day_month = inp.horizon.day_month()
    n_won = 0
    for i in range(n):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(i,))))
        u = np.empty(len(book.amount))
        u[plan.deal_order] = rng.random(len(u))   # one uniform per deal, in cell order
        p = i % inp.n_posterior
        cdf = ref_open[p, plan.deal_cell]
        offset = R.draw_day(cdf, u)
        day = np.where(offset > 0, offset + book.delay_days, 0)
        month = np.where((day > 0) & (day < len(day_month)),
                         day_month[np.minimum(day, len(day_month) - 1)], -1)
        assert np.array_equal(res.deal_month[i], month)
        won = month >= 0
        k = np.flatnonzero(won)
        t = offset[k] - 1
        hi = cdf[k, t]
        lo = np.where(t > 0, cdf[k, np.maximum(t - 1, 0)], 0.0)
        rest = np.clip((u[k] - lo) / (hi - lo), 0.0, 1.0 - 1e-12)
        booked = book.amount[k] * np.exp(inp.ratio_mu[p] + inp.ratio_sigma[p]
                                         * special.ndtri(rest))
        np.testing.assert_allclose(res.deal_revenue[i, k], booked, rtol=1e-9)
        assert (res.deal_revenue[i, ~won] == 0).all()
        n_won += len(k)
    assert n_won > 100


def test_open_deal_revenue_matches_its_expectation(inputs):
    """Mean simulated revenue per month = Σ amount · P(won in month) · E[booked ratio]."""
    inp = replace(inputs, arrival_multiplier=np.zeros_like(inputs.arrival_multiplier),
                  ratio_mu=np.full(inputs.n_posterior, -0.1),
                  ratio_sigma=np.full(inputs.n_posterior, 0.3))
    plan = P.make_plan(inp)
    n = 4000
    res = E.simulate(inp, n, seed=21, keep_deal_outcomes=True)
    assert np.all(res.new_revenue == 0)
    ref_open, _ = reference_tables(inp, plan, np.arange(inp.n_posterior))
    cdf = ref_open[:, plan.deal_cell]                          # (P, deals, days)
    p_day = np.diff(np.concatenate([np.zeros(cdf.shape[:2] + (1,)), cdf], axis=-1), axis=-1)
    hz = inp.horizon
    day_month = hz.day_month()[1: plan.days + 1]                # month of days 1..days
    share = (day_month[:, None] == np.arange(hz.n_months)[None, :]).astype(float)
    p_month = (p_day @ share).mean(axis=0)                      # (deals, months)
    expected = (inp.deals.amount[:, None] * p_month).sum(axis=0) * np.exp(-0.1 + 0.3**2 / 2)
    total = res.total()
    se = total.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(total.mean(axis=0) - expected) < 4 * se), (total.mean(0), expected)
    # the booked ÷ expected ratio of won deals is log-normal(−0.1, 0.3), whatever the timing
    won = res.deal_month >= 0
    log_ratio = np.log(res.deal_revenue[won] / np.broadcast_to(inp.deals.amount, won.shape)[won])
    assert abs(log_ratio.mean() + 0.1) < 0.01 and abs(log_ratio.std() - 0.3) < 0.01
    early = res.deal_month[won] == 0
    assert stats.ks_2samp(log_ratio[early], log_ratio[~early]).pvalue > 1e-3


def test_absorbed_by_horizon_end_is_the_reference_recursion(inputs):
    """Won (and closed) by the horizon's last day, per deal and posterior draw: the compiled
    tables against the numpy recursion, with won and with won + lost absorbing."""
    plan = P.make_plan(inputs)
    ps = np.arange(inputs.n_posterior)
    stay, adv, won = R.hazards(inputs, ps, plan.g_owner, plan.g_segment, plan.g_xb)
    cell_group = np.repeat(np.arange(len(plan.g_owner)), np.diff(plan.cell_start))
    cells = (cell_group, plan.cell_stage, plan.cell_week, plan.cell_part)
    for absorb_lost, absorbing in ((False, won), (True, 1.0 - stay - adv)):
        ref, _ = R.win_cdfs(stay, adv, absorbing, plan.days, cells, None)
        got = E.absorbed_by_horizon_end(inputs, absorb_lost=absorb_lost, threads=2)
        np.testing.assert_allclose(got, ref[:, plan.deal_cell, -1], rtol=1e-10, atol=1e-13)
    assert (E.absorbed_by_horizon_end(inputs, absorb_lost=True)
            >= E.absorbed_by_horizon_end(inputs) - 1e-12).all()
