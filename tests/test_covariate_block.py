"""The categorical covariates as one vectorised block: the same model, in the same
unconstrained coordinates, as the one ``ZeroSumNormal`` per column it replaced."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

import forecast.models.flow as flow
from forecast.data.cells import CellTable
from forecast.data.covariates import CovariateSpec
from forecast.models.config import ModelConfig


def per_column_block(spec, x, config, closed=None):
    """The covariate block as it was: one Gamma spread and one ``ZeroSumNormal`` per
    categorical column, one ``Normal`` per numeric column (frozen reference)."""
    columns, coefs = [], []
    for j, col in enumerate(spec.columns):
        if spec.kinds[j] == "categorical":
            n_lv = len(spec.levels[j])
            codes = x[:, j].astype(int)
            sigma = flow.group_scale(f"sigma_cov[{col}]", config.covariate_sd)
            if flow.non_centred_covariate(codes, n_lv, closed, config):
                raw = pm.ZeroSumNormal(f"beta[{col}]_raw", sigma=1.0, shape=n_lv)
                coefs.append(pm.Deterministic(f"beta[{col}]", sigma * raw))
            else:
                coefs.append(pm.ZeroSumNormal(f"beta[{col}]", sigma=sigma, shape=n_lv))
            seen = np.flatnonzero(codes >= 0)
            indicator = np.zeros((len(x), n_lv))
            indicator[seen, codes[seen]] = 1.0
            columns.append(indicator)
        else:
            beta = pm.Normal(f"beta[{col}]", 0.0, config.numeric_sd)
            coefs.append(pm.math.stack([beta]))
            columns.append(x[:, j : j + 1].astype(float))
    return np.concatenate(columns, axis=1), pm.math.concatenate(coefs)


def cells_and_covariates(rng, n=300):
    """Cells with three categorical covariates (4, 6 and 2 levels) and a numeric one, in
    mixed column order; "product" clearly matters (centred under ``auto``), the others do
    not (non-centred)."""
    counts = np.zeros((n, 4), dtype=np.int64)
    counts[:, 0] = rng.integers(0, 60, n)
    counts[:, 1:] = rng.integers(0, 6, (n, 3))
    table = CellTable(stage=rng.integers(0, 4, n), bucket=rng.integers(0, 5, n),
                      owner=rng.integers(0, 5, n), segment=rng.integers(0, 2, n),
                      pattern=rng.integers(0, 20, n), counts=counts,
                      partial=np.zeros((n, 6), dtype=np.int64), n_stages=4, n_owners=5,
                      n_segments=2, n_patterns=20)
    spec = CovariateSpec(columns=("product", "size", "source", "budget"),
                         kinds=("categorical", "numeric", "categorical", "categorical"),
                         levels=(("a", "b", "c", "d"), (), tuple("uvwxyz"), ("no", "yes")),
                         means=(0.0, 5.0, 0.0, 0.0), sds=(1.0, 2.0, 1.0, 1.0))
    patterns = np.column_stack([rng.integers(0, 4, 20), rng.normal(size=20),
                                rng.integers(0, 6, 20), rng.integers(0, 2, 20)])
    patterns[4, 2] = -1  # a level the training data never had
    product = patterns[table.pattern, 0]
    counts[:, 2] += 20 * (product == 0)  # product "a" wins, "d" loses: its spread is clear
    counts[:, 3] += 20 * (product == 3)
    return table, spec, patterns


def build(block, table, spec, patterns, config):
    original = flow.covariate_block
    flow.covariate_block = block
    try:
        with pm.Model() as model:
            flow.add_flow_block(table, spec, patterns, config)
    finally:
        flow.covariate_block = original
    return model


def old_point_to_new(point: dict, spec: CovariateSpec) -> dict:
    """The same unconstrained point, named as the vectorised block names it."""
    new = {k: v for k, v in point.items()
           if not (k.startswith("beta[") or k.startswith("sigma_cov["))}
    cat = [c for c, k in zip(spec.columns, spec.kinds, strict=True) if k == "categorical"]
    num = [c for c, k in zip(spec.columns, spec.kinds, strict=True) if k != "categorical"]
    new["sigma_cov_log__"] = np.array([point[f"sigma_cov[{c}]_log__"] for c in cat])
    new["beta_cat_z"] = np.concatenate([
        point.get(f"beta[{c}]_zerosum__", point.get(f"beta[{c}]_raw_zerosum__"))
        for c in cat])
    new["beta_num"] = np.array([point[f"beta[{c}]"] for c in num])
    return new


@pytest.mark.slow  # compiles two models' densities and gradients
def test_the_vectorised_block_is_the_same_density():
    rng = np.random.default_rng(3)
    table, spec, patterns = cells_and_covariates(rng)
    config = ModelConfig()  # group_effects "auto"
    old = build(per_column_block, table, spec, patterns, config)
    new = build(flow.covariate_block, table, spec, patterns, config)
    assert len(new.free_RVs) < len(old.free_RVs)
    # the data make a mix of both forms: "product" centred, the others non-centred
    assert "beta[product]" in old.named_vars and "beta[product]_raw" not in old.named_vars
    assert "beta[source]_raw" in old.named_vars
    # FAST_COMPILE: the same arithmetic without the graph rewrites and C code, which cost
    # half a minute here and are not what the test checks
    fast = {"mode": "FAST_COMPILE"}
    old_logp, new_logp = old.compile_logp(**fast), new.compile_logp(**fast)
    old_dlogp, new_dlogp = old.compile_dlogp(**fast), new.compile_dlogp(**fast)
    for _ in range(5):
        point = {k: rng.normal(0.0, 0.7, np.shape(v))
                 for k, v in old.initial_point().items()}
        mapped = old_point_to_new(point, spec)
        assert set(mapped) == set(new.initial_point())
        assert new_logp(mapped) == pytest.approx(old_logp(point), rel=1e-12)
        # the gradients, matched coordinate by coordinate through the same names
        g_old = dict(zip([v.name for v in old.value_vars],
                         np.split(old_dlogp(point),
                                  np.cumsum([np.size(point[v.name])
                                             for v in old.value_vars])[:-1]),
                         strict=True))
        g_new = new_dlogp(mapped)
        g_old_as_new = np.concatenate([
            np.ravel(old_point_to_new(g_old, spec)[v.name]) for v in new.value_vars])
        np.testing.assert_allclose(g_new, g_old_as_new, rtol=1e-9, atol=1e-9)


def deterministics(model, names, point):
    fn = model.compile_fn(model.replace_rvs_by_values([model[n] for n in names]),
                          inputs=model.value_vars, on_unused_input="ignore")
    return dict(zip(names, fn(point), strict=True))


def test_each_columns_effects_and_spread_are_the_per_column_blocks():
    rng = np.random.default_rng(4)
    table, spec, patterns = cells_and_covariates(rng)
    config = ModelConfig()
    old = build(per_column_block, table, spec, patterns, config)
    new = build(flow.covariate_block, table, spec, patterns, config)
    names = [f"beta[{c}]" for c in spec.columns] + [
        f"sigma_cov[{c}]" for c, k in zip(spec.columns, spec.kinds, strict=True)
        if k == "categorical"]
    for _ in range(3):
        point = {k: rng.normal(0.0, 0.5, np.shape(v)) for k, v in old.initial_point().items()}
        want = deterministics(old, names, point)
        got = deterministics(new, names, old_point_to_new(point, spec))
        for name in names:  # a swapped or shifted slice would differ here
            np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-14)
        for col, levels in zip(spec.columns, spec.levels, strict=True):
            if levels:
                assert got[f"beta[{col}]"].shape == (len(levels),)
                assert abs(got[f"beta[{col}]"].sum()) < 1e-12  # zero-sum


def test_zero_sum_basis_is_orthonormal_and_sums_to_zero():
    assert flow.zero_sum_basis(0).shape == (0, 0)  # a column without levels
    assert flow.zero_sum_basis(1).shape == (1, 0)  # one level: effect 0, nothing free
    for n in (2, 3, 7):
        b = flow.zero_sum_basis(n)
        np.testing.assert_allclose(b.T @ b, np.eye(n - 1), atol=1e-12)
        np.testing.assert_allclose(b.sum(axis=0), 0.0, atol=1e-12)


def test_a_text_column_empty_in_every_training_deal_builds():
    # e.g. a backtest date before anyone filled the column in: no levels, no effects
    rng = np.random.default_rng(6)
    table, _, patterns = cells_and_covariates(rng)
    spec = CovariateSpec(columns=("product", "empty"), kinds=("categorical", "categorical"),
                         levels=(("a", "b", "c", "d"), ()), means=(0.0, 0.0), sds=(1.0, 1.0))
    x = np.column_stack([patterns[:, 0], np.full(len(patterns), -1.0)])
    model = build(flow.covariate_block, table, spec, x, ModelConfig())
    point = model.initial_point()
    got = deterministics(model, ["beta[product]", "beta[empty]"], point)
    assert got["beta[empty]"].shape == (0,) and got["beta[product]"].shape == (4,)
    assert np.isfinite(model.compile_logp()(point))
