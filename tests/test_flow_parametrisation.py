"""Centred vs non-centred group effects of the deal-flow model (fast)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from forecast.data.cells import CellTable
from forecast.data.covariates import CovariateSpec
from forecast.models.config import ModelConfig
from forecast.models.flow import CENTRED_MIN_EVENTS, add_flow_block, non_centred_outcomes


def cells(n_owners: int = 6, advance_events: int = 3, won_events: int = 400) -> CellTable:
    """One cell per (stage 0/1, owner): many won and lost events, few advances."""
    stage = np.repeat([0, 1], n_owners)
    owner = np.tile(np.arange(n_owners), 2)
    counts = np.zeros((2 * n_owners, 4), dtype=np.int64)
    counts[:, 0] = 5000
    counts[:n_owners, 1] = advance_events
    counts[:, 2] = won_events // 2
    counts[:, 3] = won_events // 2
    z = np.zeros(2 * n_owners, dtype=np.int64)
    return CellTable(stage=stage, bucket=z, owner=owner, segment=z, pattern=z, counts=counts,
                     partial=np.zeros((2 * n_owners, 6), dtype=np.int64), n_stages=2,
                     n_owners=n_owners, n_segments=1, n_patterns=1)


def test_auto_non_centres_only_the_outcomes_with_few_events_per_level():
    table = cells()
    auto = non_centred_outcomes(table, table.owner, table.n_owners, ModelConfig())
    assert auto.tolist() == [True, False, False]
    many = cells(advance_events=2 * CENTRED_MIN_EVENTS)
    assert not non_centred_outcomes(many, many.owner, many.n_owners, ModelConfig()).any()
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
