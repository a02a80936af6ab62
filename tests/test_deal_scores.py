"""Deal scoring (issue 8): exact win probabilities, drivers, covariates, ``pipecast score``.

Fast tests fit a small dataset with ADVI; the slow ones check, with NUTS, that known
covariate effects are recovered and that held-out win probabilities are calibrated.
"""

from __future__ import annotations

import json
from dataclasses import replace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from forecast.data.covariates import CovariateSpec, pattern_codes, pattern_effects
from forecast.data.dataset import dataset_from_frames
from forecast.data.snapshot import build_snapshot
from forecast.models.config import SamplerConfig
from simulations.engine.horizon import make_horizon
from simulations.engine.inputs import build_inputs
from simulations.engine.reference import win_cdfs
from simulations.engine.simulate import simulate
from simulations.evaluation.deal_scores import (
    DRIVER_COLUMNS,
    SCORE_COLUMNS,
    deal_contributions,
    deal_probabilities,
    driver_table,
    eventual_absorption,
    focus_table,
    part_week_absorption,
    score_deals,
    top_factors,
    write_scores,
)
from simulations.forecaster import PipelineForecaster
from simulations.plots.drivers import plot_drivers
from simulations.synthetic.generator import GeneratorConfig, generate

matplotlib.use("Agg")

AS_OF = "2026-10-31"
TINY_ADVI = SamplerConfig(method="advi", advi_iterations=1500, draws=60, chains=2,
                          progressbar=False)


def random_chain(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Weekly stay/advance/won/lost probabilities from random logits (last stage: no advance)."""
    eta = rng.normal(-2.0, 1.0, size=(3, *shape))
    ex = np.exp(eta)
    ex[0, ..., -1, :] = 0.0
    denom = 1.0 + ex.sum(axis=0)
    return 1.0 / denom, ex[0] / denom, ex[1] / denom, ex[2] / denom


# --------------------------------------------------------------------------- exact chain


def test_eventual_absorption_is_the_long_run_recursion():
    rng = np.random.default_rng(0)
    stay, adv, won, lost = random_chain(rng, (2, 3, 4, 11))
    exact = eventual_absorption(stay, adv, won)
    c, g, s, w = stay.shape
    grid = np.meshgrid(np.arange(g), np.arange(s), np.arange(w), indexing="ij")
    idx = tuple(x.ravel() for x in grid)
    long_run, _ = win_cdfs(stay, adv, won, 4000, idx, None)
    np.testing.assert_allclose(exact.reshape(c, -1), long_run[..., -1], atol=1e-9)
    # every deal ends won or lost
    np.testing.assert_allclose(exact + eventual_absorption(stay, adv, lost), 1.0, atol=1e-12)


def test_single_stage_with_constant_hazards_wins_in_proportion():
    stay, adv = np.full((1, 3), 0.9), np.zeros((1, 3))
    won = np.full((1, 3), 0.02)                    # lost: the remaining 0.08
    np.testing.assert_allclose(eventual_absorption(stay, adv, won), 0.2)
    assert eventual_absorption(np.ones((1, 2)), adv[:, :2], 0 * won[:, :2]).max() == 0.0


def test_part_week_absorption_is_the_long_run_daily_recursion():
    rng = np.random.default_rng(1)
    stay, adv, won, _ = random_chain(rng, (2, 3, 4, 11))
    c, g, s, w = stay.shape
    grid = np.meshgrid(np.arange(g), np.arange(s), np.arange(w), np.arange(7), indexing="ij")
    idx = tuple(x.ravel() for x in grid)
    exact = part_week_absorption(eventual_absorption(stay, adv, won), stay, adv, won, idx)
    long_run, _ = win_cdfs(stay, adv, won, 4000, idx, None)
    np.testing.assert_allclose(exact, long_run[..., -1], atol=1e-9)
    # with constant hazards the days already spent in the week change nothing
    flat = tuple(np.full((1, 1, 1, 3), v) for v in (0.9, 0.0, 0.02))
    parts = (np.zeros(7, int), np.zeros(7, int), np.ones(7, int), np.arange(7))
    np.testing.assert_allclose(
        part_week_absorption(eventual_absorption(*flat), *flat, parts), 0.2)


def test_top_factors_names_the_largest_effects():
    effects = pd.DataFrame({"product": [0.4, -0.02], "source": [-0.3, 0.2], "(owner)": [0.1, -0.6]})
    labels = pd.DataFrame({"product": ["product=a", "product=b"],
                           "source": ["source=x", "source=y"],
                           "(owner)": ["owner=ann", "owner=bob"]})
    up, down = top_factors(effects, labels, n_top=1)
    assert up == ["product=a (+0.40)", "source=y (+0.20)"]
    assert down == ["source=x (-0.30)", "owner=bob (-0.60)"]
    up, down = top_factors(effects.iloc[:, :0], labels.iloc[:, :0])   # no factors at all
    assert up == down == ["", ""]


# --------------------------------------------------------------------------- covariates


def test_covariate_encoding_numeric_missing_and_unseen():
    deals = pd.DataFrame({"product": ["a", "b", "a", ""], "score": ["1", "3", "", "5"]})
    spec = CovariateSpec.fit(deals, ("product", "score"))
    assert spec.kinds == ("categorical", "numeric")
    assert spec.levels[0] == ("a", "b")
    enc = spec.encode(deals)
    np.testing.assert_allclose(enc[:, 0], [0, 1, 0, -1])          # missing → pooled mean
    z = enc[[0, 1, 3], 1]
    np.testing.assert_allclose([z.mean(), z.std()], [0.0, 1.0])   # standardised
    assert enc[2, 1] == 0.0                                         # missing → the mean
    new = spec.encode(pd.DataFrame({"product": ["zzz"], "score": ["3"]}))
    assert new[0, 0] == -1                                          # unseen level
    _, patterns = pattern_codes(np.vstack([enc, new]))
    beta_cat = [np.array([[0.4, -0.4]])]
    beta_num = np.array([[0.5]])
    xb = pattern_effects(spec, patterns, beta_cat, beta_num)[0]
    expect = [(0.0 if p[0] < 0 else beta_cat[0][0, int(p[0])]) + 0.5 * p[1] for p in patterns]
    np.testing.assert_allclose(xb, expect)


# --------------------------------------------------------------------------- fitted model


def covariate_frames(n_deals: float, seed: int, rating: bool = False
                     ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Generated deals plus numeric covariates: ``budget_num`` (0/1 copy of
    ``budget_confirmed``, true effect 0.8 per unit) and ``engagement`` (noise, true
    effect 0): continuous, or a 1-5 rating with ``rating`` (few covariate patterns)."""
    data = generate(GeneratorConfig.small(n_deals=n_deals), seed)
    deals = data.deals.copy()
    deals["budget_num"] = (deals["budget_confirmed"] == "yes").astype(int)
    rng = np.random.default_rng(seed)
    deals["engagement"] = (rng.integers(1, 6, len(deals)) if rating
                           else np.round(rng.normal(50, 15, len(deals)), 1))
    return deals, data.stage_history, data.truth


@pytest.fixture(scope="module")
def fitted():
    deals, history, _ = covariate_frames(450.0, seed=7)
    covs = ("product", "source", "engagement")
    ds = dataset_from_frames(deals, GeneratorConfig().stages, history, covariates=covs)
    snap = build_snapshot(ds, AS_OF)
    fc = PipelineForecaster(sampler_config=TINY_ADVI).fit(snap, seed=3)
    return snap, fc.posterior


def test_scores_are_consistent_probabilities(fitted):
    snap, post = fitted
    scores = score_deals(snap, post, horizon=3)
    assert list(scores.columns) == SCORE_COLUMNS
    assert len(scores) == len(snap.open_deals) > 20
    assert set(scores["deal_id"]) == set(snap.open_deals["deal_id"])
    p = scores
    assert ((0 <= p["p_win_lo"]) & (p["p_win_lo"] <= p["p_win"]) & (p["p_win"] <= p["p_win_hi"])
            & (p["p_win_hi"] <= 1)).all()
    assert (p["p_win_in_horizon"] <= p["p_win"] + 1e-12).all()
    assert (p["p_win_in_horizon"] <= p["p_close_in_horizon"] + 1e-12).all()
    np.testing.assert_allclose(p["expected_value"], p["p_win"] * p["amount"])
    assert p["expected_value"].is_monotonic_decreasing
    stale = p["days_in_stage"] > p["norm_days"]
    assert (p["stale"] == stale).all()


def test_in_horizon_probability_matches_the_monte_carlo(fitted):
    snap, post = fitted
    inputs = build_inputs(snap, post, make_horizon(snap.as_of, 2))
    probs = deal_probabilities(inputs, chunk_size=7)
    assert np.array_equal(probs.deal_id, inputs.deals.deal_id)
    sim = simulate(inputs, 2 * post.n_draws, seed=1, keep_deal_outcomes=True)
    won = (sim.deal_month >= 0).mean(axis=0)
    exact = probs.p_win_in_horizon.mean(axis=0)
    # whole book: expected number of wins in the horizon, MC error ≈ sqrt(Σp(1−p)/draws)
    se = np.sqrt((exact * (1 - exact)).sum() / sim.n_draws)
    assert abs(won.sum() - exact.sum()) < 4 * se + 1e-9


def test_unseen_level_falls_back_to_the_pooled_mean(fitted):
    snap, post = fitted
    deals = snap.deals.copy()
    first_open = deals.index[deals["status"] == "open"][0]
    deals.loc[first_open, "product"] = "brand-new"
    snap2 = replace(snap, deals=deals)
    inputs = build_inputs(snap2, post, make_horizon(snap.as_of, 3))
    opn = snap2.open_deals
    row = int(np.flatnonzero(opn["product"].to_numpy() == "brand-new")[0])
    spec = post.index.covariates
    enc = spec.encode(opn.iloc[[row]])
    assert enc[0, spec.columns.index("product")] == -1
    without = [np.zeros_like(b) if spec.columns[j] == "product" else b
               for j, b in zip([i for i, k in enumerate(spec.kinds) if k == "categorical"],
                               post.flow.beta_cat, strict=True)]
    expect = pattern_effects(spec, enc, without, post.flow.beta_num)[:, 0]
    np.testing.assert_allclose(inputs.xb[:, inputs.deals.xb[row]], expect)
    effects, labels = deal_contributions(opn, post)
    assert effects["product"].iloc[row] == 0.0
    up, down = top_factors(effects, labels)
    assert "brand-new" not in up[row] + down[row]


def test_drivers_table(fitted):
    snap, post = fitted
    drv = driver_table(snap, post)
    assert list(drv.columns) == DRIVER_COLUMNS
    cov = drv[drv["source"] == "covariate"]
    assert set(cov["covariate"]) == {"product", "source", "engagement"}
    for col in ("product", "source"):
        rows = cov[cov["covariate"] == col]
        assert rows["log_odds_mean"].sum() == pytest.approx(0.0, abs=1e-6)   # zero-sum
        assert rows["n_deals"].sum() == len(snap.deals)
    num = cov[cov["covariate"] == "engagement"].iloc[0]
    assert num["kind"] == "numeric" and num["sd"] == pytest.approx(
        snap.deals["engagement"].astype(float).std(ddof=0))
    assert (drv["lo_94"] <= drv["lo"]).all() and (drv["lo"] <= drv["hi"]).all()
    assert (drv["hi"] <= drv["hi_94"]).all()
    np.testing.assert_allclose(drv["odds_ratio"], np.exp(drv["log_odds_mean"]))
    assert set(drv["source"]) == {"covariate", "owner", "segment"}


def test_focus_table_and_plot(fitted, tmp_path):
    snap, post = fitted
    scores = score_deals(snap, post)
    table = focus_table(scores, n=5)
    assert len(table) == 5
    best = scores.sort_values("expected_value_in_horizon", ascending=False)["deal_id"].iloc[0]
    assert table["deal"].iloc[0] == best
    assert table["p_win"].str.match(r"^\d+% \(\d+%–\d+%\)$").all()
    ax = plot_drivers(driver_table(snap, post))
    assert len(ax.get_yticklabels()) == 3 + 4 + 1
    ax.figure.savefig(tmp_path / "drivers.png")
    assert focus_table(scores.iloc[0:0]).empty
    plot_drivers(driver_table(snap, post).iloc[0:0])


def test_written_csvs_are_formula_safe(fitted, tmp_path):
    snap, post = fitted
    deals = snap.deals.copy()
    deals.loc[deals["status"] == "open", "source"] = '=HYPERLINK("x")'   # unseen level
    snap2 = replace(snap, deals=deals)
    scores = score_deals(snap2, post)
    scores.loc[0, "owner"] = "@evil"
    scores.loc[1, "top_up"] = "-1+cmd"
    write_scores(tmp_path, scores, driver_table(snap2, post))
    back = pd.read_csv(tmp_path / "deal_scores.csv", dtype=str, keep_default_na=False)
    assert back.loc[0, "owner"] == "'@evil" and back.loc[1, "top_up"] == "'-1+cmd"
    for name in ("deal_scores.csv", "drivers.csv"):
        cells = pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)
        for cell in cells.to_numpy().ravel():
            assert not cell.startswith(("=", "@", "+", "-")) or _is_number(cell), cell
    assert not back["top_up"].str.contains("HYPERLINK").any()   # unseen: no effect named


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- command line


def closed_only_dir(root, n_deals: float = 300.0):
    """A win/loss-only dataset: closed deals, no stage history, no extra dates."""
    from simulations.synthetic.generator import write_dataset

    data = generate(GeneratorConfig.small(n_deals=n_deals), seed=5)
    deals = data.deals[data.deals["status"] != "open"].drop(
        columns=["expected_close_at", "expected_amount"])
    write_dataset(replace(data, deals=deals, quotas=data.quotas.iloc[0:0]), root)
    (root / "stage_history.csv").unlink()
    (root / "quotas.csv").unlink()
    (root / "truth.json").unlink()
    return root


@pytest.fixture
def fast_score_cli(monkeypatch):
    import pipecast.commands.score as score_cmd

    monkeypatch.setattr(score_cmd, "sampler_from_args", lambda args: TINY_ADVI)


def test_score_command_on_closed_deals_only(tmp_path, fast_score_cli, capsys):
    from pipecast.cli import main

    data = closed_only_dir(tmp_path / "ds")
    out = tmp_path / "out"
    args = ["score", "--data", str(data), "--as-of", "2026-10-31", "--out", str(out),
            "--seed", "2", "--quiet"]
    assert main(args) == 0
    scores = pd.read_csv(out / "deal_scores.csv")
    assert scores.empty and list(scores.columns) == SCORE_COLUMNS
    drivers = pd.read_csv(out / "drivers.csv")
    assert set(drivers["covariate"]) >= {"product", "source", "budget_confirmed"}
    summary = json.loads((out / "score_summary.json").read_text())
    assert summary["n_open_deals"] == 0 and summary["as_of"] == "2026-10-31"
    assert main(args) == 2                                   # finished outputs kept
    assert "--force" in capsys.readouterr().err
    bad = ["score", "--data", str(data), "--as-of", "2020-01-01", "--out",
           str(tmp_path / "o2"), "--quiet"]
    assert main(bad) == 2                                    # before any deal
    assert "no deals were created on or before as_of=2020-01-01" in capsys.readouterr().err


# --------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_covariate_effects_are_recovered():
    import arviz as az

    deals, history, truth = covariate_frames(1500.0, seed=11, rating=True)
    covs = ("product", "source", "budget_num", "engagement")
    ds = dataset_from_frames(deals, GeneratorConfig().stages, history, covariates=covs)
    snap = build_snapshot(ds, truth["end"])
    # the product's default sampler (what `pipecast score` runs); only the wall-clock budget
    # is lifted, so that whether a second round runs does not depend on the machine's load
    fc = PipelineForecaster(sampler_config=SamplerConfig(progressbar=False, fit_budget=3600.0)
                            ).fit(snap, seed=4)
    idata, spec = fc.idata, fc.index.covariates
    names = [f"beta[{c}]" for c in covs] + [f"sigma_cov[{c}]" for c in ("product", "source")]
    rhat = az.rhat(idata, var_names=names)
    worst = {v: round(float(rhat[v].max()), 4) for v in rhat.data_vars}
    assert max(worst.values()) < 1.01, worst
    assert int(idata.sample_stats["diverging"].sum()) == 0
    # Seven level effects: with calibrated 94% intervals, the number of truths outside is
    # Binomial(7, 0.06), so "none at all" fails a third of honest fits. Allow what a
    # calibrated posterior gives 99% of the time, and none outside the 99.5% interval.
    from scipy.stats import binom

    outside = []
    for col in ("product", "source"):
        levels = spec.levels[spec.columns.index(col)]
        beta = np.array([truth["covariates"][col][lv] for lv in levels])
        centred = beta - beta.mean()          # zero-sum over levels: unweighted mean
        draws = idata.posterior[f"beta[{col}]"].values.reshape(-1, len(levels))
        lo, hi = np.quantile(draws, [0.03, 0.97], axis=0)
        outside += [(col, lv) for lv, t, a, b in zip(levels, centred, lo, hi, strict=True)
                    if not a <= t <= b]
        wlo, whi = np.quantile(draws, [0.0025, 0.9975], axis=0)
        assert ((wlo <= centred) & (centred <= whi)).all(), (col, wlo, centred, whi)
    assert len(outside) <= int(binom.ppf(0.99, 7, 0.06)), outside
    sd = deals["budget_num"].std(ddof=0)
    per_sd = {"budget_num": truth["covariates"]["budget_confirmed"]["yes"] * sd,
              "engagement": 0.0}
    for col, true in per_sd.items():
        lo, hi = np.quantile(idata.posterior[f"beta[{col}]"].values, [0.03, 0.97])
        assert lo <= true <= hi, (col, lo, true, hi)
