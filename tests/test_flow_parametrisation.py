"""Centred vs non-centred group effects of the deal-flow and arrival models (fast)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from forecast.data.cells import CellTable
from forecast.data.covariates import CovariateSpec
from forecast.models.arrivals import ArrivalData, add_arrival_block, non_centred_owners
from forecast.models.config import ModelConfig
from forecast.models.flow import (
    CENTRED_MIN_EVENTS,
    add_flow_block,
    covariate_block,
    non_centred_covariate,
    non_centred_outcomes,
    spread_is_clear,
)


def cells(n_owners: int = 6, advance_events: int = 3, won_events: int = 400,
          alike: bool = False) -> CellTable:
    """One cell per (stage 0/1, owner): many won and lost events, few advances; the owners'
    won and lost rates differ clearly (from ×0.5 to ×2 across them), or not at all
    (``alike``)."""
    stage = np.repeat([0, 1], n_owners)
    owner = np.tile(np.arange(n_owners), 2)
    ratio = np.ones(n_owners) if alike else np.geomspace(0.5, 2.0, n_owners)
    counts = np.zeros((2 * n_owners, 4), dtype=np.int64)
    counts[:, 0] = 5000
    counts[:n_owners, 1] = advance_events * ratio
    counts[:, 2] = np.tile(won_events // 2 * ratio, 2)
    counts[:, 3] = np.tile(won_events // 2 / ratio, 2)
    z = np.zeros(2 * n_owners, dtype=np.int64)
    return CellTable(stage=stage, bucket=z, owner=owner, segment=z, pattern=z, counts=counts,
                     partial=np.zeros((2 * n_owners, 6), dtype=np.int64), n_stages=2,
                     n_owners=n_owners, n_segments=1, n_patterns=1)


def test_auto_non_centres_the_outcomes_with_few_events_or_levels_alike():
    table = cells()
    auto = non_centred_outcomes(table, table.owner, table.n_owners, ModelConfig())
    assert auto.tolist() == [True, False, False]
    many = cells(advance_events=20 * CENTRED_MIN_EVENTS)
    assert not non_centred_outcomes(many, many.owner, many.n_owners, ModelConfig()).any()
    # as many events, but the owners' rates alike: their effects are near zero, pinned
    # down less well than their spread (a funnel when centred)
    alike = cells(advance_events=20 * CENTRED_MIN_EVENTS, alike=True)
    assert non_centred_outcomes(alike, alike.owner, alike.n_owners, ModelConfig()).all()
    forced = ModelConfig(group_effects="noncentered")
    assert non_centred_outcomes(many, many.owner, many.n_owners, forced).all()


def prior_owner_effects(config: ModelConfig, n: int = 4000) -> np.ndarray:
    with pm.Model() as model:
        add_flow_block(cells(), CovariateSpec(), np.zeros((1, 0)), config)
    return pm.draw(model["owner_eff"], draws=n, random_seed=3)


@pytest.mark.slow  # runs long
def test_both_parametrisations_have_the_same_prior():
    centred = prior_owner_effects(ModelConfig(group_effects="centered"))
    mixed = prior_owner_effects(ModelConfig())  # advance non-centred
    assert centred.shape == mixed.shape == (4000, 3, 6)
    np.testing.assert_allclose(mixed.sum(axis=-1), 0.0, atol=1e-9)   # still zero-sum
    # same spread per outcome (Gamma(2, 4) scale × zero-sum normal), to Monte Carlo error
    np.testing.assert_allclose(mixed.std(axis=(0, 2)), centred.std(axis=(0, 2)), rtol=0.06)
    with pm.Model() as model:
        add_flow_block(cells(), CovariateSpec(), np.zeros((1, 0)), ModelConfig())
    assert "owner_eff_raw" in model.named_vars


def test_covariates_centred_only_where_levels_clearly_differ():
    config = ModelConfig()
    codes = np.repeat(np.arange(4), 50)
    strong = np.zeros((200, 2))
    strong[:, 0] = np.repeat([10.0, 40.0, 120.0, 300.0], 50)  # won: win odds differ widely
    strong[:, 1] = 100.0                                       # lost
    assert not non_centred_covariate(codes, 4, strong, config)
    thin = np.zeros((200, 2))
    thin[::10] = (1.0, 3.0)   # a handful of closed deals per level: a funnel
    assert non_centred_covariate(codes, 4, thin, config)
    flat = np.full((200, 2), 100.0)   # plenty of evidence, no difference: spread near 0
    assert non_centred_covariate(codes, 4, flat, config)
    assert non_centred_covariate(codes, 4, strong, ModelConfig(group_effects="noncentered"))
    assert not non_centred_covariate(codes, 4, thin, ModelConfig(group_effects="centered"))
    # unseen levels (code −1) carry no evidence; one level alone says nothing of a spread
    assert not spread_is_clear(np.array([0.3]), np.array([0.01]))
    codes_unseen = np.where(np.arange(200) % 2 == 0, codes, -1)
    assert not non_centred_covariate(codes_unseen, 4, strong, config)


def test_covariate_parametrisations_have_the_same_prior():
    x = np.repeat(np.arange(3), 4)[:, None].astype(float)
    spec = CovariateSpec(columns=("product",), kinds=("categorical",),
                         levels=(("a", "b", "c"),))
    draws = {}
    for form in ("centered", "noncentered"):
        with pm.Model() as model:
            _, beta = covariate_block(spec, x, ModelConfig(group_effects=form),
                                      np.ones((len(x), 2)))
        draws[form] = pm.draw(beta, draws=4000, random_seed=5)
        # non-centred: the free coordinates are standard normal, whatever the spread
        z_scale = model["beta_cat_z"].owner.inputs[-1]
        assert (pm.draw(z_scale, random_seed=1) == 1.0).all() == (form == "noncentered")
    np.testing.assert_allclose(draws["noncentered"].sum(axis=-1), 0.0, atol=1e-9)
    np.testing.assert_allclose(draws["noncentered"].std(axis=0), draws["centered"].std(axis=0),
                               rtol=0.08)


def arrivals(per_owner: list[float]) -> ArrivalData:
    """24 months per owner with these monthly deal counts."""
    n = len(per_owner)
    owner = np.repeat(np.arange(n), 24)
    return ArrivalData(owner=owner, month_of_year=np.tile(np.arange(12), 2 * n),
                       exposure=np.ones(24 * n), count=np.repeat(per_owner, 24).astype(int),
                       active=np.ones(n, dtype=bool))


def test_arrival_owners_non_centred_where_reps_have_few_deals():
    config = ModelConfig()
    assert non_centred_owners(arrivals([1, 1, 2, 1, 1, 2]), 6, config)        # thin
    assert not non_centred_owners(arrivals([5, 10, 20, 40, 80, 10]), 6, config)  # clear
    assert non_centred_owners(arrivals([40] * 6), 6, config)                   # no spread
    with pm.Model() as model:
        add_arrival_block(arrivals([1, 1, 2, 1, 1, 2]), 6, config)
    assert "arr_owner_eff_raw" in model.named_vars and "arr_owner_eff" in model.named_vars
