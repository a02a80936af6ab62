"""Month-of-year effects (``seasonal: true``): the months' stage, its switch and the engine.

The recovery on generated deals, fitted at the product's defaults, is
``tests/test_recovery.py::test_month_of_year_recovered``; here the stage itself is checked
on counts simulated from its own model (calibration of its intervals, shrinkage where the
months of the year do not differ), with the switch, the rule that waits for two years, and
where the engine puts the effects.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from forecast.data.config import check_pipeline
from forecast.data.dataset import dataset_from_frames
from forecast.models.month_variation import MonthCounts
from forecast.models.seasonal import MONTH_NAMES, season_draws, season_supported
from simulations.engine.calendar import month_day_shares, month_of_year_offsets
from simulations.synthetic.generator import GeneratorConfig, generate


def _months(n: int, first: str = "2023-03") -> tuple[str, ...]:
    start = np.datetime64(first, "M")
    return tuple(str(start + i) for i in range(n))


def _counts(season: np.ndarray, sigma: float, months: tuple[str, ...], expected: float,
            rng: np.random.Generator) -> MonthCounts:
    """Won and lost counts of ``months`` from the stage's own model: ``Poisson(expected ·
    exp(season[month of year] + ε))``, ``ε ~ Normal(0, sigma)``."""
    moy = np.array([int(m[5:]) - 1 for m in months])
    exp_ = np.full((len(months), 3), expected)
    obs = np.zeros_like(exp_)
    for k in (1, 2):
        obs[:, k] = rng.poisson(expected * np.exp(season[k - 1, moy]
                                                  + rng.normal(0.0, sigma, len(months))))
    return MonthCounts(months=months, observed=obs, expected=exp_)


def test_the_history_supports_the_months_of_the_year_from_two_of_each():
    assert not season_supported(_months(12))
    assert not season_supported(_months(23))
    assert season_supported(_months(24))
    assert not season_supported(_months(30)[:11] + _months(30)[12:])  # a January missing


@pytest.mark.slow
def test_month_of_year_intervals_are_calibrated_on_counts_from_the_model():
    """12 histories of 30 months, each with its own effects (``Normal(0, 0.25)``) and month
    luck (σ 0.15), 150 expected events a month: the 94%, 80% and 50% intervals of the 288
    effects hold about their share of the truths (0.928, 0.791, 0.498 over 60 such
    histories: ``benchmarks/seasonal_stage.py``, ``docs/seasonal-stage.json``)."""
    rng = np.random.default_rng(7)
    hits = {0.94: [], 0.8: [], 0.5: []}
    months = _months(30)
    for _ in range(12):
        true = rng.normal(0.0, 0.25, (2, 12))
        sigma, season, summary = season_draws(_counts(true, 0.15, months, 150.0, rng), 1000,
                                              rng)
        assert season.shape == (1000, 3, 12) and not season[:, 0].any()
        assert sigma.shape == (1000, 3) and not sigma[:, 0].any() and sigma.min() >= 0
        assert set(summary["season_won"]) == set(MONTH_NAMES)
        for prob in hits:
            lo, hi = np.quantile(season[:, 1:], [(1 - prob) / 2, (1 + prob) / 2], axis=0)
            hits[prob].append(((true >= lo) & (true <= hi)).mean())
    assert np.mean(hits[0.94]) >= 0.88, hits
    assert 0.7 <= np.mean(hits[0.8]) <= 0.9, hits
    assert 0.4 <= np.mean(hits[0.5]) <= 0.6, hits


def test_month_of_year_effects_shrink_where_the_months_do_not_differ():
    """No month-of-year effect, month luck of 0.1: the effects' spread τ and the effects
    go to 0, and the months' own spread is still found."""
    rng = np.random.default_rng(3)
    counts = _counts(np.zeros((2, 12)), 0.1, _months(36), 200.0, rng)
    sigma, season, summary = season_draws(counts, 2000, rng)
    for name in ("won", "lost"):
        assert summary[f"tau_{name}"]["mean"] < 0.08, summary[f"tau_{name}"]
    # each month of the year's raw log ratio, against the effects' posterior means
    moy = np.array([int(m[5:]) - 1 for m in counts.months])
    raw = np.array([[np.log(counts.observed[moy == j, k].sum()
                            / counts.expected[moy == j, k].sum()) for j in range(12)]
                    for k in (1, 2)])
    shrunk = np.abs(season[:, 1:].mean(axis=0))
    assert shrunk.max() < 0.1 and shrunk.max() < 0.5 * np.abs(raw).max(), (shrunk, raw)
    assert 0.04 < sigma[:, 1:].mean() < 0.2


def test_seasonal_needs_the_calendar():
    _, problems, _ = check_pipeline({"stages": ["a"], "seasonal": True})
    assert any("seasonal: true needs calendar: true" in p for p in problems)
    _, problems, _ = check_pipeline({"stages": ["a"], "seasonal": True, "calendar": True})
    assert problems == []
    _, problems, _ = check_pipeline({"stages": ["a"], "seasonal": "yes", "calendar": True})
    assert problems == ["seasonal must be true or false (got 'yes')"]
    data = generate(GeneratorConfig.small(n_deals=200.0), 1)
    with pytest.raises(ValueError, match="seasonal=True needs calendar=True"):
        dataset_from_frames(data.deals, tuple(data.pipeline["stages"]), seasonal=True)


def test_each_simulated_week_takes_the_effect_of_the_month_it_starts_in():
    effects = np.zeros((2, 3, 12))
    effects[:, 1, :] = np.arange(12)  # won: the month's number less one
    effects[1, 2, :] = -np.arange(12)
    week, part = month_of_year_offsets(effects, "2026-11-20", 60)
    starts = np.datetime64("2026-11-21") + 7 * np.arange(week.shape[1])
    assert week.shape == (2, 60 // 7 + 2, 3) and part.shape == (2, 7, 3)
    assert np.array_equal(week[0, :, 1], starts.astype("datetime64[M]").astype(int) % 12)
    assert week[0, 0, 1] == 10 and week[0, -1, 1] == 0  # November … January
    assert np.array_equal(week[1, :, 2], -week[1, :, 1]) and not week[:, :, 0].any()
    assert np.all(part[0, :, 1] == 10)  # the current weeks began in November
    assert np.isclose(month_day_shares().sum(), 1.0)
    assert np.isclose(month_day_shares()[1], (28 * 28 + 7) / (28 * 365 + 7))


def test_the_generator_simulates_and_records_the_months_of_the_year():
    config = GeneratorConfig.seasonal()
    moy = np.array(config.month_of_year)
    # zero within each month of the quarter: the slots cannot absorb them
    assert np.allclose(moy.reshape(2, 4, 3).sum(axis=1), 0.0)
    data = generate(replace(config, n_deals=3000.0), 5)
    truth = data.truth["month_of_year"]
    assert list(truth) == list(MONTH_NAMES) and truth["Dec"]["won"] == moy[0, 11]
    with pytest.raises(ValueError, match="month_of_year must be 2 rows"):
        GeneratorConfig(month_of_year=((0.0,) * 12,))


def test_the_fit_line_says_when_the_months_of_the_year_wait_for_more_history():
    from pipecast.commands.common import fit_line

    diag = {"rhat_max": 1.004, "divergences": 0,
            "month_variation": {"months": 14, "season": {"withheld": True,
                                                         "fewest_per_month": 1,
                                                         "needed_per_month": 2}}}
    assert fit_line(diag).endswith("; seasonal not fitted: the history holds some month of "
                                   "the year 1 time(s), 2 needed (docs/model.md)")
    fitted = {**diag, "month_variation": {"months": 30, "season": {"tau_won": {}}}}
    assert fit_line(fitted) == "R-hat max 1.004, divergences 0"


def test_the_report_draws_and_words_the_months_of_the_year():
    import matplotlib

    matplotlib.use("Agg")
    from pipecast.model_notes import season_note
    from simulations.plots.calendar import plot_season, season_profile

    rng = np.random.default_rng(0)
    season = np.zeros((400, 3, 12))
    season[:, 1] = np.log([1.0, 1, 1, 1, 1, 1, 1, 0.7, 1, 1, 1, 1.3]) + rng.normal(0, 0.02,
                                                                                   (400, 12))
    season[:, 2, 0] = np.log(1.4)
    prof = season_profile(season)
    assert list(prof.columns[:2]) == ["outcome", "month"] and len(prof) == 36
    note = season_note(prof)
    assert "in Dec has ×1.30" in note and "in Aug ×0.70" in note and "in Jan (×1.40)" in note
    ax = plot_season(season)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(MONTH_NAMES)
    waiting = season_note(None, {"withheld": True, "fewest_per_month": 1,
                                 "needed_per_month": 2})
    assert waiting.startswith("**Not in this fit: `seasonal: true`.**") and "1 time(s)" in waiting


def test_a_narrow_profile_gets_ticks_a_reader_can_read_it_by():
    import matplotlib

    matplotlib.use("Agg")
    from simulations.plots.calendar import plot_season

    season = np.zeros((200, 3, 12))
    season[:, 1, 11] = np.log(1.2)
    ax = plot_season(season)
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert {1.0, 1.1} <= set(np.round(ticks, 2))
