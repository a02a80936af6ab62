"""Proper scores of probabilistic forecasts, used by the backtest (see ``docs/scoring.md``).

A forecast of one quantity (e.g. revenue booked in a month) is a predictive distribution
given by **samples**: simulated values of the quantity. Every function here takes the
samples in one of three shapes:

* a 1-D array ``(n_samples,)`` with a scalar realised value ``y``: one forecast case;
  the result is a ``float``;
* a 2-D array ``(n_cases, n_samples)`` with ``y`` of length ``n_cases`` (or a scalar,
  broadcast): one forecast per row; the result is an array of length ``n_cases``;
* a scalar: a **point forecast**, scored as a degenerate distribution (a point mass) at
  that value. A column ``(n_cases, 1)`` holds point forecasts for many cases.

A point forecast scored this way gets CRPS = absolute error, every pinball loss of its
value, an interval of zero width (covered only when the forecast is exactly right) and a
PIT of 0 or 1. So a baseline that gives no distribution is compared with a full forecast
on the same scale: CRPS and absolute error are both in units of the forecast quantity.

Deal-level scores (:func:`brier_score`, :func:`log_loss`, :func:`reliability_table`) take
predicted win probabilities ``p`` and 0/1 outcomes.

Samples must be finite (a ``ValueError`` otherwise); a realised value that is NaN gives a
NaN score for that case.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

__all__ = [
    "abs_error",
    "brier_score",
    "crps_normal",
    "crps_samples",
    "interval_coverage",
    "log_loss",
    "pct_error",
    "pinball_loss",
    "pit",
    "pit_histogram",
    "reliability_table",
    "score_forecast",
]


def _as_cases(samples: npt.ArrayLike, y: npt.ArrayLike
              ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Bring ``samples`` to ``(n_cases, n_samples)`` and ``y`` to ``(n_cases,)``.

    Returns the two arrays and whether the input was a single case (scalar result).
    """
    s = np.asarray(samples, dtype=float)
    yy = np.asarray(y, dtype=float)
    if s.ndim <= 1:
        if yy.ndim != 0:
            raise ValueError(
                "1-D samples describe one forecast and need a scalar y; for several cases "
                f"pass samples of shape (n_cases, n_samples) (got y of shape {yy.shape})")
        s = s.reshape(1, -1)
        yy = yy.reshape(1)
        single = True
    elif s.ndim == 2:
        if yy.ndim > 1 or (yy.ndim == 1 and yy.shape[0] != s.shape[0]):
            raise ValueError(f"y must have length n_cases={s.shape[0]} (got shape {yy.shape})")
        yy = np.broadcast_to(yy, (s.shape[0],))
        single = False
    else:
        raise ValueError(f"samples must be a scalar, 1-D or 2-D array (got {s.ndim}-D)")
    if s.shape[1] == 0:
        raise ValueError("samples must hold at least one value per case")
    if not np.all(np.isfinite(s)):
        raise ValueError("samples must be finite (no NaN or inf)")
    return s, yy, single


def _out(values: np.ndarray, single: bool) -> float | np.ndarray:
    return float(values[0]) if single else values


def crps_samples(samples: npt.ArrayLike, y: npt.ArrayLike, *,
                 fair: bool = False) -> float | np.ndarray:
    r"""Continuous ranked probability score of a sample forecast (lower is better).

    Uses the energy form :math:`\mathrm{CRPS}(F, y) = E|X - y| - \tfrac12 E|X - X'|`, with
    :math:`X, X'` independent draws from :math:`F`. For the empirical distribution of
    sorted samples :math:`x_{(1)} \le \dots \le x_{(n)}`,

    .. math::

        E|X - X'| = \frac{2}{n^2} \sum_{i=1}^{n} (2i - n - 1)\, x_{(i)},

    so the score is exact for the empirical distribution and costs
    :math:`O(n \log n)` (one sort) instead of :math:`O(n^2)`.

    Parameters
    ----------
    samples
        Simulated values: 1-D (one case), 2-D ``(n_cases, n_samples)``, or a scalar point
        forecast (whose CRPS is the absolute error ``|x - y|``).
    y
        Realised value(s): a scalar for 1-D samples, length ``n_cases`` for 2-D.
    fair
        If True, use the unbiased ("fair") pair term :math:`\frac{1}{n(n-1)}\sum_{i\neq j}`
        that estimates the CRPS of the distribution the samples were drawn from rather
        than of the empirical distribution. Ignored for one sample.

    Returns
    -------
    float or numpy.ndarray
        The CRPS, in the units of ``y``; NaN where ``y`` is NaN.
    """
    s, yy, single = _as_cases(samples, y)
    n = s.shape[1]
    x = np.sort(s, axis=1)
    spread_to_y = np.mean(np.abs(x - yy[:, None]), axis=1)
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    pair_sum = x @ weights  # = (1/2) * sum_{i,j} |x_i - x_j|
    denom = n * (n - 1) if (fair and n > 1) else n * n
    crps = spread_to_y - pair_sum / denom
    return _out(crps, single)


def crps_normal(mu: npt.ArrayLike, sigma: npt.ArrayLike,
                y: npt.ArrayLike) -> float | np.ndarray:
    r"""Closed-form CRPS of a normal forecast :math:`N(\mu, \sigma^2)`.

    .. math::

        \mathrm{CRPS} = \sigma\left[z\,(2\Phi(z) - 1) + 2\varphi(z) - \frac{1}{\sqrt\pi}\right],
        \qquad z = \frac{y - \mu}{\sigma}.

    ``sigma = 0`` gives the point-mass value ``|y - mu|``. Arguments broadcast.

    Parameters
    ----------
    mu, sigma
        Mean and standard deviation (``sigma >= 0``).
    y
        Realised value(s).

    Returns
    -------
    float or numpy.ndarray
    """
    mu_a, sig_a, y_a = np.broadcast_arrays(np.asarray(mu, float), np.asarray(sigma, float),
                                           np.asarray(y, float))
    if np.any(sig_a < 0):
        raise ValueError("sigma must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (y_a - mu_a) / sig_a
        crps = sig_a * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z)
                        - 1 / np.sqrt(np.pi))
    crps = np.where(sig_a == 0, np.abs(y_a - mu_a), crps)
    return float(crps) if crps.ndim == 0 else crps


def _quantile(s: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    """Sample quantile(s) per row (numpy's default linear interpolation)."""
    return np.quantile(s, q, axis=1)


def pinball_loss(samples_or_quantile: npt.ArrayLike, y: npt.ArrayLike,
                 q: float) -> float | np.ndarray:
    r"""Pinball (quantile) loss of the forecast's ``q``-quantile.

    .. math:: \rho_q(y, \hat y) = \max\{q\,(y - \hat y),\; (q - 1)(y - \hat y)\}

    where :math:`\hat y` is the ``q``-quantile of the samples (linear interpolation between
    order statistics). A scalar, or a column ``(n_cases, 1)``, is taken as the quantile
    itself (a point forecast). ``2 * pinball_loss(x, y, 0.5) == |x - y|``.

    Parameters
    ----------
    samples_or_quantile
        Samples (1-D or 2-D, see the module docstring) or the quantile value(s).
    y
        Realised value(s).
    q
        Quantile level in (0, 1).

    Returns
    -------
    float or numpy.ndarray
    """
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1) (got {q})")
    s, yy, single = _as_cases(samples_or_quantile, y)
    diff = yy - _quantile(s, q)
    loss = np.maximum(q * diff, (q - 1) * diff)
    return _out(loss, single)


def interval_coverage(samples: npt.ArrayLike, y: npt.ArrayLike,
                      level: float) -> float | np.ndarray:
    """Whether ``y`` lies in the central ``level`` interval of the forecast.

    The interval is ``[Q((1 - level) / 2), Q((1 + level) / 2)]`` of the samples, closed at
    both ends. The mean over cases is the empirical coverage, to compare with ``level``.

    Parameters
    ----------
    samples
        Samples (see the module docstring).
    y
        Realised value(s).
    level
        Nominal coverage in (0, 1), e.g. 0.8 for the 10%-90% interval.

    Returns
    -------
    float or numpy.ndarray
        1.0 when covered, 0.0 when not, NaN where ``y`` is NaN.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1) (got {level})")
    s, yy, single = _as_cases(samples, y)
    lo, hi = _quantile(s, np.array([(1 - level) / 2, (1 + level) / 2]))
    covered = ((yy >= lo) & (yy <= hi)).astype(float)
    covered[np.isnan(yy)] = np.nan
    return _out(covered, single)


def pit(samples: npt.ArrayLike, y: npt.ArrayLike,
        rng: np.random.Generator | None) -> float | np.ndarray:
    r"""Probability integral transform of ``y`` under the sample forecast, randomised at ties.

    .. math:: \mathrm{PIT} = F(y^-) + U\,\bigl(F(y) - F(y^-)\bigr),\quad U \sim U(0, 1),

    with :math:`F` the empirical CDF of the samples. Randomising over the jump at ``y``
    (e.g. many simulated months with exactly zero revenue, or a point forecast) keeps the
    PIT of a calibrated forecast uniform on [0, 1].

    Parameters
    ----------
    samples
        Samples (see the module docstring).
    y
        Realised value(s).
    rng
        Source of the uniform draws. ``None`` uses the middle of the jump (``U = 1/2``),
        which is deterministic but not exactly uniform under ties.

    Returns
    -------
    float or numpy.ndarray
        Values in [0, 1]; NaN where ``y`` is NaN.
    """
    s, yy, single = _as_cases(samples, y)
    below = np.mean(s < yy[:, None], axis=1)
    at = np.mean(s == yy[:, None], axis=1)
    u = np.full(len(yy), 0.5) if rng is None else rng.uniform(size=len(yy))
    values = below + u * at
    values[np.isnan(yy)] = np.nan
    return _out(values, single)


def pit_histogram(pits: npt.ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Histogram of PIT values on equal-width bins of [0, 1] (NaN values ignored).

    A calibrated forecast gives a flat histogram; a U shape means intervals are too
    narrow (overconfident), a hump too wide, a slope a biased forecast.

    Parameters
    ----------
    pits
        PIT values.
    bins
        Number of bins.

    Returns
    -------
    pandas.DataFrame
        ``bin``, ``lo``, ``hi``, ``count``, ``freq`` (share of values), ``expected``
        (``1 / bins``, the share under uniformity).
    """
    values = np.asarray(pits, dtype=float).ravel()
    values = values[~np.isnan(values)]
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    total = counts.sum()
    return pd.DataFrame({
        "bin": np.arange(bins),
        "lo": edges[:-1],
        "hi": edges[1:],
        "count": counts,
        "freq": counts / total if total else np.full(bins, np.nan),
        "expected": np.full(bins, 1.0 / bins),
    })


def abs_error(samples: npt.ArrayLike, y: npt.ArrayLike) -> float | np.ndarray:
    """Absolute error of the forecast median, ``|median - y|``.

    For a point forecast this is ``|x - y|``, equal to its CRPS.
    """
    s, yy, single = _as_cases(samples, y)
    return _out(np.abs(np.median(s, axis=1) - yy), single)


def pct_error(samples: npt.ArrayLike, y: npt.ArrayLike, *,
              signed: bool = False) -> float | np.ndarray:
    """Percentage error of the forecast median relative to the realised value.

    ``100 * |median - y| / |y|`` (or ``100 * (median - y) / |y|`` when ``signed``, positive
    when the forecast was too high). Undefined when ``y == 0`` (a month in which nothing
    was booked): the result is NaN there, so averages must use ``np.nanmean`` and
    report how many cases were left out; the absolute error is the score to use then.

    Parameters
    ----------
    samples
        Samples (see the module docstring).
    y
        Realised value(s).
    signed
        Keep the sign of the error.

    Returns
    -------
    float or numpy.ndarray
        Percent; NaN where ``y`` is 0 or NaN.
    """
    s, yy, single = _as_cases(samples, y)
    err = np.median(s, axis=1) - yy
    if not signed:
        err = np.abs(err)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(yy == 0, np.nan, 100.0 * err / np.abs(yy))
    return _out(pct, single)


def score_forecast(samples: npt.ArrayLike, y: npt.ArrayLike,
                   rng: np.random.Generator | None = None) -> dict[str, float | np.ndarray]:
    """All sample-forecast scores of one forecast (or of each row of a 2-D array).

    Parameters
    ----------
    samples
        Samples (see the module docstring); a scalar is a point forecast.
    y
        Realised value(s).
    rng
        For the randomised PIT; ``None`` uses the mid-point PIT (see :func:`pit`).

    Returns
    -------
    dict
        ``crps``, ``pinball_10``, ``pinball_50``, ``pinball_90``, ``coverage_50``,
        ``coverage_80``, ``abs_error``, ``pct_error``, ``pit``: floats for one case, arrays
        of length ``n_cases`` for 2-D samples.
    """
    return {
        "crps": crps_samples(samples, y),
        "pinball_10": pinball_loss(samples, y, 0.1),
        "pinball_50": pinball_loss(samples, y, 0.5),
        "pinball_90": pinball_loss(samples, y, 0.9),
        "coverage_50": interval_coverage(samples, y, 0.5),
        "coverage_80": interval_coverage(samples, y, 0.8),
        "abs_error": abs_error(samples, y),
        "pct_error": pct_error(samples, y),
        "pit": pit(samples, y, rng),
    }


# --------------------------------------------------------------------------- deal level


def _probs_outcomes(p: npt.ArrayLike, outcome: npt.ArrayLike
                    ) -> tuple[np.ndarray, np.ndarray]:
    pp = np.asarray(p, dtype=float).ravel()
    oo = np.asarray(outcome, dtype=float).ravel()
    if pp.shape != oo.shape:
        raise ValueError(f"p and outcome must have the same length ({pp.size} vs {oo.size})")
    if pp.size == 0:
        raise ValueError("p and outcome are empty")
    if np.any(np.isnan(pp)) or np.any((pp < 0) | (pp > 1)):
        raise ValueError("p must be probabilities in [0, 1]")
    if not np.all((oo == 0) | (oo == 1)):
        raise ValueError("outcome must be 0/1 (or False/True): 1 = won")
    return pp, oo


def brier_score(p: npt.ArrayLike, outcome: npt.ArrayLike) -> float:
    r"""Mean Brier score :math:`\frac1n\sum_i (p_i - o_i)^2` of win probabilities.

    Parameters
    ----------
    p
        Predicted win probabilities.
    outcome
        1 (won) or 0 (lost), same length.

    Returns
    -------
    float
        In [0, 1]; 0.25 for always predicting 0.5.
    """
    pp, oo = _probs_outcomes(p, outcome)
    return float(np.mean((pp - oo) ** 2))


def log_loss(p: npt.ArrayLike, outcome: npt.ArrayLike, eps: float = 1e-15) -> float:
    r"""Mean negative log-likelihood :math:`-\frac1n\sum_i [o_i\log p_i + (1-o_i)\log(1-p_i)]`.

    Probabilities are clipped to ``[eps, 1 - eps]`` so a confident miss costs a large but
    finite amount (``-log(eps)``, 34.5 nats for the default).

    Parameters
    ----------
    p
        Predicted win probabilities.
    outcome
        1 (won) or 0 (lost).
    eps
        Clipping bound.

    Returns
    -------
    float
        Nats; ``log(2) = 0.693`` for always predicting 0.5.
    """
    pp, oo = _probs_outcomes(p, outcome)
    pp = np.clip(pp, eps, 1 - eps)
    return float(-np.mean(oo * np.log(pp) + (1 - oo) * np.log1p(-pp)))


def reliability_table(p: npt.ArrayLike, outcome: npt.ArrayLike, bins: int = 10,
                      level: float = 0.95) -> pd.DataFrame:
    """Calibration of win probabilities: observed win rate per bin of predicted ``p``.

    Deals are grouped by ``p`` into ``bins`` equal-width bins of [0, 1] (``p = 1`` in the
    last). For each non-empty bin, ``ci_lo``-``ci_hi`` is the central ``level`` interval of
    the observed rate *if the predictions were calibrated*: the quantiles of
    ``Binomial(n, p_mean) / n``. Within a bin the deals' ``p`` differ, and the count of wins
    is then Poisson-binomial, whose variance is at most the binomial one, so the interval
    is slightly conservative.

    Parameters
    ----------
    p
        Predicted win probabilities.
    outcome
        1 (won) or 0 (lost).
    bins
        Number of equal-width bins.
    level
        Coverage of the binomial interval.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin``, ``bin_lo``, ``bin_hi``, ``n``, ``p_mean``,
        ``observed`` (win rate), ``ci_lo``, ``ci_hi``, ``within`` (observed inside the
        interval).
    """
    pp, oo = _probs_outcomes(p, outcome)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.digitize(pp, edges[1:-1])
    frame = pd.DataFrame({"bin": idx, "p": pp, "o": oo})
    g = frame.groupby("bin", sort=True).agg(n=("p", "size"), p_mean=("p", "mean"),
                                            observed=("o", "mean"))
    g = g.reset_index()
    n = g["n"].to_numpy()
    pm = g["p_mean"].to_numpy()
    ci_lo = stats.binom.ppf((1 - level) / 2, n, pm) / n
    ci_hi = stats.binom.ppf((1 + level) / 2, n, pm) / n
    out = pd.DataFrame({
        "bin": g["bin"].to_numpy(),
        "bin_lo": edges[g["bin"].to_numpy()],
        "bin_hi": edges[g["bin"].to_numpy() + 1],
        "n": n,
        "p_mean": pm,
        "observed": g["observed"].to_numpy(),
        "ci_lo": ci_lo,
        "ci_hi": ci_hi,
    })
    out["within"] = (out["observed"] >= out["ci_lo"]) & (out["observed"] <= out["ci_hi"])
    return out
