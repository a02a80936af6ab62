"""Monte Carlo revenue simulation: win-time tables per cell, one uniform per deal and path.

For each posterior draw, a deal's chance of being won within ``τ`` days depends only on
its cell (stage, weeks in stage, days of the current week already passed, owner, segment,
covariate pattern). The engine computes these win-time distributions once per cell and
posterior draw by backward recursion over the weekly stay/advance/won/lost chain, at the
resolution of days: a week's event falls on one of its days and the next stage starts that
day, as in the data the model was fitted on (:func:`win_cdfs`). It then turns one uniform
number per deal into its win day and the quantile of its booked ÷ expected ratio
(:func:`draw_day`). New deals arrive per owner and month (negative binomial), get a created
day, segment, entry stage and size, and follow the same chain.

Speed
-----
The work is done by compiled kernels (numba, ``nogil``) on a few threads:

* the win-time tables are computed once per *posterior draw*, not per path: paths are
  processed grouped by the posterior draw they use, so 10,000 paths over 1,000 posterior
  draws cost 1,000 recursions; the recursion runs only over the weeks in stage that the
  open deals and the horizon can reach;
* each path then costs one uniform per open deal (numpy's PCG64), a table look-up and a
  few flops; the new deals of a path cost five uniforms each.

Memory is bounded by :data:`CHUNK_BYTES` (per-path random numbers of one chunk) and
:data:`TABLE_BYTES` (tables of one batch of posterior draws), whatever the number of draws;
the outputs are ``(n_draws, n_months, n_owners)``.

Reproducibility
---------------
Path ``i`` uses posterior draw ``i mod P`` and its own generator
``PCG64(SeedSequence(seed, spawn_key=(i,)))`` — the ``i``-th child of
``SeedSequence(seed).spawn(n)`` — and every number of a path is computed from that path's
inputs alone, by the same scalar code. Results therefore do not depend on ``chunk_size``,
the number of threads, the order in which paths are computed, or on which machine
computes which paths (:func:`simulate_paths`, :mod:`simulations.distributed`).

Per path, the generator gives, in this order: ``n_open`` uniforms (one per open deal, in
the order of their cells), ``(n_owners, n_months)`` gamma then Poisson numbers (the
negative-binomial counts of new deals, as their gamma–Poisson mixture), then
``5 · n_new`` uniforms (created day, segment, entry stage, size quantile, win time of each
new deal).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from forecast.cells import DURATION_EDGES_WEEKS, MAX_WEEK, duration_bucket
from simulations.inputs import FORCE_LOST, FORCE_WON, SimulationInputs

#: weight of x·β in the advance, won and lost logits: ``forecast.flow_model.COV_SIGN``,
#: repeated here so that the engine (and a Dask worker running it) does not import PyMC
COV_SIGN = np.array([0.0, 0.5, -0.5])
#: memory budget of one chunk's per-path working arrays (random numbers)
CHUNK_BYTES = 128 * 2**20
#: memory budget of the win-time tables of one batch of posterior draws
TABLE_BYTES = 128 * 2**20
#: most paths in one chunk
MAX_CHUNK = 4096
#: groups recursed together (the vectorised axis of the win-time recursion)
TILE = 64
#: uniforms per new deal: created day, segment, entry stage, size quantile, win time
NEW_DEAL_UNIFORMS = 5
#: smallest and largest uniform fed to the normal quantile function
_U_MIN, _U_MAX = 2.0**-53, 1.0 - 2.0**-53


@dataclass(frozen=True)
class SimulationResult:
    """Simulated revenue paths.

    Attributes
    ----------
    revenue
        ``(n_draws, n_months, n_owners)`` booked revenue.
    months, owners, teams
        Labels of the axes; ``teams`` maps owner → team.
    deal_month
        ``(n_draws, n_open_deals)`` month index in which each open deal is won (−1: not in
        the horizon), when ``keep_deal_outcomes`` was asked for.
    deal_revenue
        ``(n_draws, n_open_deals)`` booked amount of each open deal when won in the
        horizon (0 otherwise), with ``keep_deal_outcomes``.
    new_revenue
        ``(n_draws, n_months, n_owners)`` part of ``revenue`` from deals not yet created.
    seed
        The run's seed.
    """

    revenue: np.ndarray
    months: tuple[str, ...]
    owners: tuple[str, ...]
    teams: dict[str, str]
    new_revenue: np.ndarray
    deal_month: np.ndarray | None = None
    deal_revenue: np.ndarray | None = None
    deal_ids: np.ndarray | None = None
    seed: int = 0

    @property
    def n_draws(self) -> int:
        return self.revenue.shape[0]

    def total(self) -> np.ndarray:
        """``(n_draws, n_months)`` company revenue."""
        return self.revenue.sum(axis=2)


# --------------------------------------------------------------------------------------
# numpy reference implementations (readable; the kernels below compute the same numbers)
# --------------------------------------------------------------------------------------


def hazards(inputs: SimulationInputs, pidx: np.ndarray, g_owner: np.ndarray,
            g_segment: np.ndarray, g_xb: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weekly stay/advance/won probabilities ``(C, groups, S, MAX_WEEK + 1)``.

    Reference implementation of the hazards the compiled kernel uses.
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
    Reference implementation of the compiled kernel.

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
    exceeds ``u``. Reference implementation of :func:`_draw_day`.
    """
    t = (cdf <= u[..., None]).sum(axis=-1)
    return np.where(t < cdf.shape[-1], t + 1, 0)


# --------------------------------------------------------------------------------------
# compiled kernels
# --------------------------------------------------------------------------------------

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_JIT)
def ndtri(p: float) -> float:  # pragma: no cover - compiled
    """Standard normal quantile (Wichura's AS 241, about 1e-16 relative error)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2509.0809287301226727 * r + 33430.575583588128105) * r
                    + 67265.770927008700853) * r + 45921.953931549871457) * r
                  + 13731.693765509461125) * r + 1971.5909503065514427) * r
                + 133.14166789178437745) * r + 3.387132872796366608)
        den = (((((((5226.495278852545925 * r + 28729.085735721942674) * r
                    + 39307.89580009271061) * r + 21213.794301586595867) * r
                  + 5394.1960214247511077) * r + 687.1870074920579083) * r
                + 42.313330701600911252) * r + 1.0)
        return q * num / den
    r = p if q < 0.0 else 1.0 - p
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r -= 1.6
        num = (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r
                    + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                  + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734)
        den = (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r
                    + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                  + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                + 2.05319162663775882187) * r + 1.0)
    else:
        r -= 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                  + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772)
        den = (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r
                    + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
                  + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                + 0.59983220655588793769) * r + 1.0)
    val = num / den
    return -val if q < 0.0 else val


@numba.njit(**_JIT)
def _draw_day(table: np.ndarray, i: int, j: int, k: int,
              u: float) -> tuple[int, float]:  # pragma: no cover - compiled
    """Day offset (1-based, 0: not won) of one deal and the uniform left over.

    ``cdf[τ − 1] = table[i, j, k, τ − 1]`` is P(won within τ days) (indices, not a view:
    views cost a reference count each). The win falls on the first day whose CDF exceeds
    ``u`` (binary search: the CDF is non-decreasing); ``u``'s position between that day's
    CDF and the previous one is again uniform on [0, 1), independent of the day: it gives
    the deal's booked ÷ expected ratio.
    """
    days = table.shape[3]
    if table[i, j, k, days - 1] <= u:
        return 0, u
    lo_t, hi_t = 0, days - 1
    while lo_t < hi_t:
        mid = (lo_t + hi_t) // 2
        if table[i, j, k, mid] > u:
            hi_t = mid
        else:
            lo_t = mid + 1
    hi = table[i, j, k, lo_t]
    lo = table[i, j, k, lo_t - 1] if lo_t > 0 else 0.0
    frac = min(max((u - lo) / max(hi - lo, 1e-300), 0.0), 1.0 - 1e-12)
    return lo_t + 1, frac


@numba.njit(**_JIT)
def _win_tables(ps, a, dur, owner_eff, segment_eff, xb, cov_sign, g_owner, g_segment, g_xb,
                tile_groups, tile_size, tile_hi, edges, bucket_of, cell_start, cell_stage,
                cell_week, cell_part, new_row, out_open, out_new,
                absorb_lost=False):  # pragma: no cover - compiled
    """Daily win-time CDFs of posterior draws ``ps`` (one table row each).

    ``out_open[j, c, 0, τ − 1]``: P(won within τ days) of open cell ``c`` under draw
    ``ps[j]``; ``out_new[j, r, s, τ − 1]``: the same for a deal of new-deal group row ``r``
    entering stage ``s`` on day 1. The recursion of :func:`win_cdfs`, with groups recursed
    together in tiles (``tile_groups``, the innermost, vectorised axis); stage ``s`` of a
    tile over weeks ``0..tile_hi[tile, s]`` (−1: not needed), enough for exact values at
    the cells asked for. ``ring[τ mod 8]`` holds ``V(·, ·, τ)``; ``cum[τ, s]`` the sum of
    ``V(s, 0, τ')`` over ``τ' ≤ τ``. With ``absorb_lost`` the tables are of being *closed*
    (won or lost) instead of won.
    """
    n_s, n_b = a.shape[2], dur.shape[2]
    n_w = edges[n_b]
    days = out_open.shape[3]
    width = tile_groups.shape[1]
    e_base = np.empty((3, n_s, n_b))
    stay = np.empty((n_s, n_b, width))
    adv = np.empty((n_s, n_b, width))
    won = np.empty((n_s, n_b, width))
    acc = np.empty(width)
    ring = np.zeros((8, n_s, n_w, width))
    cum = np.zeros((days + 1, n_s + 1, width))  # stage n_s: none, all zeros
    for j in range(ps.shape[0]):
        p = ps[j]
        for k in range(3):
            for s in range(n_s):
                for b in range(n_b):
                    e_base[k, s, b] = math.exp(a[p, k, s] + dur[p, k, b])
        for tile in range(tile_groups.shape[0]):
            ng = tile_size[tile]
            for gi in range(ng):
                g = tile_groups[tile, gi]
                o, sg, x = g_owner[g], g_segment[g], g_xb[g]
                f0 = math.exp(owner_eff[p, 0, o] + segment_eff[p, 0, sg]
                              + cov_sign[0] * xb[p, x])
                f1 = math.exp(owner_eff[p, 1, o] + segment_eff[p, 1, sg]
                              + cov_sign[1] * xb[p, x])
                f2 = math.exp(owner_eff[p, 2, o] + segment_eff[p, 2, sg]
                              + cov_sign[2] * xb[p, x])
                for s in range(n_s):
                    for b in range(n_b):
                        e0 = 0.0 if s == n_s - 1 else e_base[0, s, b] * f0
                        e1 = e_base[1, s, b] * f1
                        e2 = e_base[2, s, b] * f2
                        den = 1.0 + (e0 + e1 + e2)
                        stay[s, b, gi] = 1.0 / den
                        adv[s, b, gi] = e0 / den
                        won[s, b, gi] = (e1 + e2) / den if absorb_lost else e1 / den
            for t in range(1, days + 1):
                cur, old = t % 8, (t + 1) % 8  # old: τ − 7
                w_frac = min(t, 7) / 7.0
                lo_t = max(t - 7, 0)
                for s in range(n_s - 1, -1, -1):
                    hi = tile_hi[tile, s]
                    if hi < 0:
                        continue
                    for gi in range(ng):
                        acc[gi] = (cum[t, s + 1, gi] - cum[lo_t, s + 1, gi]) / 7.0
                    for b in range(n_b):
                        lo_b = edges[b]
                        if lo_b > hi:
                            break
                        for d in range(lo_b, min(edges[b + 1], hi + 1)):
                            dn = d + 1 if d + 1 < n_w else d
                            if t > 7 and dn <= hi:
                                for gi in range(ng):
                                    ring[cur, s, d, gi] = (won[s, b, gi] * w_frac
                                                           + adv[s, b, gi] * acc[gi]
                                                           + stay[s, b, gi] * ring[old, s, dn, gi])
                            else:
                                for gi in range(ng):
                                    ring[cur, s, d, gi] = (won[s, b, gi] * w_frac
                                                           + adv[s, b, gi] * acc[gi])
                    for gi in range(ng):
                        cum[t, s, gi] = cum[t - 1, s, gi] + ring[cur, s, 0, gi]
                for gi in range(ng):
                    g = tile_groups[tile, gi]
                    for c in range(cell_start[g], cell_start[g + 1]):
                        s, k, r = cell_stage[c], cell_week[c], cell_part[c]
                        if r == 0:
                            out_open[j, c, 0, t - 1] = ring[cur, s, k, gi]
                            continue
                        # r days of week k already passed without an event
                        left = 7 - r
                        b = bucket_of[k]
                        st = stay[s, b, gi]
                        a_sum = cum[t, s + 1, gi] - cum[max(t - left, 0), s + 1, gi]
                        later = 0.0
                        if t > left:
                            kn = k + 1 if k + 1 < n_w else k
                            later = ring[(t - left) % 8, s, kn, gi]
                        out_open[j, c, 0, t - 1] = (
                            won[s, b, gi] * min(t, left) + adv[s, b, gi] * a_sum
                            + 7.0 * st * later) / (7.0 - r * (1.0 - st))
                    rr = new_row[g]
                    if rr >= 0:
                        for s in range(n_s):
                            out_new[j, rr, s, t - 1] = ring[cur, s, 0, gi]


@numba.njit(**_JIT)
def _open_paths(u, rows, trow, ps, table, order, cell_sorted, forced_sorted, deal_cell, owner,
                amount, delay, override, forced_day, ratio_mu, ratio_sigma, size_multiplier,
                day_month, revenue, keep, deal_month, deal_rev):  # pragma: no cover - compiled
    """Open deals of paths ``rows``: deal ``order[kk]`` gets uniform ``u[j, kk]``.

    ``order`` sorts the deals by cell (``cell_sorted``, ``forced_sorted``: their cells and
    whether their outcome is forced), so the table is read in order. A first, branch-free
    pass keeps the deals won in the horizon (or forced), a second one books them.
    """
    n_day = day_month.shape[0]
    n = order.shape[0]
    last = table.shape[3] - 1
    hit = np.empty(n, dtype=np.int64)
    for j in range(rows.shape[0]):
        r, tr, p = rows[j], trow[j], ps[j]
        mu, sd = ratio_mu[p], ratio_sigma[p]
        n_hit = 0
        for kk in range(n):
            hit[n_hit] = kk
            n_hit += int((u[j, kk] < table[tr, cell_sorted[kk], 0, last]) | forced_sorted[kk])
        for i in range(n_hit):
            kk = hit[i]
            k = order[kk]
            uk = u[j, kk]
            if override[k] == FORCE_LOST:
                continue
            if override[k] == FORCE_WON:
                day, rest = forced_day[k], uk
            else:
                day, rest = _draw_day(table, tr, deal_cell[k], 0, uk)
                day += delay[k]
            month = day_month[day] if 0 < day < n_day else -1
            if month < 0:
                continue
            z = ndtri(min(max(rest, _U_MIN), _U_MAX)) if sd != 0.0 else 0.0
            booked = amount[k] * math.exp(mu + sd * z) * size_multiplier
            revenue[r, month, owner[k]] += booked
            if keep:
                deal_month[r, k] = month
                deal_rev[r, k] = booked


@numba.njit(**_JIT)
def _new_paths(counts, un, offsets, rows, trow, ps, first_day, last_day, segment_mix,
               entry_cum, size_mu, size_sigma, size_multiplier, new_row_lookup, table,
               day_month, revenue, new_revenue):  # pragma: no cover - compiled
    """New deals of paths ``rows``: ``counts[j]`` per (owner, month), uniforms in ``un``."""
    n_o, n_m = counts.shape[1], counts.shape[2]
    n_g, n_s = segment_mix.shape[2], entry_cum.shape[1]
    horizon_days = last_day[n_m - 1]
    for j in range(rows.shape[0]):
        r, tr, p = rows[j], trow[j], ps[j]
        base = offsets[j]
        n_new = (offsets[j + 1] - base) // 5
        i = 0
        for o in range(n_o):
            for m in range(n_m):
                for _ in range(counts[j, o, m]):
                    u_created = un[base + i]
                    u_seg = un[base + n_new + i]
                    u_stage = un[base + 2 * n_new + i]
                    u_size = un[base + 3 * n_new + i]
                    u_win = un[base + 4 * n_new + i]
                    i += 1
                    created = first_day[m] + int(math.floor(
                        u_created * (last_day[m] - first_day[m] + 1)))
                    seg, cum = 0, 0.0
                    for g in range(n_g):
                        cum += segment_mix[p, o, g]
                        if u_seg > cum:
                            seg += 1
                    seg = min(seg, n_g - 1)
                    stage = 0
                    for s in range(n_s):
                        if entry_cum[p, s] <= u_stage:
                            stage += 1
                    stage = min(stage, n_s - 1)
                    offset, _rest = _draw_day(table, tr, new_row_lookup[o, seg], stage, u_win)
                    if offset == 0:
                        continue
                    day = created + offset - 1
                    if day > horizon_days:
                        continue
                    size = math.exp(size_mu[p, seg] + size_sigma[p, seg]
                                    * ndtri(min(max(u_size, _U_MIN), _U_MAX)))
                    size *= size_multiplier
                    mo = day_month[day]
                    revenue[r, mo, o] += size
                    new_revenue[r, mo, o] += size


# --------------------------------------------------------------------------------------
# planning: cells, groups, recursion bounds
# --------------------------------------------------------------------------------------


def _groups(inputs: SimulationInputs) -> tuple[np.ndarray, ...]:
    """Distinct (owner, segment, xb) groups of open deals and of new deals."""
    d = inputs.deals
    n_xb = inputs.xb.shape[1]
    o_n, g_n = len(inputs.owners), len(inputs.segments)
    keys = (d.owner * g_n + d.segment) * n_xb + d.xb
    active = np.flatnonzero(inputs.arrival_multiplier.sum(axis=1) > 0)
    new_keys = ((active[:, None] * g_n + np.arange(g_n)[None, :]) * n_xb + (n_xb - 1)).ravel()
    uniq, inv = np.unique(np.concatenate([keys, new_keys]), return_inverse=True)
    g_owner, rest = uniq // (g_n * n_xb), uniq % (g_n * n_xb)
    g_segment, g_xb = rest // n_xb, rest % n_xb
    open_group = inv[: len(keys)]
    new_group = inv[len(keys):].reshape(len(active), g_n)
    new_lookup = np.full((o_n, g_n), -1)
    new_lookup[active] = new_group
    return g_owner, g_segment, g_xb, open_group, new_lookup


@dataclass(frozen=True)
class _Plan:
    """Everything about a run that does not depend on the path."""

    weeks: int
    days: int
    g_owner: np.ndarray
    g_segment: np.ndarray
    g_xb: np.ndarray
    week_hi: np.ndarray        # (G, S) last week in stage needed, −1: stage unused
    tile_groups: np.ndarray    # (n_tiles, TILE) groups recursed together (−1: padding)
    tile_size: np.ndarray      # (n_tiles,) groups in each tile
    tile_hi: np.ndarray        # (n_tiles, S) last week in stage recursed over, −1: unused
    cell_start: np.ndarray     # (G + 1,) open cells of group g: cell_start[g]:cell_start[g+1]
    cell_stage: np.ndarray
    cell_week: np.ndarray
    cell_part: np.ndarray      # days of the cell's current week already passed (0..6)
    deal_cell: np.ndarray      # (n_open,) open cell of each deal
    new_row: np.ndarray        # (G,) row of the group in the new-deal table, −1: none
    new_row_lookup: np.ndarray  # (O, n_segments) new-deal table row of (owner, segment)
    nb_scale: np.ndarray       # (P, O, M) scale of the arrivals' gamma (mean / alpha)
    entry_cum: np.ndarray      # (P, S) cumulative entry-stage probabilities
    day_month: np.ndarray
    edges: np.ndarray          # (n_buckets + 1,) first week of each bucket, then MAX_WEEK + 1
    deal_order: np.ndarray     # (n_open,) deals sorted by cell (table rows read in order)

    @property
    def n_cells(self) -> int:
        return len(self.cell_stage)

    @property
    def n_new_rows(self) -> int:
        return int(self.new_row.max()) + 1 if self.new_row.size else 0


def _plan(inputs: SimulationInputs) -> _Plan:
    hz, d = inputs.horizon, inputs.deals
    weeks = hz.weeks
    n_s, n_w = len(inputs.stages), MAX_WEEK + 1
    g_owner, g_segment, g_xb, open_group, new_lookup = _groups(inputs)
    n_g = len(g_owner)
    key = ((open_group * n_s + d.stage) * n_w + d.week) * 7 + d.part
    cells, deal_cell = np.unique(key, return_inverse=True)
    cell_part, cells = cells % 7, cells // 7
    cell_group, rest = cells // (n_s * n_w), cells % (n_s * n_w)
    cell_stage, cell_week = rest // n_w, rest % n_w
    cell_start = np.searchsorted(cell_group, np.arange(n_g + 1))
    # stages from the lowest one a group needs; weeks far enough past the highest week
    # asked for (the next one for a part-week) that its values are exact over the horizon
    lowest = np.full(n_g, n_s)
    np.minimum.at(lowest, cell_group, cell_stage)
    is_new = np.zeros(n_g, dtype=bool)
    is_new[new_lookup[new_lookup >= 0]] = True
    lowest[is_new] = 0
    top = np.zeros((n_g, n_s), dtype=np.int64)
    np.maximum.at(top, (cell_group, cell_stage), cell_week)
    week_hi = np.minimum(top + weeks + 1, MAX_WEEK)
    week_hi[np.arange(n_s)[None, :] < lowest[:, None]] = -1
    new_groups = np.unique(new_lookup[new_lookup >= 0])
    new_row = np.full(n_g, -1)
    new_row[new_groups] = np.arange(len(new_groups))
    new_row_lookup = np.where(new_lookup >= 0, new_row[np.maximum(new_lookup, 0)], -1)
    # arrivals: the same whole-array computation whatever paths are simulated
    moy = hz.month_of_year() - 1
    log_mu = (inputs.arr_b0[:, None, None] + inputs.arr_owner_eff[:, :, None]
              + inputs.season[:, moy][:, None, :])
    mu = np.exp(log_mu) * hz.fraction_of_month()[None, None, :] * inputs.arrival_multiplier
    alpha = _f64(inputs.alpha)[:, None, None]
    # tiles of groups with similar recursion bounds
    by_work = np.argsort(-(week_hi + 1).sum(axis=1), kind="stable")
    n_tiles = -(-n_g // TILE)
    tile_groups = np.full((n_tiles, TILE), -1, dtype=np.int64)
    tile_groups.ravel()[:n_g] = by_work
    tile_size = (tile_groups >= 0).sum(axis=1)
    tile_hi = np.full((n_tiles, n_s), -1, dtype=np.int64)
    for t in range(n_tiles):
        tile_hi[t] = week_hi[tile_groups[t, : tile_size[t]]].max(axis=0)
    return _Plan(
        weeks=weeks, days=hz.days, g_owner=g_owner, g_segment=g_segment, g_xb=g_xb,
        week_hi=np.ascontiguousarray(week_hi), tile_groups=tile_groups,
        tile_size=tile_size.astype(np.int64), tile_hi=tile_hi, cell_start=cell_start,
        cell_stage=cell_stage, cell_week=cell_week, cell_part=cell_part, deal_cell=deal_cell.reshape(-1),
        new_row=new_row, new_row_lookup=new_row_lookup, nb_scale=mu / alpha,
        entry_cum=np.cumsum(inputs.entry_stage, axis=1), day_month=hz.day_month(),
        edges=np.array(DURATION_EDGES_WEEKS + (MAX_WEEK + 1,), dtype=np.int64),
        deal_order=np.argsort(deal_cell.reshape(-1), kind="stable"))


def _f64(x) -> np.ndarray:
    """C-contiguous, writeable float64 (read-only arrays, e.g. unpickled on a Dask worker,
    would make numba compile the kernels again for another type)."""
    return np.require(x, dtype=np.float64, requirements=["C", "W"])


def _i64(x) -> np.ndarray:
    """C-contiguous, writeable int64 (see :func:`_f64`)."""
    return np.require(x, dtype=np.int64, requirements=["C", "W"])


def _threads(threads: int | None) -> int:
    if threads is not None:
        return max(1, int(threads))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def chunk_size_for(inputs: SimulationInputs, n_groups: int | None = None) -> int:
    """Paths per chunk under :data:`CHUNK_BYTES` (``n_groups`` is accepted and unused)."""
    per_path = 8 * (len(inputs.deals) + 64)
    return int(max(1, min(MAX_CHUNK, CHUNK_BYTES // per_path)))


def tables_per_batch(plan: _Plan, n_stages: int) -> int:
    """Posterior draws whose win-time tables fit in :data:`TABLE_BYTES` together."""
    per_draw = 8 * plan.days * (plan.n_cells + plan.n_new_rows * n_stages) + 1
    return int(max(1, min(512, TABLE_BYTES // per_draw)))


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True) if hi > lo]


def _fill_tables(inputs: SimulationInputs, plan: _Plan, ps: np.ndarray, t_open: np.ndarray,
                 t_new: np.ndarray, absorb_lost: bool = False) -> None:
    """Fill ``t_open``/``t_new`` with the daily win (or close) CDFs of posterior draws ``ps``."""
    _win_tables(_i64(ps), _f64(inputs.a), _f64(inputs.dur), _f64(inputs.owner_eff),
                _f64(inputs.segment_eff), _f64(inputs.xb), COV_SIGN, _i64(plan.g_owner),
                _i64(plan.g_segment), _i64(plan.g_xb), plan.tile_groups, plan.tile_size,
                plan.tile_hi, plan.edges, _i64(duration_bucket(np.arange(MAX_WEEK + 1))),
                _i64(plan.cell_start), _i64(plan.cell_stage), _i64(plan.cell_week),
                _i64(plan.cell_part), _i64(plan.new_row), t_open, t_new, absorb_lost)


def absorbed_by_horizon_end(inputs: SimulationInputs, absorb_lost: bool = False,
                            threads: int | None = None) -> np.ndarray:
    """``(P, n_open)``: each open deal's probability of being won (``absorb_lost``: won or
    lost) by the horizon's last day, under every posterior draw — the simulator's own
    tables (:func:`win_cdfs`, compiled), no Monte Carlo."""
    plan = _plan(inputs)
    n_p, n_s = inputs.n_posterior, len(inputs.stages)
    out = np.zeros((n_p, len(inputs.deals)))
    if not len(inputs.deals):
        return out
    per_batch = tables_per_batch(plan, n_s)
    n_threads = _threads(threads)

    def batch(lo: int, hi: int) -> None:
        ps = _i64(np.arange(lo, hi))
        t_open = np.empty((len(ps), plan.n_cells, 1, plan.days))
        t_new = np.empty((len(ps), max(plan.n_new_rows, 1), n_s, plan.days))
        _fill_tables(inputs, plan, ps, t_open, t_new, absorb_lost)
        out[lo:hi] = t_open[:, plan.deal_cell, 0, -1]

    pieces = [(lo, min(lo + per_batch, n_p)) for lo in range(0, n_p, per_batch)]
    pieces = [p for lo, hi in pieces for p in
              [(lo + a, lo + b) for a, b in _split(hi - lo, n_threads)]]
    if n_threads > 1 and len(pieces) > 1:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(lambda p: batch(*p), pieces))
    else:
        for p in pieces:
            batch(*p)
    return out


def simulate(inputs: SimulationInputs, n_draws: int, seed: int, chunk_size: int | None = None,
             keep_deal_outcomes: bool = False,
             progress: Callable[[int, int], None] | None = None,
             threads: int | None = None) -> SimulationResult:
    """Simulate ``n_draws`` revenue paths over ``inputs.horizon``.

    Parameters
    ----------
    inputs
        Posterior arrays and open deals (:func:`simulations.inputs.build_inputs`).
    n_draws
        Number of simulated paths; path ``i`` uses posterior draw ``i mod P``.
    seed
        Seed of the run; path ``i`` draws from ``SeedSequence(seed).spawn(n_draws)[i]``.
    chunk_size
        Paths whose random numbers are held at once (memory bound); never changes the
        results.
    keep_deal_outcomes
        Also return each open deal's win month and revenue per path.
    progress
        Called as ``progress(done, n_draws)`` after each chunk.
    threads
        Threads running the compiled kernels (default: the CPUs this process may use);
        never changes the results.
    """
    return simulate_paths(inputs, range(n_draws), seed, chunk_size=chunk_size,
                          keep_deal_outcomes=keep_deal_outcomes, progress=progress,
                          threads=threads)


def simulate_paths(inputs: SimulationInputs, paths: Sequence[int] | np.ndarray, seed: int,
                   chunk_size: int | None = None, keep_deal_outcomes: bool = False,
                   progress: Callable[[int, int], None] | None = None,
                   threads: int | None = None) -> SimulationResult:
    """Paths ``paths`` (indices) of the run ``simulate(inputs, n, seed)``, any ``n > max(paths)``.

    Row ``k`` of the result is exactly row ``paths[k]`` of the full run's, so sets of paths
    can be computed anywhere and joined (:func:`concat_results`, :func:`assemble`).

    Parameters
    ----------
    inputs, seed, chunk_size, keep_deal_outcomes, threads
        As in :func:`simulate`.
    paths
        Distinct path indices ≥ 0, e.g. ``range(start, stop)``.
    progress
        Called as ``progress(done, len(paths))`` after each chunk.
    """
    paths = np.asarray(paths, dtype=np.int64).reshape(-1)
    if paths.size and paths.min() < 0:
        raise ValueError("path indices must be >= 0")
    hz, d = inputs.horizon, inputs.deals
    n, n_open, n_o, n_m = len(paths), len(d), len(inputs.owners), hz.n_months
    n_s = len(inputs.stages)
    revenue = np.zeros((n, n_m, n_o))
    new_revenue = np.zeros((n, n_m, n_o))
    deal_month = np.full((n, n_open), -1, dtype=np.int16) if keep_deal_outcomes else None
    deal_rev = np.zeros((n, n_open)) if keep_deal_outcomes else None
    result = SimulationResult(
        revenue=revenue, months=hz.months, owners=inputs.owners, teams=inputs.teams,
        new_revenue=new_revenue, deal_month=deal_month, deal_revenue=deal_rev,
        deal_ids=d.deal_id, seed=seed)
    if n == 0:
        return result

    plan = _plan(inputs)
    n_threads = _threads(threads)
    chunk = max(1, chunk_size or chunk_size_for(inputs))
    n_p = inputs.n_posterior
    deals = dict(order=_i64(plan.deal_order),
                 cell_sorted=_i64(plan.deal_cell[plan.deal_order]),
                 forced_sorted=np.ascontiguousarray(d.override[plan.deal_order] != 0),
                 deal_cell=_i64(plan.deal_cell), owner=_i64(d.owner), amount=_f64(d.amount),
                 delay=_i64(d.delay_days), override=_i64(d.override),
                 forced_day=_i64(d.forced_day))
    ratio_mu, ratio_sigma = _f64(inputs.ratio_mu), _f64(inputs.ratio_sigma)
    size_mu, size_sigma = _f64(inputs.size_mu), _f64(inputs.size_sigma)
    segment_mix, entry_cum = _f64(inputs.segment_mix), _f64(plan.entry_cum)
    first_day, last_day = _i64(hz.first_day), _i64(hz.last_day)
    alpha = _f64(inputs.alpha)
    size_mult = float(inputs.size_multiplier)
    keep = bool(keep_deal_outcomes)
    dummy_i16 = np.zeros((1, 1), dtype=np.int16)
    dummy_f = np.zeros((1, 1))

    # paths grouped by the posterior draw they use: each draw's tables are computed once,
    # in batches of draws whose tables fit in memory together
    p_of = paths % n_p
    by_draw = np.argsort(p_of, kind="stable")
    used, first = np.unique(p_of[by_draw], return_index=True)
    bounds = np.append(first, n)
    per_batch = tables_per_batch(plan, n_s)
    done = 0
    pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None

    def run(fn, pieces) -> None:
        if pool is None or len(pieces) == 1:
            for piece in pieces:
                fn(*piece)
        else:
            list(pool.map(lambda piece: fn(*piece), pieces))

    try:
        for b0 in range(0, len(used), per_batch):
            b1 = min(b0 + per_batch, len(used))
            ps = _i64(used[b0:b1])
            t_open = np.empty((len(ps), plan.n_cells, 1, plan.days))
            t_new = np.empty((len(ps), max(plan.n_new_rows, 1), n_s, plan.days))

            def tables(lo: int, hi: int, ps=ps, t_open=t_open, t_new=t_new) -> None:
                _fill_tables(inputs, plan, ps[lo:hi], t_open[lo:hi], t_new[lo:hi])

            run(tables, _split(len(ps), n_threads))
            # this batch's paths (rows of the result), consecutive ones sharing a table
            rows_all = by_draw[bounds[b0]: bounds[b1]]
            trow_all = np.repeat(np.arange(len(ps)), np.diff(bounds[b0: b1 + 1]))

            def block(lo: int, hi: int, rows_all=rows_all, trow_all=trow_all,
                      t_open=t_open, t_new=t_new) -> None:
                rows, trow = _i64(rows_all[lo:hi]), _i64(trow_all[lo:hi])
                idx, p_row = paths[rows], _i64(p_of[rows])
                u = np.empty((hi - lo, n_open))
                counts = np.empty((hi - lo, n_o, n_m), dtype=np.int64)
                new_u = []
                for j in range(hi - lo):
                    rng = np.random.Generator(np.random.PCG64(
                        np.random.SeedSequence(seed, spawn_key=(int(idx[j]),))))
                    rng.random(out=u[j])
                    p = p_row[j]
                    # negative binomial as its gamma–Poisson mixture (much faster in numpy)
                    lam = rng.standard_gamma(alpha[p], (n_o, n_m)) * plan.nb_scale[p]
                    counts[j] = rng.poisson(lam)
                    new_u.append(rng.random(NEW_DEAL_UNIFORMS * int(counts[j].sum())))
                offsets = np.zeros(hi - lo + 1, dtype=np.int64)
                offsets[1:] = np.cumsum([len(x) for x in new_u])
                if n_open:
                    _open_paths(u, rows, trow, p_row, t_open, deals["order"],
                                deals["cell_sorted"], deals["forced_sorted"],
                                deals["deal_cell"], deals["owner"], deals["amount"],
                                deals["delay"], deals["override"], deals["forced_day"],
                                ratio_mu, ratio_sigma, size_mult, plan.day_month, revenue,
                                keep, deal_month if keep else dummy_i16,
                                deal_rev if keep else dummy_f)
                if offsets[-1]:
                    _new_paths(counts, np.concatenate(new_u), offsets, rows, trow, p_row,
                               first_day, last_day, segment_mix, entry_cum, size_mu,
                               size_sigma, size_mult, _i64(plan.new_row_lookup), t_new,
                               plan.day_month, revenue, new_revenue)

            for c0 in range(0, len(rows_all), chunk):
                c1 = min(c0 + chunk, len(rows_all))
                run(block, [(c0 + lo, c0 + hi) for lo, hi in _split(c1 - c0, n_threads)])
                done += c1 - c0
                if progress is not None:
                    progress(done, n)
    finally:
        if pool is not None:
            pool.shutdown()
    return result


def assemble(parts: Sequence[tuple[np.ndarray, SimulationResult]], n_draws: int
             ) -> SimulationResult:
    """One result of ``n_draws`` paths from ``(paths, result)`` pieces covering them all."""
    if not parts:
        raise ValueError("no results to join")
    first = parts[0][1]
    covered = np.zeros(n_draws, dtype=bool)

    def empty(x: np.ndarray | None) -> np.ndarray | None:
        return None if x is None else np.empty((n_draws,) + x.shape[1:], dtype=x.dtype)

    out = {name: empty(getattr(first, name))
           for name in ("revenue", "new_revenue", "deal_month", "deal_revenue")}
    for idx, part in parts:
        idx = np.asarray(idx, dtype=np.int64)
        covered[idx] = True
        for name, arr in out.items():
            if (arr is None) != (getattr(part, name) is None):
                raise ValueError(f"parts differ: some have {name}, some not")
            if arr is not None:
                arr[idx] = getattr(part, name)
    if not covered.all():
        raise ValueError(f"{int((~covered).sum())} of {n_draws} paths are missing")
    return SimulationResult(
        revenue=out["revenue"], months=first.months, owners=first.owners, teams=first.teams,
        new_revenue=out["new_revenue"], deal_month=out["deal_month"],
        deal_revenue=out["deal_revenue"], deal_ids=first.deal_ids, seed=first.seed)


def concat_results(parts: Sequence[SimulationResult]) -> SimulationResult:
    """Join consecutive blocks of paths (:func:`simulate_paths`) into one result."""
    if not parts:
        raise ValueError("no results to join")
    first = parts[0]

    def cat(name: str):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values, axis=0)

    return SimulationResult(
        revenue=cat("revenue"), months=first.months, owners=first.owners, teams=first.teams,
        new_revenue=cat("new_revenue"), deal_month=cat("deal_month"),
        deal_revenue=cat("deal_revenue"), deal_ids=first.deal_ids, seed=first.seed)
