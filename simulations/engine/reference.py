"""Numpy reference of the engine's win-time recursion: readable, and the compiled kernels'
yardstick.

This module holds the weekly stay/advance/won hazards of a deal's cell (:func:`hazards`), the
backward recursion over days that turns them into each cell's win-time distribution
(:func:`win_cdfs`), and the inverse-CDF draw of a deal's win day (:func:`draw_day`), written
in whole-array numpy. The compiled kernels (:mod:`simulations.engine.kernels`) compute the same
numbers faster; the tests hold them to these functions, and code that needs the
distributions themselves (:mod:`simulations.planning.recommend`,
:mod:`simulations.evaluation.deal_scores`) uses these.
"""

from __future__ import annotations

import numpy as np

from forecast.data.cells import MAX_WEEK, duration_bucket
from forecast.posterior import COV_SIGN
from simulations.engine.inputs import SimulationInputs


def hazards(inputs: SimulationInputs, pidx: np.ndarray, g_owner: np.ndarray,
            g_segment: np.ndarray, g_xb: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weekly stay/advance/won probabilities ``(C, groups, S, MAX_WEEK + 1)``.

    Reference implementation of the hazards the compiled kernel
    (:func:`simulations.engine.kernels.win_times_and_open_deals`) uses.
    """
    eta = (inputs.a[pidx][:, None, :, :, None]
           + inputs.dur[pidx][:, None, :, None, :]
           + inputs.owner_eff[pidx][:, :, g_owner].transpose(0, 2, 1)[..., None, None]
           + inputs.segment_eff[pidx][:, :, g_segment].transpose(0, 2, 1)[..., None, None]
           + COV_SIGN[None, None, :, None, None] * inputs.xb[pidx][:, g_xb][:, :, None, None, None])
    weeks_bucket = duration_bucket(np.arange(MAX_WEEK + 1))
    ex = np.exp(eta[..., weeks_bucket])  # (C, G, 3, S, W)
    ex[:, :, 0, -1, :] = 0.0  # no advancing from the last stage
    denom = 1.0 + ex.sum(axis=2)
    return 1.0 / denom, ex[:, :, 0] / denom, ex[:, :, 1] / denom


def win_cdfs(p_stay: np.ndarray, p_adv: np.ndarray, p_won: np.ndarray, days: int,
             open_idx: tuple[np.ndarray, ...] | None,
             new_groups: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """P(won within τ days), τ = 1..days, for the open deals' cells and for new deals.

    The chain is weekly, but a week's event falls on one of its 7 days uniformly and the
    next stage starts on that day (as in the data: a stage spell lasts ``7w + u`` days),
    so the recursion runs over days τ left, at the start of week ``d`` of stage ``s``::

        V(s, d, τ) = won·min(τ, 7)/7 + adv·Σ_{u<7} V(s+1, 0, τ−u)/7 + stay·V(s, d+1, τ−7)

    with ``V(·, ·, τ ≤ 0) = 0`` and ``d`` capped at the last week. A deal observed for
    ``r`` days of its current week without an event (``part = r``) has 7 − r days of it
    left, and conditional hazards ``p / (1 − (r/7)·(1 − stay))`` spread over them.
    Reference implementation of the compiled kernel
    (:func:`simulations.engine.kernels.win_times_and_open_deals`).

    Parameters
    ----------
    open_idx
        ``(group, stage, week)`` or ``(group, stage, week, part)`` of the cells asked for.

    Returns
    -------
    open_cdf
        ``(C, n_open, days)``.
    new_cdf
        ``(C, len(new_groups), S, days)`` for a deal entering stage ``s`` on day 1.
    """
    c, g, s, w = p_stay.shape
    cap = np.minimum(np.arange(w) + 1, w - 1)
    ring = np.zeros((8, c, g, s, w))
    # cumulative sums over τ of V(s, 0, τ); stage s = S (none) stays 0
    head_cum = np.zeros((days + 1, c, g, s + 1))
    open_cdf = new_cdf = None
    if open_idx is not None:
        og, ost, owk = (np.asarray(x) for x in open_idx[:3])
        part = np.asarray(open_idx[3]) if len(open_idx) > 3 else np.zeros_like(owk)
        left = 7 - part
        o_st, o_ad, o_wo = (x[:, og, ost, owk] for x in (p_stay, p_adv, p_won))
        o_den = 7.0 - part * (1.0 - o_st)
        open_cdf = np.empty((c, len(og), days))
    if new_groups is not None:
        new_cdf = np.empty((c, len(new_groups), s, days))
    for t in range(1, days + 1):
        stay_part = ring[(t - 7) % 8][..., cap] if t > 7 else np.zeros((c, g, s, w))
        v = ring[t % 8]
        for st in range(s - 1, -1, -1):
            adv_sum = head_cum[t, :, :, st + 1] - head_cum[max(t - 7, 0), :, :, st + 1]
            v[:, :, st] = (p_won[:, :, st] * (min(t, 7) / 7.0)
                           + p_adv[:, :, st] * adv_sum[..., None] / 7.0
                           + p_stay[:, :, st] * stay_part[:, :, st])
            head_cum[t, :, :, st] = head_cum[t - 1, :, :, st] + v[:, :, st, 0]
        if open_cdf is not None:
            adv_sum = (head_cum[t][:, og, ost + 1]
                       - head_cum[np.maximum(t - left, 0), :, og, ost + 1].T)
            later = np.where(t > left, ring[(t - left) % 8, :, og, ost, cap[owk]].T, 0.0)
            open_cdf[:, :, t - 1] = (o_wo * np.minimum(t, left) + o_ad * adv_sum
                                     + 7.0 * o_st * later) / o_den
        if new_cdf is not None:
            new_cdf[:, :, :, t - 1] = v[:, new_groups][..., 0]
    return open_cdf, new_cdf


def draw_day(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Day offset (1-based, within ``days``) at which each deal is won, or 0 if not.

    ``cdf[..., τ − 1]`` is P(won within τ days); the win falls on the first day whose CDF
    exceeds ``u``. Reference implementation of
    :func:`simulations.engine.kernels.draw_day_in_table`.
    """
    t = (cdf <= u[..., None]).sum(axis=-1)
    return np.where(t < cdf.shape[-1], t + 1, 0)
