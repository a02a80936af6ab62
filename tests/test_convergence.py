"""The adaptive fit: the convergence bar, the rounds it takes, and a default fit of a thin,
many-covariate win/loss table that meets the bar (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.data.snapshot import build_snapshot
from forecast.models.config import SamplerConfig
from forecast.models.fit import (
    ESS_BAR,
    RHAT_BAR,
    TARGET_ACCEPT_STEPS,
    ModelFitter,
    meets_bar,
    next_round,
    simulation_params,
)
from pipecast.cli import build_parser
from pipecast.commands.common import check_sizes, sampler_from_args
from simulations.synthetic.generator import GeneratorConfig
from tests.conftest import synthetic_dataset


def test_bar_needs_rhat_no_divergence_and_ess():
    good = {"rhat_max": 1.004, "divergences": 0, "ess_bulk_min": 650.0}
    assert meets_bar(good)
    assert not meets_bar({**good, "rhat_max": RHAT_BAR})
    assert not meets_bar({**good, "divergences": 1})
    assert not meets_bar({**good, "ess_bulk_min": ESS_BAR - 1})


def test_bar_is_over_the_parameters_the_simulation_reads():
    import xarray as xr

    names = ["a", "dur_steps", "dur", "sigma_cov[product]", "beta[product]_raw",
             "beta[product]", "beta[size]", "owner_eff_raw", "owner_eff", "arr_season",
             "arr_sigma_owner"]
    post = xr.Dataset({n: ("draw", np.zeros(3)) for n in names})
    assert simulation_params(post) == ["a", "dur", "beta[product]", "beta[size]",
                                       "owner_eff", "arr_season"]


def test_next_round_raises_target_accept_after_divergences_else_draws():
    miss = {"rhat_max": 1.02, "divergences": 0, "ess_bulk_min": 150.0}
    default = SamplerConfig().target_accept
    assert default < TARGET_ACCEPT_STEPS[0]
    assert next_round(miss, 500, default) == (1000, default)
    assert next_round({**miss, "divergences": 3}, 500, default) == (500, TARGET_ACCEPT_STEPS[0])
    assert next_round({**miss, "divergences": 3}, 500, TARGET_ACCEPT_STEPS[0]) == (
        500, TARGET_ACCEPT_STEPS[1])
    # no higher target_accept left: more draws
    assert next_round({**miss, "divergences": 3}, 500, TARGET_ACCEPT_STEPS[-1]) == (
        1000, TARGET_ACCEPT_STEPS[-1])


def test_fit_budget_option():
    args = build_parser().parse_args(["forecast", "--data", "d", "--as-of", "2026-10-31",
                                      "--out", "o", "--fit-budget", "90"])
    assert sampler_from_args(args).fit_budget == 90.0
    unset = build_parser().parse_args(["forecast", "--data", "d", "--as-of", "2026-10-31",
                                       "--out", "o"])
    assert sampler_from_args(unset).fit_budget == SamplerConfig().fit_budget
    from forecast.data.problems import UsageError

    with pytest.raises(UsageError, match="--fit-budget"):
        check_sizes(build_parser().parse_args(["forecast", "--data", "d", "--as-of",
                                               "2026-10-31", "--out", "o",
                                               "--fit-budget", "-1"]))
    with pytest.raises(ValueError, match="fit_budget"):
        SamplerConfig(fit_budget=-1.0)


@pytest.mark.slow
def test_default_fit_of_a_many_covariate_win_loss_table_converges():
    """One stage, ~450 deals, 18 reps, 20 categorical covariates: thin evidence per level.

    The sampler runs at the product's defaults; only the wall-clock budget is lifted so
    that the outcome does not depend on how busy the test machine is.
    """
    dataset, truth = synthetic_dataset(GeneratorConfig.win_loss_table(), seed=7)
    snap = build_snapshot(dataset, truth["end"])
    assert 350 <= len(snap.deals) <= 550 and len(snap.deals["owner"].unique()) == 18
    fitter = ModelFitter(sampler_config=SamplerConfig(progressbar=False,
                                                      fit_budget=float("inf")))
    diag = fitter.fit(snap, seed=1).posterior.diagnostics
    assert diag["converged"], diag
    assert diag["rhat_max"] < RHAT_BAR and diag["divergences"] == 0
    assert diag["ess_bulk_min"] >= ESS_BAR
    first = diag["rounds"][0]
    d = SamplerConfig()
    assert (first["model"], first["draws"], first["target_accept"]) == (
        "flow", d.draws, d.target_accept)
    assert {r["model"] for r in diag["rounds"]} == {"flow", "arrivals"}
    assert np.isfinite(diag["rhat_max_all"])


def test_only_the_offered_nuts_samplers_are_accepted():
    """PyMC's NUTS and nutpie; a JAX sampler is refused with the choices named (the flow
    likelihood is a numba kernel that PyTensor's JAX backend cannot translate)."""
    assert SamplerConfig().nuts_sampler == "pymc"
    assert SamplerConfig(nuts_sampler="nutpie").nuts_sampler == "nutpie"
    with pytest.raises(ValueError, match="nuts_sampler must be one of pymc, nutpie, not "
                                         "'numpyro'"):
        SamplerConfig(nuts_sampler="numpyro")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["forecast", "--data", "d", "--as-of", "2026-10-31",
                                   "--out", "o", "--nuts-sampler", "numpyro"])
