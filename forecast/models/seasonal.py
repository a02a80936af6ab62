"""Month-of-year effects on the won and lost odds, learned beside the months' own variation.

With ``pipeline.yaml``'s ``seasonal: true`` (and ``calendar: true``), the weekly odds of
winning (losing) in calendar month ``m`` are multiplied by ``exp(s_k[moy(m)] + ε_km)``: a
month-of-year effect ``s`` shared by every January (every August, …) and the month's own
effect ``ε`` (:mod:`forecast.models.month_variation`). The quarter calendar's slot effects
are in the fitted deal-flow model already; ``s`` is what the month of the year adds to
them (a December that closes less than a June, a summer lull).

The model, per outcome ``k`` (won, lost), on the months' observed and expected counts
(:func:`~forecast.models.month_variation.month_counts`)::

    observed_m ~ Poisson(expected_m · exp(s[moy(m)] + ε_m))
    ε_m ~ Normal(0, σ),  s_j ~ Normal(0, τ),  σ, τ ~ HalfNormal(0.3)

``τ`` pools the twelve effects: where the months of the year differ no more than the
months do among themselves, ``τ`` goes to 0 and the effects with it. The posterior of
``(σ, τ)`` is computed on a grid, each ``s_j`` and each ``ε_m`` integrated out by
Gauss–Hermite quadrature (the months' log-likelihoods tabulated on a grid of ``s``); the
draws of ``s`` come from their conditional posteriors on that grid given each draw's
``(σ, τ)`` (:func:`season_draws`).

The history supports it once the months counted hold every month of the year at least
:data:`MIN_YEARS` times (:func:`season_supported`): with one year, a month's effect and
its own luck cannot be told apart. Before that the fit leaves the effects out and says
so in its diagnostics.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from forecast.models.month_variation import SIGMA_PRIOR, MonthCounts

#: each month of the year must be counted this many times before its effect is learned
MIN_YEARS = 2
#: prior scale of the month-of-year effects' spread τ (HalfNormal)
TAU_PRIOR = 0.3
#: grids of σ (months' own spread), τ (month-of-year spread) and s (an effect's value)
SIGMA_GRID = np.linspace(0.0, 1.5, 101)[1:]
TAU_GRID = np.linspace(0.0, 1.0, 101)[1:]
S_GRID = np.linspace(-2.0, 2.0, 401)
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)  # ∫ f(z) φ(z) dz ≈ Σ w f(x) / √2π
_W = _WEIGHTS / np.sqrt(2.0 * np.pi)
_LOG_W = np.log(_W)
#: names of the months of the year in summaries
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
               "Dec")


def month_of_year(months: tuple[str, ...] | list[str]) -> np.ndarray:
    """``0..11`` (January 0) of each ``YYYY-MM`` month."""
    return np.array([int(m[5:7]) - 1 for m in months], dtype=np.int64)


def fewest_per_month(months: tuple[str, ...] | list[str]) -> int:
    """How many times the month of the year least often among ``months`` is there."""
    return int(np.bincount(month_of_year(months), minlength=12).min())


def season_supported(months: tuple[str, ...] | list[str]) -> bool:
    """Whether every month of the year is among ``months`` at least :data:`MIN_YEARS`
    times."""
    return fewest_per_month(months) >= MIN_YEARS


def _month_loglik(observed: float, expected: float) -> np.ndarray:
    """``(len(S_GRID), len(SIGMA_GRID))``: ``log ∫ Poisson(observed | expected · exp(s +
    σz)) φ(z) dz`` at every grid ``s`` and ``σ``."""
    x = S_GRID[:, None, None] + SIGMA_GRID[None, :, None] * _NODES[None, None, :]
    log_p = observed * x - expected * np.exp(x)
    top = log_p.max(axis=2, keepdims=True)
    total = np.exp(log_p - top) @ _W
    return (top[:, :, 0] + np.log(total) + observed * np.log(expected)
            - special.gammaln(observed + 1.0))


def _by_month_of_year(observed: np.ndarray, expected: np.ndarray,
                      moy: np.ndarray) -> np.ndarray:
    """``(12, S, σ)``: the summed log-likelihoods of each month of the year's months (months
    the model expects nothing of are left out)."""
    out = np.zeros((12, len(S_GRID), len(SIGMA_GRID)))
    for o, e, j in zip(observed, expected, moy, strict=True):
        if e > 1e-9:
            out[j] += _month_loglik(float(o), float(e))
    return out


def _log_lik_given_tau(by_moy: np.ndarray) -> np.ndarray:
    """``(σ, τ)``: ``Σ_j log ∫ Normal(s; 0, τ) exp(by_moy[j](s, σ)) ds``, by Gauss–Hermite
    quadrature in ``s = τ·u`` (``by_moy`` interpolated linearly between grid values of
    ``s``)."""
    s = np.clip(TAU_GRID[:, None] * _NODES[None, :], S_GRID[0], S_GRID[-1])  # (τ, u)
    pos = (s - S_GRID[0]) / (S_GRID[1] - S_GRID[0])
    lo = np.minimum(pos.astype(np.int64), len(S_GRID) - 2)
    frac = (pos - lo)[None, :, :, None]
    at = by_moy[:, lo, :] * (1.0 - frac) + by_moy[:, lo + 1, :] * frac  # (12, τ, u, σ)
    per_moy = special.logsumexp(at + _LOG_W[None, None, :, None], axis=2)  # (12, τ, σ)
    return per_moy.sum(axis=0).T


def _log_prior_s() -> np.ndarray:
    """``(τ, S)``: ``log Normal(s; 0, τ)`` at the grid values of ``s``."""
    return stats.norm.logpdf(S_GRID[None, :], scale=TAU_GRID[:, None])


def season_draws(counts: MonthCounts, n_draws: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Posterior draws of the months' spread and the month-of-year effects.

    Parameters
    ----------
    counts
        The months' observed and expected won and lost counts
        (:func:`~forecast.models.month_variation.month_counts`).
    n_draws
        Draws to return (the flow posterior's).
    rng
        Random numbers of the draws.

    Returns
    -------
    sigma
        ``(n_draws, 3)`` spread of a month's own effect on the advance (0), won and lost
        logits, from the joint posterior with the month-of-year effects (it replaces
        :func:`~forecast.models.month_variation.month_sigma_draws`).
    season
        ``(n_draws, 3, 12)`` month-of-year effects on the (advance: 0, won, lost) logits,
        January first.
    summary
        For the diagnostics: per outcome ``tau`` (mean, 3% and 97% quantiles) and each
        month's effect (``Jan`` …: mean, 3% and 97%).
    """
    moy = month_of_year(counts.months)
    prior_s = _log_prior_s()
    sigma = np.zeros((n_draws, 3))
    season = np.zeros((n_draws, 3, 12))
    summary: dict = {}
    s_step = S_GRID[1] - S_GRID[0]
    for k, name in ((1, "won"), (2, "lost")):
        by_moy = _by_month_of_year(counts.observed[:, k], counts.expected[:, k], moy)
        log_lik = _log_lik_given_tau(by_moy)  # log p(observed | σ, τ)
        log_post = (log_lik + stats.halfnorm.logpdf(SIGMA_GRID, scale=SIGMA_PRIOR)[:, None]
                    + stats.halfnorm.logpdf(TAU_GRID, scale=TAU_PRIOR)[None, :])
        w = np.exp(log_post - log_post.max()).ravel()
        pick = rng.choice(w.size, size=n_draws, p=w / w.sum())
        i_sigma, i_tau = np.unravel_index(pick, log_post.shape)
        sigma[:, k] = SIGMA_GRID[i_sigma] - (SIGMA_GRID[1] - SIGMA_GRID[0]) * rng.random(n_draws)
        tau = TAU_GRID[i_tau] - (TAU_GRID[1] - TAU_GRID[0]) * rng.random(n_draws)
        # each effect from its grid posterior given the draw's (σ, τ) (Gumbel-max)
        for lo in range(0, n_draws, 250):
            hi = min(lo + 250, n_draws)
            logits = (by_moy[:, :, i_sigma[lo:hi]].transpose(2, 0, 1)
                      + prior_s[i_tau[lo:hi]][:, None, :])  # (d, 12, S)
            idx = np.argmax(logits + rng.gumbel(size=logits.shape), axis=2)
            season[lo:hi, k] = S_GRID[idx] + s_step * (rng.random(idx.shape) - 0.5)
        summary[f"tau_{name}"] = _interval(tau)
        summary[f"season_{name}"] = {MONTH_NAMES[j]: _interval(season[:, k, j])
                                     for j in range(12)}
    return sigma, season, summary


def _interval(x: np.ndarray) -> dict:
    lo, hi = np.quantile(x, [0.03, 0.97])
    return {"mean": round(float(x.mean()), 4), "q3%": round(float(lo), 4),
            "q97%": round(float(hi), 4)}
