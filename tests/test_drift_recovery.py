"""Drift recovered: the stage intercepts' walk over quarters, fitted on data simulated with
a known walk (slow).

The generator's walk (``GeneratorConfig.drifting()``) and the model's are both pinned to 0
in the last quarter, so the truth compares with the posterior as it is: each quarter's
level of the advance, won and lost odds against the last quarter's. At the product's
default sampler settings (only the wall-clock budget lifted, so that how busy the machine
is cannot change the draws): R-hat < 1.01, no divergences, and the truths inside their 94%
intervals.
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
    hdi = az.hdi(fc.idata, var_names=["drift"], hdi_prob=0.94)["drift"].values
    inside = (true >= hdi[..., 0] - 1e-12) & (true <= hdi[..., 1] + 1e-12)
    assert inside[:, :-1].mean() >= 0.9, (true, fc.posterior.flow.drift.mean(axis=0))
    assert inside[1:].sum() >= inside[1:].size - 2
    # the walk's shape, as users read it: the fitted levels follow the true ones
    mean = fc.posterior.flow.drift.mean(axis=0)
    for k in (1, 2):
        assert np.corrcoef(mean[k, :-1], true[k, :-1])[0, 1] > 0.8


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
