"""The deal-flow likelihood as the PyTensor expression that
:mod:`forecast.models.flow_density` replaced (dense one-hot design, autodiff gradient),
frozen here as the reference the fused kernel is tested against (and that
``benchmarks/fit_kernel.py`` times)."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from forecast.models.flow_density import CLOSED, FlowDesign


def reference_loglik(theta, design: FlowDesign):
    """The replaced expression: ``theta`` a ``(3, n_columns)`` PyTensor matrix."""
    dense = design.dense()
    last = design.closed
    eta = pt.dot(theta, pt.as_tensor(np.ascontiguousarray(dense.T)))
    eta = eta + pt.as_tensor(np.stack([last * CLOSED, 0 * last, 0 * last]))
    counts = design.counts
    n = counts.sum(axis=1)
    m = pt.maximum(pt.max(eta, axis=0), 0.0)
    lse = m + pt.log(pt.exp(-m) + pt.sum(pt.exp(eta - m[None, :]), axis=0))
    logp = pt.sum(np.ascontiguousarray(counts[:, 1:].T) * eta) - pt.sum(n * lse)
    rows = np.flatnonzero(design.partial.sum(axis=1) > 0)
    if len(rows):
        p_event = 1.0 - pt.exp(-lse[rows])
        frac = np.arange(1, 7) / 7.0
        logp = logp + pt.sum(design.partial[rows]
                             * pt.log1p(-frac[None, :] * p_event[:, None]))
    return logp


def reference_logp_and_grad(theta: np.ndarray, design: FlowDesign):
    """``(log L, gradient)`` at ``theta`` by the replaced expression, PyTensor's gradient."""
    th = pt.dmatrix("theta")
    logp = reference_loglik(th, design)
    value, grad = pytensor.function([th], [logp, pt.grad(logp, th)])(theta)
    return float(value), grad
