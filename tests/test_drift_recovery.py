"""Drift recovered: the stage intercepts' walk over quarters, fitted on data simulated with
a known walk (slow).

The generator's walk (``GeneratorConfig.drifting()``) and the model's are both pinned to 0
in the last quarter, so the truth compares with the posterior as it is: each quarter's
level of the advance, won and lost odds against the last quarter's. At the product's
default sampler settings (only the wall-clock budget lifted, so that how busy the machine
is cannot change the draws): R-hat < 1.01, no divergences, and the truths inside their 94%
intervals.

The data are the default generator's (three segments, twelve reps who sell mostly in one
of them) with the drifting walk. Until pipecast 0.2.0 they had one segment: the segments'
learned spread met a funnel here (one divergence in each of a fit's first three rounds);
fewer than five segments now have a fixed spread (``docs/model.md``), and the default fit
meets the bar.
"""

from __future__ import annotations

from dataclasses import replace

import arviz as az
import numpy as np
import pytest

from forecast.data.snapshot import build_snapshot
from forecast.models.config import SamplerConfig
from simulations.forecaster import PipelineForecaster
from simulations.synthetic.generator import GeneratorConfig, generate

OUT = ("advance", "won", "lost")


@pytest.fixture(scope="module")
def fitted():
    config = GeneratorConfig.drifting(covariates=(), n_deals=2500.0)
    data = generate(config, 5)
    data = replace(data, pipeline={**data.pipeline, "drift": True})
    snap = build_snapshot(data.to_dataset(), data.truth["end"])
    fc = PipelineForecaster(sampler_config=SamplerConfig(progressbar=False,
                                                         fit_budget=float("inf")))
    return fc.fit(snap, seed=12), data.truth


@pytest.mark.slow
def test_drift_recovered_with_clean_diagnostics(fitted):
    fc, truth = fitted
    diag = fc.posterior.diagnostics
    assert diag["divergences"] == 0 and diag["rhat_max"] < 1.01, diag
    assert diag["ess_bulk_min"] >= 400, diag
    rhat = az.rhat(fc.idata, var_names=["drift", "sigma_drift"])
    assert float(np.nanmax(rhat["drift"].values)) < 1.01
    assert float(rhat["sigma_drift"].max()) < 1.01
    quarters = diag["drift"]["quarters"]
    assert quarters == list(truth["drift"])  # 2024-Q1 … 2026-Q4, the same quarters
    true = np.array([[truth["drift"][q][k] for q in quarters] for k in OUT])
    assert np.abs(true[1:]).max() > 0.5  # there is a walk to find
    # in the model the walk sums to zero over the quarters: its departures from the
    # average quarter, free of how well the last quarter alone is known
    hdi = az.hdi(fc.idata, var_names=["drift"], hdi_prob=0.94)["drift"].values
    centred = true - true.mean(axis=1, keepdims=True)
    inside = (centred >= hdi[..., 0]) & (centred <= hdi[..., 1])
    fitted = fc.idata.posterior["drift"].mean(("chain", "draw")).values
    # won and lost (what revenue rests on): 24 intervals of 94%, so a calibrated posterior
    # misses about 1.4 of them; at most 4 misses (were they independent, 5 or more would
    # happen 1.6% of the time; "all but one" failed 43% of the time, and did so at 0.2.0's
    # sampler settings, z = 2.1 and 2.4 for two won quarters), and none far out.
    # Advancing (steps of 0.1, thousands of events a quarter): 4 of 12 quarters fell outside
    # when this test was written, misses of up to ~0.1 — a misfit docs/model.md lists as a
    # known limit
    assert inside[1:].sum() >= inside[1:].size - 4, (centred, fitted)
    post = fc.idata.posterior["drift"].values.reshape(-1, *true.shape)
    z = (centred - post.mean(axis=0)) / post.std(axis=0)
    assert np.abs(z[1:]).max() < 3.5, z
    assert inside[0].mean() >= 2 / 3, (centred, fitted)
    # what users read: each quarter against the latest (the last quarter's level, known
    # from the weeks of it in the history, shifts every quarter alike)
    flow = fc.posterior.flow
    lo, hi = np.quantile(flow.drift, [0.03, 0.97], axis=0)
    inside = ((true >= lo) & (true <= hi))[:, :-1]
    assert inside.mean() >= 0.8 and inside[1:].sum() >= inside[1:].size - 2, \
        (true, flow.drift.mean(axis=0))
    # the walk's shape, where it is large against the noise (the true walk spans more than
    # four posterior standard deviations of a quarter's level): the fitted levels follow it
    mean, sd = flow.drift.mean(axis=0), flow.drift.std(axis=0)
    large = np.flatnonzero(np.ptp(true, axis=1) > 4 * np.median(sd[:, :-1], axis=1))
    assert 2 in large  # lost's walk spans 1.2 in these data
    for k in large:
        assert np.corrcoef(mean[k, :-1], true[k, :-1])[0, 1] > 0.8, OUT[k]


@pytest.mark.slow
def test_drift_spread_and_the_latest_level(fitted):
    """The step's spread is found (truth inside its 94% interval) and the intercepts ``a``
    are the latest quarter's: the truth's ``a`` (the level at the end) inside their
    intervals for won and lost, where the stage has data."""
    fc, truth = fitted
    flow = fc.posterior.flow
    assert flow.drift.shape[1:] == (3, len(truth["drift"]))
    assert flow.drift_sigma.shape == (fc.posterior.n_draws, 3)
    lo, hi = np.quantile(flow.drift_sigma, [0.03, 0.97], axis=0)
    true_sigma = np.array([truth["sigma_drift"][k] for k in OUT])
    assert np.all((true_sigma[1:] >= lo[1:]) & (true_sigma[1:] <= hi[1:])), (lo, hi)
