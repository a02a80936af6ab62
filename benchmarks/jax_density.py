"""The deal-flow likelihood written in JAX, for measuring JAX-based samplers on it.

pipecast's flow model evaluates its likelihood with a fused numba kernel
(:class:`forecast.models.flow_density.FlowLogLik`), which PyTensor's JAX backend cannot
translate. :func:`register` teaches it: the same density written with JAX gathers and
segment sums, its gradient from ``jax.value_and_grad``, the cells' design baked into the
traced function as constants. ``benchmarks/fit_kernel.py --jax`` uses it to time one value
and gradient under XLA and to sample the model with ``pm.sample(nuts_sampler="numpyro")``;
the product does not offer JAX samplers (``docs/fit-kernel.md`` says why).
"""

from __future__ import annotations

import numpy as np

from forecast.models.flow_density import CLOSED, FlowDesign, FlowLogLik


def jax_loglik(design: FlowDesign):
    """``theta (3, n_columns) → log L`` as a JAX function (not yet jitted)."""
    import jax
    import jax.numpy as jnp

    n_cells = len(design.counts)
    rows = jnp.asarray(np.repeat(np.arange(n_cells), np.diff(design.indptr)))
    indices, values = jnp.asarray(design.indices), jnp.asarray(design.values)
    counts, closed = jnp.asarray(design.counts), jnp.asarray(design.closed)
    with_partial = np.flatnonzero(design.partial.any(axis=1))
    partial, part_rows = jnp.asarray(design.partial[with_partial]), jnp.asarray(with_partial)
    frac = jnp.arange(1, 7) / 7.0
    n = counts.sum(axis=1)

    def logp(theta):
        eta = jax.ops.segment_sum((theta[:, indices] * values).T, rows,
                                  num_segments=n_cells)  # (n_cells, 3)
        eta = eta.at[:, 0].add(CLOSED * closed)
        m = jnp.maximum(0.0, eta.max(axis=1))
        lse = m + jnp.log(jnp.exp(-m) + jnp.exp(eta - m[:, None]).sum(axis=1))
        out = (counts[:, 1:] * eta).sum() - (n * lse).sum()
        p_event = -jnp.expm1(-lse[part_rows])  # 1 − P(stay) in the cells with part-weeks
        return out + (partial * jnp.log1p(-frac[None, :] * p_event[:, None])).sum()

    return logp


def register() -> None:
    """Register :class:`FlowLogLik` with PyTensor's JAX backend (value and gradient)."""
    import jax
    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(FlowLogLik)
    def _funcify(op: FlowLogLik, node=None, **kwargs):
        return jax.value_and_grad(jax_loglik(op.design))
