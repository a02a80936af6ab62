"""The win-time recursion of one group of deals, compiled: the pieces
:func:`simulations.engine.kernels.win_times_and_open_deals` runs for each posterior draw.

For a group (owner, segment, covariate pattern) under one posterior draw: its weekly
hazards in every calendar week (:func:`group_hazards`), which rows of the recursion its
cells and new deals need (:func:`group_needs`), the rows themselves stage by stage
(:func:`stage_rows`, the backward recursion of :mod:`simulations.engine.reference`), and an
open cell's CDF and win day read from them (:func:`cell_cdf`, :func:`draw_in_cell`). With a
calendar every row is per week of the horizon ``k`` (``v[k, d, τ]``; ``docs/model.md`` §6);
without one there is one week and the numbers are those of the calendar-free recursion.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(inline="always", **_JIT)
def part_entry(cum, s1, t, left):  # pragma: no cover - compiled
    """``Σ_{u < left} V(g(u), s1, 0, t − u)``: the chance, summed over the ``left`` days of a
    part-week on which a deal may advance, of being won within ``t`` days of the part-week's
    start after entering stage ``s1`` on day ``u``; the next stage starts in the horizon's
    week ``g(u)`` = 0 for ``u ≤ 3`` and 1 after (the nearest week start, with a calendar)."""
    if cum.shape[1] == 1 or left <= 4:
        return cum[s1, 0, t] - cum[s1, 0, max(t - left, 0)]
    m = max(t - 4, 0)
    return (cum[s1, 0, t] - cum[s1, 0, m]) + (cum[s1, 1, m] - cum[s1, 1, max(t - left, 0)])


@numba.njit(inline="always", **_JIT)
def next_week_grid(left, n_k):  # pragma: no cover - compiled
    """The horizon's week (0 or 1) whose calendar a deal's next week, ``left`` days on, takes."""
    return 1 if left >= 4 and n_k > 1 else 0


@numba.njit(**_JIT)
def cell_cdf(v, cum, s, wk, r, t, w_, a_, st, den, last_w):  # pragma: no cover - compiled
    """P(won within ``t`` days) of the cell (stage ``s``, week ``wk``, ``r`` days of it
    passed) from its stage's rows ``v`` and the next stage's ``cum`` (:func:`simulations.engine.reference.win_cdfs`)."""
    if r == 0:
        return v[0, wk, t]
    left = 7 - r
    kn = wk + 1 if wk < last_w else wk
    later = v[next_week_grid(left, v.shape[0]), kn, t - left] if t > left else 0.0
    return (w_ * min(t, left) + a_ * part_entry(cum, s + 1, t, left)
            + 7.0 * st * later) / den


@numba.njit(**_JIT)
def draw_in_cell(v, cum, s, wk, r, w_, a_, st, den, last_w, days,
               u):  # pragma: no cover - compiled
    """Win day (1-based) of a deal of the cell whose uniform ``u`` is below its CDF at the
    horizon's last day, and the uniform left over: as :func:`draw_day_in_table`, by a branch-free
    binary search over the CDF evaluated from the rows (no table is stored). For a
    part-week cell the search compares the CDF's numerator with ``u`` times its
    denominator (no division)."""
    base, n = 0, days  # the day is in (base, base + n]
    if r == 0:
        row = v[0, wk]
        while n > 1:
            half = n // 2
            base = base + half if row[base + half] <= u else base
            n -= half
        day = base + 1
        hi, lo = row[day], row[day - 1]
    else:
        left = 7 - r
        nxt = v[next_week_grid(left, v.shape[0]), wk + 1 if wk < last_w else wk]
        u_den = u * den
        while n > 1:
            half = n // 2
            t = base + half
            num = (w_ * min(t, left) + a_ * part_entry(cum, s + 1, t, left)
                   + 7.0 * st * nxt[max(t - left, 0)])
            base = t if num <= u_den else base
            n -= half
        day = base + 1
        hi = cell_cdf(v, cum, s, wk, r, day, w_, a_, st, den, last_w)
        lo = cell_cdf(v, cum, s, wk, r, day - 1, w_, a_, st, den, last_w) if day > 1 else 0.0
    frac = min(max((u - lo) / max(hi - lo, 1e-300), 0.0), 1.0 - 1e-12)
    return day, frac


@numba.njit(**_JIT)
def draw_exps(flow, p: int, e_base: np.ndarray) -> None:  # pragma: no cover - compiled
    """``e_base[k, s, b]``: exp of stage ``s``'s and bucket ``b``'s effects on logit ``k``
    under posterior draw ``p``."""
    a, dur = flow.a, flow.dur
    n_s, n_b = e_base.shape[1], e_base.shape[2]
    for k in range(3):
        for s in range(n_s):
            for b in range(n_b):
                e_base[k, s, b] = math.exp(a[p, k, s] + dur[p, k, b])


@numba.njit(**_JIT)
def group_hazards(flow, p, o, sg, x, lowest, absorb_lost, e_base, stay, adv,
                   won):  # pragma: no cover - compiled
    """``stay``, ``adv``, ``won[i, s, b]``: weekly probabilities of the group (owner ``o``,
    segment ``sg``, covariate pattern ``x``) under draw ``p``, for stages ≥ ``lowest``
    (``absorb_lost``: ``won`` is won or lost), in calendar week ``i``: the horizon's week
    ``i < K`` (``flow.week_off``), then a deal's current week after ``i − K`` days of it
    (``flow.part_off``, where there is a calendar). No advancing from the last stage."""
    owner_eff, segment_eff, xb, cov_sign = flow.owner_eff, flow.segment_eff, flow.xb, flow.cov_sign
    week_off, part_off = flow.week_off, flow.part_off
    n_k = week_off.shape[1]
    n_s, n_b = stay.shape[1], stay.shape[2]
    f0 = math.exp(owner_eff[p, 0, o] + segment_eff[p, 0, sg] + cov_sign[0] * xb[p, x])
    f1 = math.exp(owner_eff[p, 1, o] + segment_eff[p, 1, sg] + cov_sign[1] * xb[p, x])
    f2 = math.exp(owner_eff[p, 2, o] + segment_eff[p, 2, sg] + cov_sign[2] * xb[p, x])
    for i in range(n_k + part_off.shape[1]):
        off = week_off[p, i] if i < n_k else part_off[p, i - n_k]
        g0, g1, g2 = f0 * math.exp(off[0]), f1 * math.exp(off[1]), f2 * math.exp(off[2])
        for s in range(lowest, n_s):
            for b in range(n_b):
                e0 = 0.0 if s == n_s - 1 else e_base[0, s, b] * g0
                e1 = e_base[1, s, b] * g1
                e2 = e_base[2, s, b] * g2
                den = 1.0 + (e0 + e1 + e2)
                stay[i, s, b] = 1.0 / den
                adv[i, s, b] = e0 / den
                won[i, s, b] = (e1 + e2) / den if absorb_lost else e1 / den


@numba.njit(**_JIT)
def group_needs(cell_stage, cell_week, cell_part, c0, c1, lowest, new_deals, days, need,
                 top):  # pragma: no cover - compiled
    """``need[s, k, d]``: days to which row ``d`` (week in stage) of stage ``s`` in the
    horizon's week ``k`` is needed by a group with cells ``c0:c1`` (sorted by stage) and
    stages from ``lowest``, and ``top[s, k]`` the last such row (−1: none).

    A cell at week ``wk`` needs row ``wk`` of week 0 to the horizon's end (a part-week cell,
    row ``wk + 1`` of the week its next week falls in, 7 − r days less, and the next stage
    from week 0, or 1 for a day ``u ≥ 4``); with new deals, row 0 of every stage in week
    ``k`` to ``days − 7k + 3`` (a deal created in week ``k``); row ``d`` of week ``k``
    needed to ``n`` needs row ``d + 1`` of week ``k + 1`` (the last week: itself) to
    ``n − 7``, and the next stage's row 0 in week ``k`` to ``n`` and in week ``k + 1`` to
    ``n − 4`` (an advance on day ``u ≥ 4``). Stage by stage from ``lowest``, so that each
    stage's advances are known before the next stage's rows are."""
    n_s, n_k, n_w = need.shape[0], need.shape[1], need.shape[2]
    last_w = n_w - 1
    for s in range(lowest, n_s):
        for k in range(n_k):
            for d in range(n_w):
                need[s, k, d] = 0
        if new_deals:
            need[s, 0, 0] = days
            for k in range(1, n_k):
                need[s, k, 0] = min(days, max(days - 7 * k + 3, 0))
    for c in range(c0, c1):
        s, wk, r = cell_stage[c], cell_week[c], cell_part[c]
        if r == 0:
            need[s, 0, wk] = days
        else:
            left = 7 - r
            kn = wk + 1 if wk < last_w else wk
            g = next_week_grid(left, n_k)
            need[s, g, kn] = max(need[s, g, kn], days - left)
            if s + 1 < n_s:
                need[s + 1, 0, 0] = days
                if n_k > 1 and left > 4:
                    need[s + 1, 1, 0] = max(need[s + 1, 1, 0], days - 4)
    for s in range(lowest, n_s):
        for k in range(n_k):
            k1 = k + 1 if k + 1 < n_k else k
            for d in range(n_w):
                dn = d + 1 if d < last_w else d
                need[s, k1, dn] = max(need[s, k1, dn], need[s, k, d] - 7)
        for k in range(n_k):
            top[s, k] = -1
            m = 0
            for d in range(n_w):
                if need[s, k, d] > 0:
                    top[s, k] = d
                    m = max(m, need[s, k, d])
            if s + 1 < n_s and m > 0:
                need[s + 1, k, 0] = max(need[s + 1, k, 0], m)
                if n_k > 1:
                    k1 = k + 1 if k + 1 < n_k else k
                    need[s + 1, k1, 0] = max(need[s + 1, k1, 0], m - 4)


@numba.njit(inline="always", **_JIT)
def stage_rows(s, top, need, bucket_of, stay, adv, won, v, cum,
                a7):  # pragma: no cover - compiled
    """Stage ``s``'s rows ``v[k, d, τ] = V_k(s, d, τ)`` (the horizon's week ``k``) for
    ``d ≤ top[k]``, ``τ ≤ need[k, d]``, from the last week of the horizon and the last week
    in stage up, each a contiguous loop over ``τ`` reading the next week's row 7 days
    earlier; then ``cum[s, k, τ]``, the sum of ``V_k(s, 0, τ')`` over ``τ' ≤ τ``.
    ``cum[s + 1]`` (the next stage's) must be known; ``a7`` is scratch. Without a calendar
    (one week, ``K = 1``) the recursion is :func:`simulations.engine.reference.win_cdfs`'s;
    with one, :func:`simulations.engine.reference.calendar_win_cdfs`'."""
    n_k = v.shape[0]
    last_w = v.shape[1] - 1
    for k in range(n_k - 1, -1, -1):
        n0 = 0  # the longest row of this week: a7 is needed that far
        for d in range(top[k] + 1):
            n0 = max(n0, need[k, d])
        k1 = k + 1 if k + 1 < n_k else k
        if n_k == 1:
            for t in range(1, n0 + 1):
                a7[t] = (cum[s + 1, 0, t] - cum[s + 1, 0, max(t - 7, 0)]) / 7.0
        else:  # advancing on day u ≤ 3 of the week starts the next stage in this week
            for t in range(1, n0 + 1):
                m = max(t - 4, 0)
                a7[t] = ((cum[s + 1, k, t] - cum[s + 1, k, m])
                         + (cum[s + 1, k1, m] - cum[s + 1, k1, max(t - 7, 0)])) / 7.0
        for d in range(top[k], -1, -1):
            b = bucket_of[d]
            dn = d + 1 if d < last_w else d
            w_, a_, st = won[k, s, b], adv[k, s, b], stay[k, s, b]
            n_t = need[k, d]
            vd, vn = v[k, d], v[k1, dn]  # 1-d views: the loop vectorises
            for t in range(1, min(7, n_t) + 1):
                vd[t] = w_ * (t / 7.0) + a_ * a7[t]
            for t in range(8, n_t + 1):
                vd[t] = w_ + a_ * a7[t] + st * vn[t - 7]
        ck, vk = cum[s, k], v[k, 0]
        for t in range(1, need[k, 0] + 1):
            ck[t] = ck[t - 1] + vk[t]
