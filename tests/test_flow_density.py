"""The fused deal-flow kernel against the PyTensor expression it replaced (fast).

Value to 1e-9 (relative), gradient against central finite differences and against
PyTensor's autodiff of the old expression, on cells with part-weeks, the closed last
stage, an unseen covariate level (code −1), and numeric and categorical covariates.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from forecast.data.cells import CellTable
from forecast.data.covariates import CovariateSpec
from forecast.models.config import ModelConfig
from forecast.models.flow import add_flow_block, covariate_block, one_hot
from forecast.models.flow_density import FlowDesign, FlowLogLik, evaluate
from tests.flow_reference import reference_logp_and_grad


def random_cells(rng: np.random.Generator, n: int = 400) -> tuple[CellTable, CovariateSpec,
                                                                    np.ndarray]:
    """Cells over 4 stages, 5 buckets, 6 owners, 3 segments and 12 covariate patterns
    (a categorical covariate with 4 levels, one pattern's level unseen, and a numeric one);
    a fifth of the cells hold censored part-weeks."""
    counts = np.zeros((n, 4), dtype=np.int64)
    counts[:, 0] = rng.integers(0, 60, n)
    counts[:, 1:] = rng.integers(0, 6, (n, 3))
    partial = np.zeros((n, 6), dtype=np.int64)
    some = rng.random(n) < 0.2
    partial[some] = rng.integers(0, 3, (some.sum(), 6))
    table = CellTable(stage=rng.integers(0, 4, n), bucket=rng.integers(0, 5, n),
                      owner=rng.integers(0, 6, n), segment=rng.integers(0, 3, n),
                      pattern=rng.integers(0, 12, n), counts=counts, partial=partial,
                      n_stages=4, n_owners=6, n_segments=3, n_patterns=12)
    spec = CovariateSpec(columns=("product", "employees"), kinds=("categorical", "numeric"),
                         levels=(("a", "b", "c", "d"), ()), means=(0.0, 10.0), sds=(1.0, 3.0))
    patterns = np.column_stack([rng.integers(0, 4, 12), rng.normal(size=12)])
    patterns[3, 0] = -1  # a level the training data never had
    return table, spec, patterns


def design_of(table: CellTable, spec: CovariateSpec, patterns: np.ndarray) -> FlowDesign:
    """The design :func:`add_flow_block` builds, from the same blocks."""
    with pm.Model():
        x_cov, _ = covariate_block(spec, patterns[table.pattern], ModelConfig())
    blocks = [one_hot(table.stage, table.n_stages), one_hot(table.bucket, 5),
              one_hot(table.owner, table.n_owners), one_hot(table.segment, table.n_segments),
              x_cov]
    return FlowDesign.from_blocks(blocks, table.counts, table.stage == table.n_stages - 1,
                                  table.partial)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(5)
    table, spec, patterns = random_cells(rng)
    design = design_of(table, spec, patterns)
    theta = rng.normal(-2.5, 1.0, (3, design.n_columns))
    return table, design, theta


def test_the_design_is_the_dense_one_with_an_empty_row_for_an_unseen_level(case):
    table, design, _ = case
    dense = design.dense()
    assert dense.shape == (table.n_cells, 4 + 5 + 6 + 3 + 4 + 1)
    unseen = table.pattern == 3
    assert unseen.any()
    assert (dense[unseen, 18:22] == 0).all()  # no level indicator: the pooled mean
    assert (dense[~unseen, 18:22].sum(axis=1) == 1).all()


def test_value_and_gradient_match_the_replaced_expression(case):
    table, design, theta = case
    value, grad = evaluate(theta, design)
    ref_value, ref_grad = reference_logp_and_grad(theta, design)
    assert value == pytest.approx(ref_value, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-9)


def test_gradient_matches_finite_differences(case):
    _, design, theta = case
    _, grad = evaluate(theta, design)
    h = 1e-6
    numeric = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        up, down = theta.copy(), theta.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (evaluate(up, design)[0] - evaluate(down, design)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-5)


def test_part_weeks_and_the_closed_stage_enter_by_hand():
    """One cell, one part-week of 3 days, in the last stage: the value by hand."""
    eta = np.array([[0.3], [-1.0], [-2.0]])
    design = FlowDesign.from_blocks([np.ones((1, 1))], np.array([[10, 4, 1, 2]]),
                                    np.array([True]), np.array([[0, 0, 1, 0, 0, 0]]))
    value, _ = evaluate(eta, design)
    e = np.array([0.3 - 50.0, -1.0, -2.0])
    lse = np.log1p(np.exp(e).sum())
    by_hand = 4 * e[0] + 1 * e[1] + 2 * e[2] - 17 * lse + np.log1p(-3 / 7 * (1 - np.exp(-lse)))
    assert value == pytest.approx(by_hand, rel=1e-12)


def test_the_model_uses_the_kernel_once_and_pymc_gets_its_gradient():
    rng = np.random.default_rng(2)
    table, spec, patterns = random_cells(rng, n=120)
    with pm.Model() as model:
        add_flow_block(table, spec, patterns, ModelConfig())
    fn = model.logp_dlogp_function(ravel_inputs=True)
    fn.set_extra_values({})
    x = np.concatenate([v.ravel() for v in model.initial_point().values()]) + 0.05
    value, grad = fn(x)
    h = 1e-6
    for i in range(0, len(x), max(1, len(x) // 12)):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        assert grad[i] == pytest.approx((fn(up)[0] - fn(down)[0]) / (2 * h), rel=1e-5, abs=1e-4)
    nodes = fn._pytensor_function.maker.fgraph.apply_nodes
    assert sum(type(n.op) is FlowLogLik for n in nodes) == 1  # value and gradient: one call
