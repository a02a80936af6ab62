"""The deal-flow log likelihood and its gradient as one fused numba kernel.

The likelihood of :mod:`forecast.models.flow` over the exposure cells, for the linear
predictor ``eta[k, c] = Σ_j theta[k, j] · X[c, j] (+ CLOSED on the last stage's advance)``::

    log L = Σ_c Σ_k counts[c, k+1] · eta[k, c] − n[c] · lse[c]
            + Σ_c Σ_r partial[c, r] · log(1 − (r/7) · (1 − exp(−lse[c])))

with ``lse = log(1 + Σ_k exp(eta_k))`` (``−log P(stay)``). ``X`` is the cells' design
(one-hot stage, bucket, owner, segment and covariate levels, numeric covariates), held
sparse: a row has one entry per block, so one pass over the cells gathers ``eta``,
accumulates ``log L`` and scatter-adds the gradient ``∂ log L / ∂ theta`` — work
proportional to the non-zeros, where the PyTensor expression it replaces multiplied dense
one-hot matrices (1.3 ms per gradient on the bundled sample's 8,963 cells, see
``docs/performance.md``).

:class:`FlowLogLik` wraps the kernel as a PyTensor ``Op`` with two outputs, the value and
the gradient; its ``grad`` returns the second, so PyMC's compiled ``logp_dlogp`` runs the
kernel once per leapfrog step. The kernel is compiled with ``cache=True``: after the first
run on a machine, loading it takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

#: logit offset that shuts the advance outcome of the last stage
CLOSED = -50.0


@dataclass(frozen=True)
class FlowDesign:
    """The cells' sparse design and counts, as the kernel reads them.

    Attributes
    ----------
    indptr, indices, values
        CSR rows of the design ``X`` (``n_cells × n_columns``).
    counts
        ``(n_cells, 4)`` deal-weeks ending in stay, advance, won, lost (float).
    closed
        ``(n_cells,)`` 1.0 where the cell is in the last stage (advance impossible).
    partial
        ``(n_cells, 6)`` censored part-weeks of 1..6 days (float).
    n_columns
        Width of ``X`` (the second axis of ``theta``).
    """

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    counts: np.ndarray
    closed: np.ndarray
    partial: np.ndarray
    n_columns: int

    @classmethod
    def from_blocks(cls, blocks: list[np.ndarray], counts: np.ndarray, closed: np.ndarray,
                    partial: np.ndarray) -> FlowDesign:
        """Build from dense design blocks (each ``n_cells × width``, mostly zeros)."""
        n = len(counts)
        rows, cols, vals, offset = [], [], [], 0
        for block in blocks:
            r, c = np.nonzero(block)
            rows.append(r)
            cols.append(c + offset)
            vals.append(block[r, c])
            offset += block.shape[1]
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        order = np.argsort(r, kind="stable")
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
        return cls(indptr=indptr,
                   indices=np.concatenate(cols)[order].astype(np.int64),
                   values=np.concatenate(vals)[order].astype(np.float64),
                   counts=np.ascontiguousarray(counts, dtype=np.float64),
                   closed=np.ascontiguousarray(closed, dtype=np.float64),
                   partial=np.ascontiguousarray(partial, dtype=np.float64),
                   n_columns=offset)

    def dense(self) -> np.ndarray:
        """The design as a dense ``(n_cells, n_columns)`` matrix (for tests and checks)."""
        out = np.zeros((len(self.counts), self.n_columns))
        rows = np.repeat(np.arange(len(self.counts)), np.diff(self.indptr))
        out[rows, self.indices] = self.values
        return out


@numba.njit(cache=True)
def flow_logp_grad(theta, indptr, indices, values, counts, closed, partial):  # pragma: no cover
    """``(log L, ∂ log L / ∂ theta)`` of the deal-flow likelihood (see the module).

    Three exponentials and one logarithm per cell in the usual case (every ``eta < 0``,
    so ``m = 0``): ``P(k) = e_k / s`` and ``P(stay) = e^{−m} / s`` reuse the terms of
    ``lse = m + log s``; part-weeks are visited only in the cells that hold any.
    """
    n_cells = len(indptr) - 1
    grad = np.zeros_like(theta)
    logp = 0.0
    t0 = theta[0]
    t1 = theta[1]
    t2 = theta[2]
    g0 = grad[0]
    g1 = grad[1]
    g2 = grad[2]
    for c in range(n_cells):
        e0 = CLOSED * closed[c]
        e1 = 0.0
        e2 = 0.0
        start = indptr[c]
        stop = indptr[c + 1]
        for q in range(start, stop):
            j = indices[q]
            v = values[q]
            e0 += t0[j] * v
            e1 += t1[j] * v
            e2 += t2[j] * v
        m = max(0.0, max(e0, max(e1, e2)))
        if m == 0.0:
            x_stay = 1.0
            x0 = np.exp(e0)
            x1 = np.exp(e1)
            x2 = np.exp(e2)
        else:
            x_stay = np.exp(-m)
            x0 = np.exp(e0 - m)
            x1 = np.exp(e1 - m)
            x2 = np.exp(e2 - m)
        s = x_stay + x0 + x1 + x2
        inv_s = 1.0 / s
        lse = m + np.log(s)
        n = counts[c, 0] + counts[c, 1] + counts[c, 2] + counts[c, 3]
        logp += counts[c, 1] * e0 + counts[c, 2] * e1 + counts[c, 3] * e2 - n * lse
        # ∂/∂eta_k = counts_k − n P(k), plus the censored part-weeks' term (if any)
        scale = -n
        if partial[c, 0] + partial[c, 1] + partial[c, 2] + partial[c, 3] + partial[c, 4] \
                + partial[c, 5] != 0.0:
            p_stay = x_stay * inv_s
            p_event = 1.0 - p_stay
            acc = 0.0
            for r in range(6):
                w = partial[c, r]
                if w != 0.0:
                    f = (r + 1) / 7.0
                    logp += w * np.log1p(-f * p_event)
                    acc -= w * f / (1.0 - f * p_event)
            scale += acc * p_stay
        scale *= inv_s
        d0 = counts[c, 1] + scale * x0
        d1 = counts[c, 2] + scale * x1
        d2 = counts[c, 3] + scale * x2
        for q in range(start, stop):
            j = indices[q]
            v = values[q]
            g0[j] += d0 * v
            g1[j] += d1 * v
            g2[j] += d2 * v
    return logp, grad


def evaluate(theta: np.ndarray, design: FlowDesign) -> tuple[float, np.ndarray]:
    """``(log L, gradient)`` at ``theta`` (``(3, n_columns)``)."""
    return flow_logp_grad(np.ascontiguousarray(theta, dtype=np.float64), design.indptr,
                          design.indices, design.values, design.counts, design.closed,
                          design.partial)


class FlowLogLik(Op):
    """PyTensor ``Op``: ``theta (3, n_columns) → (log L, ∂ log L / ∂ theta)``.

    Two outputs from one kernel call; :meth:`grad` returns the second, scaled by the
    incoming gradient, so value and gradient cost one pass. Ops are equal only to
    themselves (the design is data, not a parameter).
    """

    def __init__(self, design: FlowDesign):
        self.design = design

    def make_node(self, theta) -> Apply:
        theta = pt.as_tensor_variable(theta)
        if theta.ndim != 2:
            raise TypeError("theta must be a (3, n_columns) matrix")
        return Apply(self, [theta], [pt.dscalar(), pt.dmatrix()])

    def perform(self, node, inputs, outputs) -> None:
        logp, grad = evaluate(inputs[0], self.design)
        outputs[0][0] = np.asarray(logp, dtype=np.float64)
        outputs[1][0] = grad

    def grad(self, inputs, output_grads):
        _, g = self(inputs[0])
        return [output_grads[0] * g]

    def infer_shape(self, fgraph, node, shapes):
        return [(), shapes[0]]

    def __eq__(self, other) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def flow_loglik(theta, design: FlowDesign):
    """The scalar deal-flow log likelihood of the PyTensor matrix ``theta``."""
    return FlowLogLik(design)(theta)[0]


def _register_numba_backend() -> None:
    """Let PyTensor's numba backend (nutpie's ``compile_pymc_model``) call the kernel
    directly instead of falling back to Python mode for every gradient (a PyTensor without
    that entry point keeps the fallback)."""
    try:
        from pytensor.link.numba.dispatch import numba_funcify
    except ImportError:  # pragma: no cover - other PyTensor versions
        return

    @numba_funcify.register(FlowLogLik)
    def _funcify(op: FlowLogLik, node=None, **kwargs):  # pragma: no cover - nutpie only
        d = op.design
        indptr, indices, values = d.indptr, d.indices, d.values
        counts, closed, partial = d.counts, d.closed, d.partial

        @numba.njit
        def flow_op(theta):
            logp, grad = flow_logp_grad(theta, indptr, indices, values, counts, closed,
                                        partial)
            return np.asarray(logp), grad

        return flow_op


_register_numba_backend()
