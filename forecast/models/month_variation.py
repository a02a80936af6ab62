"""Month-to-month variation the deals do not explain: its spread, learned from the history.

Some months go well for everyone and some badly: the monthly counts of won and lost deals
vary more than independent deal-weeks allow. With the quarter calendar on
(``pipeline.yaml: calendar: true``) pipecast learns how much, and the simulation draws a
fresh effect for every future month, so that the intervals carry it.

The model: in calendar month ``m`` the weekly odds of outcome ``k`` (won, lost) of every
deal are multiplied by ``exp(ε_km)``, ``ε_km ~ Normal(0, σ_k)``. Given the fitted deal-flow
model, the count of ``k`` events in deal-weeks starting in month ``m`` is close to
``Poisson(E_km · exp(ε_km))``, ``E_km`` the count the model expects there
(:func:`month_counts`). ``σ_k`` is estimated from the months' observed and expected counts
by its exact one-dimensional posterior on a grid, with each month's ``ε`` integrated out by
Gauss–Hermite quadrature and a ``HalfNormal(0.3)`` prior, which lets ``σ`` go to 0 where
the months vary no more than chance (:func:`month_sigma_draws`). This second stage treats
the flow model's parameters as known (its posterior mean hazards give ``E``): the months'
shocks are not fed back into the flow model's own uncertainty, a simplification that keeps
the fit's cells (and its time) those of the calendar alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from forecast.data.cells import CellTable
from forecast.data.covariates import CovariateSpec, pattern_effects
from forecast.posterior import COV_SIGN, FlowPosterior

#: prior scale of the month effects' spread σ (HalfNormal)
SIGMA_PRIOR = 0.3
#: grid of σ on which its posterior is computed
SIGMA_GRID = np.linspace(0.0, 1.5, 601)[1:]
#: posterior draws of the flow model whose hazards are averaged into the expected counts
EXPECTATION_DRAWS = 50
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)  # ∫ f(z) φ(z) dz ≈ Σ w f(x) / √2π


@dataclass(frozen=True)
class MonthCounts:
    """Observed and expected events per calendar month (``months`` ``YYYY-MM``)."""

    months: tuple[str, ...]
    observed: np.ndarray  # (M, 3) advance, won, lost
    expected: np.ndarray  # (M, 3)


def month_counts(cells: CellTable, first_month: np.datetime64, flow: FlowPosterior,
                 spec: CovariateSpec, patterns: np.ndarray) -> MonthCounts:
    """Each month's observed events and those the fitted model expects.

    Parameters
    ----------
    cells
        Cells split by month and quarter slot (:func:`forecast.data.cells.build_cells` with
        ``first_month``): ``slot = 4 · month + quarter slot``.
    first_month
        The month of code 0.
    flow
        The fitted deal-flow posterior (with its calendar).
    spec, patterns
        The covariate encoding and the patterns the cells' codes index.

    Returns
    -------
    MonthCounts
        From the month after the first month with a won or lost deal on:
        ``expected[m, k]`` sums, over the cells of month ``m``, the deal-weeks (a part-week
        of ``r`` observed days counting ``r/7``) times the weekly probability of ``k``,
        averaged over :data:`EXPECTATION_DRAWS` posterior draws. Months before the first
        close are left out: an export that records no close then (the Maven CRM data's first
        four months) says nothing about how months vary, and its zeros would read as very
        bad months; so is the month closes begin in, which such an export records in part.
    """
    n_p = flow.n_draws
    take = np.unique(np.linspace(0, n_p - 1, min(EXPECTATION_DRAWS, n_p)).astype(int))
    xb = np.broadcast_to(pattern_effects(spec, patterns, [b[take] for b in flow.beta_cat],
                                         flow.beta_num[take]), (len(take), len(patterns)))
    month, slot = cells.slot // 4, cells.slot % 4
    eta = (flow.a[take][:, :, cells.stage] + flow.dur[take][:, :, cells.bucket]
           + flow.owner_eff[take][:, :, cells.owner] + flow.segment_eff[take][:, :, cells.segment]
           + COV_SIGN[None, :, None] * xb[:, cells.pattern][:, None, :])
    if flow.calendar is not None:
        eta = eta + flow.calendar[take][:, :, slot]
    if flow.drift is not None:  # each month in its quarter's level
        eta = eta + flow.drift[take][:, :, cells.quarter]
    ex = np.exp(eta)
    ex[:, 0, cells.stage == cells.n_stages - 1] = 0.0  # no advancing from the last stage
    prob = (ex / (1.0 + ex.sum(axis=1, keepdims=True))).mean(axis=0)  # (3, n_cells)
    weeks = cells.counts.sum(axis=1) + cells.partial @ (np.arange(1, 7) / 7.0)
    n_m = int(month.max()) + 1 if cells.n_cells else 0
    expected = np.zeros((n_m, 3))
    observed = np.zeros((n_m, 3))
    for k in range(3):
        expected[:, k] = np.bincount(month, weights=weeks * prob[k], minlength=n_m)
        observed[:, k] = np.bincount(month, weights=cells.counts[:, k + 1], minlength=n_m)
    closes = np.flatnonzero(observed[:, 1:].sum(axis=1) > 0)
    start = int(closes[0]) + 1 if closes.size else n_m
    first = np.datetime64(first_month, "M")
    months = tuple(str(first + i) for i in range(start, n_m))
    return MonthCounts(months=months, observed=observed[start:], expected=expected[start:])


def log_marginal(observed: np.ndarray, expected: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``log p(observed | expected, σ)`` for each ``σ`` of ``sigma``: the months' Poisson
    counts with rate ``expected · exp(σ z)``, ``z ~ Normal(0, 1)`` integrated out per
    month (Gauss–Hermite). Months the model expects nothing of are left out."""
    keep = expected > 1e-9
    o, e = observed[keep][:, None, None], expected[keep][:, None, None]
    z = _NODES[None, None, :]
    rate = e * np.exp(sigma[None, :, None] * z)
    log_p = o * np.log(rate) - rate - special.gammaln(o + 1.0)
    log_w = np.log(_WEIGHTS / np.sqrt(2.0 * np.pi))[None, None, :]
    return special.logsumexp(log_p + log_w, axis=2).sum(axis=0)


def month_sigma_draws(counts: MonthCounts, n_draws: int,
                      rng: np.random.Generator) -> np.ndarray:
    """``(n_draws, 3)`` posterior draws of the month effects' spread on the advance (0: not
    modelled), won and lost logits, from each one's grid posterior (:func:`log_marginal`
    and a ``HalfNormal`` :data:`SIGMA_PRIOR` prior), uniform within a grid step."""
    out = np.zeros((n_draws, 3))
    step = SIGMA_GRID[1] - SIGMA_GRID[0]
    for k in (1, 2):
        log_post = (log_marginal(counts.observed[:, k], counts.expected[:, k], SIGMA_GRID)
                    + stats.halfnorm.logpdf(SIGMA_GRID, scale=SIGMA_PRIOR))
        w = np.exp(log_post - log_post.max())
        idx = rng.choice(len(SIGMA_GRID), size=n_draws, p=w / w.sum())
        out[:, k] = SIGMA_GRID[idx] - step * rng.random(n_draws)
    return out
