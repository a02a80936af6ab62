"""Tests of simulations.evaluation.scoring: proper scores against closed forms and hand values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulations.evaluation.scoring import (
    abs_error,
    brier_score,
    crps_normal,
    crps_samples,
    interval_coverage,
    log_loss,
    pct_error,
    pinball_loss,
    pit,
    pit_histogram,
    reliability_table,
    score_forecast,
)


def brute_crps(x: np.ndarray, y: float) -> float:
    """CRPS of the empirical distribution by the O(n^2) definition."""
    return float(np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :])))


def test_crps_matches_quadratic_definition_exactly():
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 3.0, size=257)
    for y in (-1.0, 0.0, 4.2, 100.0):
        assert crps_samples(x, y) == pytest.approx(brute_crps(x, y), rel=1e-12, abs=1e-12)


def test_crps_fair_uses_unbiased_pair_term():
    x = np.array([0.0, 1.0, 3.0])
    pair = np.abs(x[:, None] - x[None, :]).sum()
    expected = np.mean(np.abs(x - 2.0)) - 0.5 * pair / (3 * 2)
    assert crps_samples(x, 2.0, fair=True) == pytest.approx(expected)


def test_crps_of_normal_sample_matches_closed_form():
    rng = np.random.default_rng(20240601)
    mu, sigma, n = 3.0, 2.0, 40_000
    for y in (3.0, 0.5, 8.0):
        # Monte Carlo error: replicate to estimate the sampling sd of the sample CRPS
        reps = np.array([crps_samples(rng.normal(mu, sigma, n), y) for _ in range(20)])
        exact = crps_normal(mu, sigma, y)
        mc_se = reps.std(ddof=1) / np.sqrt(len(reps))
        # the empirical CRPS is biased by E|X - X'| / (2n) = sigma / (sqrt(pi) n)
        bias = sigma / (np.sqrt(np.pi) * n)
        assert abs(reps.mean() - exact) < 4 * mc_se + bias + 1e-9


def test_crps_normal_hand_value_and_point_mass():
    # at y = mu: sigma * (2 phi(0) - 1/sqrt(pi)) = sigma * (sqrt(2) - 1) / sqrt(pi)
    assert crps_normal(0.0, 1.0, 0.0) == pytest.approx((np.sqrt(2) - 1) / np.sqrt(np.pi))
    assert crps_normal(1.0, 0.0, 4.0) == pytest.approx(3.0)
    out = crps_normal(np.zeros(3), np.ones(3), np.array([0.0, 1.0, -1.0]))
    assert out.shape == (3,)
    assert out[1] == pytest.approx(out[2])


def test_crps_point_mass_is_absolute_error():
    assert crps_samples(7.0, 3.0) == pytest.approx(4.0)
    assert crps_samples(np.full(50, 7.0), 10.0) == pytest.approx(3.0)
    point = np.array([[1.0], [5.0], [2.0]])
    np.testing.assert_allclose(crps_samples(point, [2.0, 2.0, 2.0]), [1.0, 3.0, 0.0])


def test_crps_two_dimensional_rows_are_independent_cases():
    rng = np.random.default_rng(3)
    s = rng.normal(size=(4, 300))
    y = np.array([0.0, 1.0, -2.0, np.nan])
    out = crps_samples(s, y)
    assert out.shape == (4,)
    for i in range(3):
        assert out[i] == pytest.approx(brute_crps(s[i], y[i]))
    assert np.isnan(out[3])


def test_shape_errors():
    with pytest.raises(ValueError, match="scalar y"):
        crps_samples(np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="n_cases"):
        crps_samples(np.ones((3, 5)), np.ones(4))
    with pytest.raises(ValueError, match="finite"):
        crps_samples(np.array([1.0, np.nan]), 0.0)


def test_pinball_loss_hand_values():
    samples = np.array([0.0, 1.0, 2.0, 3.0, 4.0])  # median 2, q10 = 0.4, q90 = 3.6
    assert pinball_loss(samples, 5.0, 0.5) == pytest.approx(0.5 * 3.0)
    assert pinball_loss(samples, 0.0, 0.5) == pytest.approx(0.5 * 2.0)
    assert pinball_loss(samples, 3.0, 0.1) == pytest.approx(0.1 * (3.0 - 0.4))
    assert pinball_loss(samples, 3.0, 0.9) == pytest.approx(0.1 * (3.6 - 3.0))
    # a point forecast is its own quantile
    assert pinball_loss(10.0, 4.0, 0.9) == pytest.approx(0.1 * 6.0)
    assert pinball_loss(10.0, 4.0, 0.1) == pytest.approx(0.9 * 6.0)
    assert 2 * pinball_loss(10.0, 4.0, 0.5) == pytest.approx(abs_error(10.0, 4.0))
    with pytest.raises(ValueError):
        pinball_loss(samples, 1.0, 1.0)


def test_interval_coverage_of_known_distribution():
    rng = np.random.default_rng(11)
    samples = rng.normal(size=20_000)
    assert interval_coverage(samples, 0.0, 0.5) == 1.0
    assert interval_coverage(samples, 1.0, 0.5) == 0.0  # q75 = 0.674
    assert interval_coverage(samples, 1.0, 0.8) == 1.0  # q90 = 1.28
    # calibrated: realised values from the same distribution are covered at the level
    n_cases = 4000
    ys = rng.normal(size=n_cases)
    fc = rng.normal(size=(n_cases, 400))
    for level in (0.5, 0.8):
        cov = interval_coverage(fc, ys, level)
        se = np.sqrt(level * (1 - level) / n_cases)
        assert abs(cov.mean() - level) < 4 * se + 0.01
    assert np.isnan(interval_coverage(np.ones((1, 3)), [np.nan], 0.8)[0])


def test_pit_uniform_for_calibrated_samples():
    rng = np.random.default_rng(20240615)
    n_cases = 2000
    mu = rng.normal(0, 5, n_cases)
    samples = mu[:, None] + rng.normal(size=(n_cases, 500))
    y = mu + rng.normal(size=n_cases)
    values = pit(samples, y, rng)
    assert stats.kstest(values, "uniform").pvalue > 0.01


def test_pit_randomises_ties():
    rng = np.random.default_rng(5)
    # a discrete forecast: half zeros; realised zero sits on the jump [0, 0.5]
    samples = np.tile(np.r_[np.zeros(50), np.arange(1.0, 51.0)], (4000, 1))
    y = np.zeros(4000)
    values = pit(samples, y, rng)
    assert values.min() >= 0 and values.max() <= 0.5
    assert values.mean() == pytest.approx(0.25, abs=0.02)
    assert pit(samples[0], 0.0, None) == pytest.approx(0.25)
    assert pit(3.0, 5.0, rng) == 1.0 and pit(3.0, 1.0, rng) == 0.0


def test_pit_histogram():
    h = pit_histogram(np.array([0.05, 0.15, 0.95, 1.0, np.nan]), bins=10)
    assert list(h.columns) == ["bin", "lo", "hi", "count", "freq", "expected"]
    assert h["count"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert h["freq"].sum() == pytest.approx(1.0)
    assert h["expected"].iloc[0] == pytest.approx(0.1)


def test_abs_and_pct_error_of_median():
    samples = np.array([1.0, 2.0, 3.0, 10.0, 20.0])  # median 3
    assert abs_error(samples, 5.0) == pytest.approx(2.0)
    assert pct_error(samples, 5.0) == pytest.approx(40.0)
    assert pct_error(samples, 5.0, signed=True) == pytest.approx(-40.0)
    assert pct_error(samples, 2.0, signed=True) == pytest.approx(50.0)
    assert np.isnan(pct_error(samples, 0.0))
    out = pct_error(np.array([[1.0], [0.0]]), [0.0, 0.0])
    assert np.isnan(out).all()


def test_score_forecast_keys_and_point_forecast():
    rng = np.random.default_rng(0)
    keys = {"crps", "pinball_10", "pinball_50", "pinball_90", "coverage_50", "coverage_80",
            "abs_error", "pct_error", "pit"}
    s = score_forecast(rng.normal(100, 10, 1000), 105.0, rng)
    assert set(s) == keys
    assert all(isinstance(v, float) for v in s.values())
    p = score_forecast(120.0, 100.0, rng)
    assert p["crps"] == pytest.approx(20.0) == p["abs_error"]
    assert p["pct_error"] == pytest.approx(20.0)
    assert p["coverage_80"] == 0.0 and p["pit"] == 0.0
    many = score_forecast(rng.normal(size=(6, 100)), np.zeros(6), rng)
    assert all(np.shape(v) == (6,) for v in many.values())


def test_brier_and_log_loss_hand_values():
    p = np.array([0.9, 0.2, 0.5, 1.0])
    o = np.array([1, 0, 1, 1])
    assert brier_score(p, o) == pytest.approx((0.01 + 0.04 + 0.25 + 0.0) / 4)
    assert brier_score([0.5] * 4, [True, False, True, False]) == pytest.approx(0.25)
    assert log_loss([0.5, 0.5], [1, 0]) == pytest.approx(np.log(2))
    assert log_loss([0.8, 0.25], [1, 0]) == pytest.approx(-(np.log(0.8) + np.log(0.75)) / 2)
    assert np.isfinite(log_loss([0.0], [1]))
    with pytest.raises(ValueError):
        brier_score([1.2], [1])
    with pytest.raises(ValueError):
        brier_score([0.5], [2])
    with pytest.raises(ValueError):
        brier_score([0.5, 0.2], [1])


def test_reliability_table_calibrated_within_binomial_bounds():
    rng = np.random.default_rng(42)
    p = rng.beta(1.2, 1.5, size=20_000)
    outcome = rng.uniform(size=p.size) < p
    bins = 10
    # Bonferroni over the bins: every bin within its interval with probability >= 95%
    table = reliability_table(p, outcome, bins=bins, level=1 - 0.05 / bins)
    assert list(table.columns) == ["bin", "bin_lo", "bin_hi", "n", "p_mean", "observed",
                                   "ci_lo", "ci_hi", "within"]
    assert table["n"].sum() == p.size
    assert table["within"].all()
    assert ((table["p_mean"] >= table["bin_lo"]) & (table["p_mean"] <= table["bin_hi"])).all()


def test_reliability_table_flags_miscalibration_and_edges():
    rng = np.random.default_rng(7)
    p = rng.uniform(size=5000)
    outcome = rng.uniform(size=p.size) < 0.5  # p carries no information
    table = reliability_table(p, outcome)
    assert not table["within"].all()
    t = reliability_table([0.0, 1.0, 1.0, 0.05], [0, 1, 1, 0], bins=10)
    assert t["bin"].tolist() == [0, 9]  # empty bins left out; p = 1 in the last bin
    assert t["n"].tolist() == [2, 2]
