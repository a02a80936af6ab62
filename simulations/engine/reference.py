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
    # the hazards are computed once per duration bucket (the same numbers as per week,
    # whose values repeat within a bucket), then spread over the weeks
    weeks_bucket = duration_bucket(np.arange(MAX_WEEK + 1))
    ex = np.exp(eta)  # (C, G, 3, S, buckets)
    ex[:, :, 0, -1, :] = 0.0  # no advancing from the last stage
    denom = 1.0 + ex.sum(axis=2)
    return ((1.0 / denom)[..., weeks_bucket], (ex[:, :, 0] / denom)[..., weeks_bucket],
            (ex[:, :, 1] / denom)[..., weeks_bucket])


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


def calendar_hazards(inputs: SimulationInputs, pidx: np.ndarray, g_owner: np.ndarray,
                     g_segment: np.ndarray, g_xb: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weekly stay/advance/won probabilities ``(C, groups, K + 7, S, MAX_WEEK + 1)`` under a
    calendar: index ``k < K`` is the horizon's week ``k`` (``inputs.week_effect``), index
    ``K + r`` a deal's current week after ``r`` days of it (``inputs.part_effect``)."""
    off = np.concatenate([inputs.week_effect[pidx], inputs.part_effect[pidx]], axis=1)
    eta = (inputs.a[pidx][:, None, None, :, :, None]
           + inputs.dur[pidx][:, None, None, :, None, :]
           + inputs.owner_eff[pidx][:, :, g_owner].transpose(0, 2, 1)[:, :, None, :, None, None]
           + inputs.segment_eff[pidx][:, :, g_segment].transpose(0, 2, 1)[
               :, :, None, :, None, None]
           + COV_SIGN[None, None, None, :, None, None]
           * inputs.xb[pidx][:, g_xb][:, :, None, None, None, None]
           + off[:, None, :, :, None, None])  # (C, G, K + 7, 3, S, B)
    weeks_bucket = duration_bucket(np.arange(MAX_WEEK + 1))
    ex = np.exp(eta[..., weeks_bucket])
    ex[:, :, :, 0, -1, :] = 0.0  # no advancing from the last stage
    denom = 1.0 + ex.sum(axis=3)
    return 1.0 / denom, ex[:, :, :, 0] / denom, ex[:, :, :, 1] / denom


def calendar_win_cdfs(p_stay: np.ndarray, p_adv: np.ndarray, p_won: np.ndarray, days: int,
                      open_idx: tuple[np.ndarray, ...],
                      new_groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`win_cdfs` under a calendar (hazards of :func:`calendar_hazards`).

    The hazards of a week depend on where it falls: the horizon's weeks ``k`` start on
    days ``7k + 1``, and a deal's week takes the calendar of the one whose start is nearest
    its own. So the recursion is over ``V_k(s, d, τ)``, the chance of being won within
    ``τ`` days of entering week ``d`` of stage ``s`` in the horizon's week ``k``::

        V_k(s, d, τ) = won_k·min(τ, 7)/7 + adv_k·Σ_{u<7} V_{k(u)}(s+1, 0, τ−u)/7
                       + stay_k·V_{k+1}(s, d+1, τ−7)

    where a stage entered on day ``u`` of the week starts in week ``k(u) = k`` for
    ``u ≤ 3`` and ``k + 1`` after; weeks past the last, ``K − 1``, take its calendar. An
    open deal ``r`` days into its week has the rest of that week at the hazards of index
    ``K + r`` (the week it began in), then its next week ``7 − r`` days on in week 0 or 1
    by the same rule. A new deal created on day ``c`` starts in week ``(c + 2) // 7``.

    Returns
    -------
    open_cdf
        ``(C, n_open, days)``.
    new_cdf
        ``(C, len(new_groups), S, K, days)``: a deal entering stage ``s`` in week ``k``.
    """
    c, g, n_grid, s, w = p_stay.shape
    n_k = n_grid - 7
    cap = np.minimum(np.arange(w) + 1, w - 1)
    v = np.zeros((n_k, s + 1, c, g, w, days + 1))  # stage s: none, all zeros

    def entry(k: int, st: int, t: int, lo: int, hi: int) -> np.ndarray:
        """Σ_{lo ≤ u < hi, u < t} V_{k(u)}(st, 0, t − u), ``(C, G)``."""
        out = np.zeros((c, g))
        for u in range(lo, min(hi, t)):
            out += v[min(k + (u >= 4), n_k - 1), st, :, :, 0, t - u]
        return out

    for k in range(n_k - 1, -1, -1):
        k1 = min(k + 1, n_k - 1)
        for st in range(s - 1, -1, -1):
            for t in range(1, days + 1):
                later = v[k1, st][..., cap, t - 7] if t > 7 else 0.0
                v[k, st, ..., t] = (p_won[:, :, k, st] * (min(t, 7) / 7.0)
                                    + p_adv[:, :, k, st] * entry(k, st + 1, t, 0, 7)[..., None]
                                    / 7.0 + p_stay[:, :, k, st] * later)
    og, ost, owk, opart = (np.asarray(x) for x in open_idx)
    open_cdf = np.empty((c, len(og), days))
    for i, (gi, si, wi, r) in enumerate(zip(og, ost, owk, opart, strict=True)):
        if r == 0:
            open_cdf[:, i] = v[0, si, :, gi, wi, 1:]
            continue
        left = 7 - r
        h = n_k + r
        st_, ad_, wo_ = (x[:, gi, h, si, wi] for x in (p_stay, p_adv, p_won))
        kn = min(int(left >= 4), n_k - 1)
        for t in range(1, days + 1):
            later = v[kn, si, :, gi, cap[wi], t - left] if t > left else 0.0
            adv_sum = entry(0, si + 1, t, 0, left)[:, gi]
            open_cdf[:, i, t - 1] = ((wo_ * min(t, left) + ad_ * adv_sum + 7.0 * st_ * later)
                                     / (7.0 - r * (1.0 - st_)))
    new_cdf = v[:, :s, :, new_groups, 0, 1:].transpose(2, 3, 1, 0, 4)
    return open_cdf, new_cdf
