"""Monte Carlo revenue simulation: win-time distributions per cell, one uniform per deal and path.

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

* the win-time distributions are computed once per *posterior draw*, not per path: paths
  are processed grouped by the posterior draw they use, so 10,000 paths over 1,000
  posterior draws cost 1,000 recursions;
* the recursion runs one (owner, segment, covariate) group at a time, stage by stage and
  week in stage by week in stage, each a contiguous loop over days, and only as far as
  some open deal's cell (or the new deals' entry) needs it (:func:`_win_tables`);
* each open deal of a path costs one uniform (numpy's PCG64) and a comparison with its
  cell's chance of being won by the horizon's end; for the deals that are won, a binary
  search over the cell's daily CDF, evaluated from the recursion's rows while they are in
  cache (no table of daily CDFs is stored), then one normal quantile for the booked ÷
  expected ratio; the new deals of a path cost five uniforms each.

Memory is bounded by :data:`CHUNK_BYTES` (per-path random numbers of one chunk; small, so
they stay in cache while used) and :data:`TABLE_BYTES` (new deals' tables of a batch of
posterior draws), whatever the number of draws; the outputs are
``(n_draws, n_months, n_owners)``.

Reproducibility
---------------
Path ``i`` uses posterior draw ``i mod P`` and its own generator
``PCG64(SeedSequence(seed, spawn_key=(i,)))`` — the ``i``-th child of
``SeedSequence(seed).spawn(n)`` — and every number of a path is computed from that path's
inputs alone, by the same scalar code. Results therefore do not depend on ``chunk_size``,
the number of threads, the order in which paths are computed, or on which machine
computes which paths (:func:`simulate_paths`, :mod:`simulations.engine.distributed`).

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

from forecast.data.cells import MAX_WEEK, duration_bucket
from forecast.posterior import COV_SIGN
from simulations.engine.inputs import FORCE_LOST, FORCE_WON, SimulationInputs

#: memory budget of one chunk's per-path working arrays (random numbers); small enough to
#: stay in cache between being drawn and being used
CHUNK_BYTES = 16 * 2**20
#: memory budget of the tables of one batch of posterior draws (:func:`tables_per_batch`)
TABLE_BYTES = 128 * 2**20
#: most paths in one chunk
MAX_CHUNK = 4096
#: won open deals held before they are booked (:func:`_book`)
HIT_BUFFER = 4096
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
def _cell_cdf(v, cum, s, wk, r, t, w_, a_, st, den, last_w):  # pragma: no cover - compiled
    """P(won within ``t`` days) of the cell (stage ``s``, week ``wk``, ``r`` days of it
    passed) from its stage's rows ``v`` and the next stage's ``cum`` (:func:`win_cdfs`)."""
    if r == 0:
        return v[wk, t]
    left = 7 - r
    kn = wk + 1 if wk < last_w else wk
    later = v[kn, t - left] if t > left else 0.0
    return (w_ * min(t, left) + a_ * (cum[s + 1, t] - cum[s + 1, max(t - left, 0)])
            + 7.0 * st * later) / den


@numba.njit(**_JIT)
def _draw_cell(v, cum, s, wk, r, w_, a_, st, den, last_w, days,
               u):  # pragma: no cover - compiled
    """Win day (1-based) of a deal of the cell whose uniform ``u`` is below its CDF at the
    horizon's last day, and the uniform left over: as :func:`_draw_day`, by a branch-free
    binary search over the CDF evaluated from the rows (no table is stored). For a
    part-week cell the search compares the CDF's numerator with ``u`` times its
    denominator (no division)."""
    base, n = 0, days  # the day is in (base, base + n]
    if r == 0:
        row = v[wk]
        while n > 1:
            half = n // 2
            base = base + half if row[base + half] <= u else base
            n -= half
        day = base + 1
        hi, lo = row[day], row[day - 1]
    else:
        left = 7 - r
        nxt = v[wk + 1 if wk < last_w else wk]
        entry = cum[s + 1]
        u_den = u * den
        while n > 1:
            half = n // 2
            t = base + half
            num = (w_ * min(t, left) + a_ * (entry[t] - entry[max(t - left, 0)])
                   + 7.0 * st * nxt[max(t - left, 0)])
            base = t if num <= u_den else base
            n -= half
        day = base + 1
        hi = _cell_cdf(v, cum, s, wk, r, day, w_, a_, st, den, last_w)
        lo = _cell_cdf(v, cum, s, wk, r, day - 1, w_, a_, st, den, last_w) if day > 1 else 0.0
    frac = min(max((u - lo) / max(hi - lo, 1e-300), 0.0), 1.0 - 1e-12)
    return day, frac


@numba.njit(**_JIT)
def _book(hit_q, hit_k, hit_day, hit_rest, n_hit, mu, sd, rows, owner, amount,
          size_multiplier, day_month, revenue, keep, deal_month,
          deal_rev):  # pragma: no cover - compiled
    """Book the first ``n_hit`` won open deals (path ``hit_q``, deal ``hit_k``, day offset
    ``hit_day``, uniform left over ``hit_rest``), in order: the booked ÷ expected ratio is
    log-normal(``mu``, ``sd``) at the leftover uniform's quantile."""
    n_day = day_month.shape[0]
    for i in range(n_hit):
        day = hit_day[i]
        month = day_month[day] if 0 < day < n_day else -1
        if month < 0:
            continue
        k, row = hit_k[i], rows[hit_q[i]]
        z = ndtri(min(max(hit_rest[i], _U_MIN), _U_MAX)) if sd != 0.0 else 0.0
        booked = amount[k] * math.exp(mu + sd * z) * size_multiplier
        revenue[row, month, owner[k]] += booked
        if keep:
            deal_month[row, k] = month
            deal_rev[row, k] = booked


@numba.njit(**_JIT)
def _win_tables(ps, a, dur, owner_eff, segment_eff, xb, cov_sign, g_owner, g_segment, g_xb,
                bucket_of, cell_start, cell_stage, cell_week, cell_part, new_row, days,
                absorb_lost, out_last, out_new, out_open, path_start, u, rows, cell_deals,
                order, owner, amount, delay, override, forced_day, ratio_mu, ratio_sigma,
                size_multiplier, day_month, revenue, keep, deal_month,
                deal_rev):  # pragma: no cover - compiled
    """Win-time distributions of posterior draws ``ps``, and the open deals' draws.

    For each draw ``ps[j]``, group and stage (from the last), the recursion of
    :func:`win_cdfs`: ``v[d, τ] = V(s, d, τ)`` row by row (week ``d`` in stage), each row a
    contiguous loop over ``τ`` reading the next week's row 7 days earlier, and only as far
    as some cell needs it (``need``: a cell at week ``k`` needs row ``k`` to the horizon,
    hence row ``k + 1`` to 7 days less, and so on), so the values at the cells are exact.
    ``cum[s, τ]`` sums ``V(s, 0, τ')`` over ``τ' ≤ τ``. With ``absorb_lost`` the
    distributions are of being *closed* (won or lost) instead of won.

    Written (where the array has rows): ``out_last[j, c]``, P(won within the horizon) of
    open cell ``c``; ``out_open[j, c, τ − 1]``, its whole CDF; ``out_new[j, r, s, τ − 1]``,
    the CDF of a deal of new-deal group row ``r`` entering stage ``s`` on day 1.

    Open deals: the paths ``path_start[j]:path_start[j + 1]`` (local rows ``q``; rows
    ``rows[q]`` of the result) use draw ``ps[j]``; deal ``order[kk]`` (deals sorted by cell;
    cell ``c`` has ``kk`` in ``cell_deals[c]:cell_deals[c + 1]``) gets uniform ``u[q, kk]``.
    Its win day is found as soon as its cell's rows are known (:func:`_draw_cell`), so no
    table of daily CDFs is stored.
    """
    n_s, n_b = a.shape[2], dur.shape[2]
    n_w = bucket_of.shape[0]
    last_w = n_w - 1
    e_base = np.empty((3, n_s, n_b))
    stay = np.empty((n_s, n_b))
    adv = np.empty((n_s, n_b))
    won = np.empty((n_s, n_b))
    v = np.zeros((n_w, days + 1))
    cum = np.zeros((n_s + 1, days + 1))  # stage n_s: none, all zeros
    a7 = np.zeros(days + 1)
    need = np.zeros(n_w, dtype=np.int64)
    # won deals, booked in batches (a separate loop keeps the search loop lean)
    hit_q = np.empty(HIT_BUFFER, dtype=np.int64)
    hit_k = np.empty(HIT_BUFFER, dtype=np.int64)
    hit_day = np.empty(HIT_BUFFER, dtype=np.int64)
    hit_rest = np.empty(HIT_BUFFER)
    n_hit = 0
    for j in range(ps.shape[0]):
        p = ps[j]
        mu, sd = ratio_mu[p], ratio_sigma[p]
        for k in range(3):
            for s in range(n_s):
                for b in range(n_b):
                    e_base[k, s, b] = math.exp(a[p, k, s] + dur[p, k, b])
        for g in range(g_owner.shape[0]):
            c0, c1 = cell_start[g], cell_start[g + 1]
            rr = new_row[g]
            lowest = 0 if rr >= 0 else (cell_stage[c0] if c1 > c0 else n_s)
            if lowest >= n_s:
                continue
            o, sg, x = g_owner[g], g_segment[g], g_xb[g]
            f0 = math.exp(owner_eff[p, 0, o] + segment_eff[p, 0, sg] + cov_sign[0] * xb[p, x])
            f1 = math.exp(owner_eff[p, 1, o] + segment_eff[p, 1, sg] + cov_sign[1] * xb[p, x])
            f2 = math.exp(owner_eff[p, 2, o] + segment_eff[p, 2, sg] + cov_sign[2] * xb[p, x])
            for s in range(lowest, n_s):
                for b in range(n_b):
                    e0 = 0.0 if s == n_s - 1 else e_base[0, s, b] * f0
                    e1 = e_base[1, s, b] * f1
                    e2 = e_base[2, s, b] * f2
                    den = 1.0 + (e0 + e1 + e2)
                    stay[s, b] = 1.0 / den
                    adv[s, b] = e0 / den
                    won[s, b] = (e1 + e2) / den if absorb_lost else e1 / den
            c_hi = c1
            for s in range(n_s - 1, lowest - 1, -1):
                # this stage's cells: the group's cells are sorted by stage, week, part
                c_lo = c_hi
                while c_lo > c0 and cell_stage[c_lo - 1] == s:
                    c_lo -= 1
                need[:] = 0
                need[0] = days
                for c in range(c_lo, c_hi):
                    wk, r = cell_week[c], cell_part[c]
                    if r == 0:
                        need[wk] = days
                    else:
                        kn = wk + 1 if wk < last_w else wk
                        need[kn] = max(need[kn], days - 7 + r)
                top = 0
                for d in range(1, n_w):
                    need[d] = max(need[d], need[d - 1] - 7)
                    if need[d] > 0:
                        top = d
                for t in range(1, days + 1):
                    a7[t] = (cum[s + 1, t] - cum[s + 1, max(t - 7, 0)]) / 7.0
                for d in range(top, -1, -1):
                    b = bucket_of[d]
                    dn = d + 1 if d < last_w else d
                    w_, a_, st = won[s, b], adv[s, b], stay[s, b]
                    n_t = need[d]
                    vd, vn = v[d], v[dn]  # 1-d views: the loop vectorises
                    for t in range(1, min(7, n_t) + 1):
                        vd[t] = w_ * (t / 7.0) + a_ * a7[t]
                    for t in range(8, n_t + 1):
                        vd[t] = w_ + a_ * a7[t] + st * vn[t - 7]
                for t in range(1, days + 1):
                    cum[s, t] = cum[s, t - 1] + v[0, t]
                if rr >= 0:
                    for t in range(1, days + 1):
                        out_new[j, rr, s, t - 1] = v[0, t]
                for c in range(c_lo, c_hi):
                    wk, r = cell_week[c], cell_part[c]
                    b = bucket_of[wk]
                    st, a_, w_ = stay[s, b], adv[s, b], won[s, b]
                    den = 7.0 - r * (1.0 - st)  # r days of week wk passed without an event
                    by_end = _cell_cdf(v, cum, s, wk, r, days, w_, a_, st, den, last_w)
                    if out_last.shape[0]:
                        out_last[j, c] = by_end
                    if out_open.shape[0]:
                        for t in range(1, days + 1):
                            out_open[j, c, t - 1] = _cell_cdf(v, cum, s, wk, r, t, w_, a_, st,
                                                              den, last_w)
                    for kk in range(cell_deals[c], cell_deals[c + 1]):
                        k = order[kk]
                        if override[k] == FORCE_LOST:
                            continue
                        for q in range(path_start[j], path_start[j + 1]):
                            uq = u[q, kk]
                            if override[k] == FORCE_WON:
                                day, rest = forced_day[k], uq
                            elif uq < by_end:
                                day, rest = _draw_cell(v, cum, s, wk, r, w_, a_, st, den,
                                                       last_w, days, uq)
                                day += delay[k]
                            else:
                                continue
                            if n_hit == hit_q.shape[0]:
                                _book(hit_q, hit_k, hit_day, hit_rest, n_hit, mu, sd, rows,
                                      owner, amount, size_multiplier, day_month, revenue,
                                      keep, deal_month, deal_rev)
                                n_hit = 0
                            hit_q[n_hit], hit_k[n_hit] = q, k
                            hit_day[n_hit], hit_rest[n_hit] = day, rest
                            n_hit += 1
                c_hi = c_lo
        _book(hit_q, hit_k, hit_day, hit_rest, n_hit, mu, sd, rows, owner, amount,
              size_multiplier, day_month, revenue, keep, deal_month, deal_rev)
        n_hit = 0


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

    days: int
    g_owner: np.ndarray
    g_segment: np.ndarray
    g_xb: np.ndarray
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
    deal_order: np.ndarray     # (n_open,) deals sorted by cell
    cell_deals: np.ndarray     # (n_cells + 1,) deals of cell c: deal_order[cell_deals[c]:...]

    @property
    def n_cells(self) -> int:
        return len(self.cell_stage)

    @property
    def n_new_rows(self) -> int:
        return int(self.new_row.max()) + 1 if self.new_row.size else 0


def _plan(inputs: SimulationInputs) -> _Plan:
    hz, d = inputs.horizon, inputs.deals
    n_s, n_w = len(inputs.stages), MAX_WEEK + 1
    g_owner, g_segment, g_xb, open_group, new_lookup = _groups(inputs)
    n_g = len(g_owner)
    key = ((open_group * n_s + d.stage) * n_w + d.week) * 7 + d.part
    cells, deal_cell = np.unique(key, return_inverse=True)
    cell_part, cells = cells % 7, cells // 7
    cell_group, rest = cells // (n_s * n_w), cells % (n_s * n_w)
    cell_stage, cell_week = rest // n_w, rest % n_w
    cell_start = np.searchsorted(cell_group, np.arange(n_g + 1))
    deal_cell = deal_cell.reshape(-1)
    deal_order = np.argsort(deal_cell, kind="stable")
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
    return _Plan(
        days=hz.days, g_owner=g_owner, g_segment=g_segment, g_xb=g_xb,
        cell_start=cell_start,
        cell_stage=cell_stage, cell_week=cell_week, cell_part=cell_part, deal_cell=deal_cell,
        new_row=new_row, new_row_lookup=new_row_lookup, nb_scale=mu / alpha,
        entry_cum=np.cumsum(inputs.entry_stage, axis=1), day_month=hz.day_month(),
        deal_order=deal_order,
        cell_deals=np.searchsorted(deal_cell[deal_order], np.arange(len(cells) + 1)))


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


def chunk_size_for(inputs: SimulationInputs) -> int:
    """Paths per chunk under :data:`CHUNK_BYTES`."""
    per_path = 8 * (len(inputs.deals) + 64)
    return int(max(1, min(MAX_CHUNK, CHUNK_BYTES // per_path)))


def tables_per_batch(plan: _Plan, n_stages: int) -> int:
    """Posterior draws whose tables (each open cell's chance by the horizon's end, the new
    deals' daily CDFs) fit in :data:`TABLE_BYTES` together."""
    per_draw = 8 * (plan.n_cells + plan.days * plan.n_new_rows * n_stages) + 1
    return int(max(1, min(4096, TABLE_BYTES // per_draw)))


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True) if hi > lo]


_NO_F3 = np.zeros((0, 0, 0))
_NO_I16 = np.zeros((1, 1), dtype=np.int16)
_NO_F = np.zeros((1, 1))


def _fill_tables(inputs: SimulationInputs, plan: _Plan, ps: np.ndarray, t_last: np.ndarray,
                 t_new: np.ndarray, absorb_lost: bool = False, t_open: np.ndarray | None = None,
                 draws: dict | None = None) -> None:
    """Tables of posterior draws ``ps`` and, with ``draws``, the open deals' draws.

    ``t_last[j, c]``: open cell ``c``'s chance of being won (``absorb_lost``: closed) by the
    horizon's last day; ``t_new[j, r, s, τ − 1]``: new-deal CDFs; ``t_open[j, c, τ − 1]``
    (optional): each open cell's daily CDF. ``draws`` holds the arguments of the open
    deals' draws (:func:`_win_tables`): ``path_start``, ``u``, ``rows`` and the result's
    arrays.
    """
    n_open = len(inputs.deals)
    if draws is None:
        draws = dict(path_start=np.zeros(len(ps) + 1, dtype=np.int64),
                     u=np.zeros((0, max(n_open, 1))), rows=np.zeros(0, dtype=np.int64),
                     revenue=_NO_F3, keep=False, deal_month=_NO_I16, deal_rev=_NO_F)
    d = inputs.deals
    _win_tables(_i64(ps), _f64(inputs.a), _f64(inputs.dur), _f64(inputs.owner_eff),
                _f64(inputs.segment_eff), _f64(inputs.xb), COV_SIGN, _i64(plan.g_owner),
                _i64(plan.g_segment), _i64(plan.g_xb),
                _i64(duration_bucket(np.arange(MAX_WEEK + 1))), _i64(plan.cell_start),
                _i64(plan.cell_stage), _i64(plan.cell_week), _i64(plan.cell_part),
                _i64(plan.new_row), int(plan.days), bool(absorb_lost), t_last, t_new,
                _NO_F3 if t_open is None else t_open, _i64(draws["path_start"]), draws["u"],
                _i64(draws["rows"]), _i64(plan.cell_deals), _i64(plan.deal_order),
                _i64(d.owner), _f64(d.amount), _i64(d.delay_days), _i64(d.override),
                _i64(d.forced_day), _f64(inputs.ratio_mu), _f64(inputs.ratio_sigma),
                float(inputs.size_multiplier), plan.day_month, draws["revenue"],
                bool(draws["keep"]), draws["deal_month"], draws["deal_rev"])


def absorbed_by_horizon_end(inputs: SimulationInputs, absorb_lost: bool = False,
                            threads: int | None = None) -> np.ndarray:
    """``(P, n_open)``: each open deal's probability of being won (``absorb_lost``: won or
    lost) by the horizon's last day, under every posterior draw — the simulator's own
    recursion (:func:`win_cdfs`, compiled), no Monte Carlo."""
    plan = _plan(inputs)
    n_p, n_s = inputs.n_posterior, len(inputs.stages)
    out = np.zeros((n_p, len(inputs.deals)))
    if not len(inputs.deals):
        return out
    per_batch = tables_per_batch(plan, n_s)

    def work(lo: int, hi: int) -> None:
        t_last = np.empty((min(per_batch, hi - lo), plan.n_cells))
        t_new = np.empty((len(t_last), max(plan.n_new_rows, 1), n_s, plan.days))
        for b0 in range(lo, hi, per_batch):
            b1 = min(b0 + per_batch, hi)
            _fill_tables(inputs, plan, _i64(np.arange(b0, b1)), t_last[: b1 - b0],
                         t_new[: b1 - b0], absorb_lost)
            out[b0:b1] = t_last[: b1 - b0, plan.deal_cell]

    _run(work, _split(n_p, _threads(threads)))
    return out


def _run(fn: Callable[..., None], pieces: list[tuple[int, ...]]) -> None:
    """``fn(*piece)`` for each piece, on one thread per piece (the kernels release the GIL)."""
    if len(pieces) <= 1:
        for piece in pieces:
            fn(*piece)
        return
    with ThreadPoolExecutor(len(pieces)) as pool:
        list(pool.map(lambda piece: fn(*piece), pieces))


def simulate(inputs: SimulationInputs, n_draws: int, seed: int, chunk_size: int | None = None,
             keep_deal_outcomes: bool = False,
             progress: Callable[[int, int], None] | None = None,
             threads: int | None = None) -> SimulationResult:
    """Simulate ``n_draws`` revenue paths over ``inputs.horizon``.

    Parameters
    ----------
    inputs
        Posterior arrays and open deals (:func:`simulations.engine.inputs.build_inputs`).
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
    size_mu, size_sigma = _f64(inputs.size_mu), _f64(inputs.size_sigma)
    segment_mix, entry_cum = _f64(inputs.segment_mix), _f64(plan.entry_cum)
    first_day, last_day = _i64(hz.first_day), _i64(hz.last_day)
    alpha = _f64(inputs.alpha)
    new_row_lookup = _i64(plan.new_row_lookup)

    # paths grouped by the posterior draw they use: each draw's distributions are computed
    # once for all of its paths in a chunk
    p_of = paths % n_p
    by_draw = np.argsort(p_of, kind="stable")

    # one buffer of uniforms per piece of a chunk, reused by the next chunks (a fresh
    # allocation each time costs page faults)
    u_bufs = [np.empty((min(chunk, n), n_open)) for _ in range(min(n_threads, n))]

    def block(lo: int, hi: int, piece: int) -> None:
        """Rows ``by_draw[lo:hi]`` of the result (sorted by posterior draw)."""
        rows = _i64(by_draw[lo:hi])
        idx, p_row = paths[rows], _i64(p_of[rows])
        ps, first = np.unique(p_row, return_index=True)
        path_start = np.append(first, hi - lo)
        u = u_bufs[piece][: hi - lo]
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
        t_last = np.empty((len(ps), plan.n_cells))
        t_new = np.empty((len(ps), max(plan.n_new_rows, 1), n_s, plan.days))
        _fill_tables(inputs, plan, ps, t_last, t_new, draws=dict(
            path_start=path_start, u=u, rows=rows, revenue=revenue, keep=keep_deal_outcomes,
            deal_month=deal_month if keep_deal_outcomes else _NO_I16,
            deal_rev=deal_rev if keep_deal_outcomes else _NO_F))
        offsets = np.zeros(hi - lo + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(x) for x in new_u])
        if offsets[-1]:
            trow = _i64(np.repeat(np.arange(len(ps)), np.diff(path_start)))
            _new_paths(counts, np.concatenate(new_u), offsets, rows, trow, p_row, first_day,
                       last_day, segment_mix, entry_cum, size_mu, size_sigma,
                       float(inputs.size_multiplier), new_row_lookup, t_new, plan.day_month,
                       revenue, new_revenue)

    # chunks and their pieces end where a posterior draw's paths end, where that is near
    draw_ends = np.append(np.flatnonzero(np.diff(p_of[by_draw])) + 1, n)
    c0 = 0
    while c0 < n:
        c1 = _snap(draw_ends, c0 + chunk // 2, min(c0 + chunk, n))
        cuts = [c0] + [_snap(draw_ends, c0 + (2 * i - 1) * (c1 - c0) // (2 * n_threads),
                             c0 + (c1 - c0) * i // n_threads) for i in range(1, n_threads)]
        cuts = sorted(set(cuts) | {c1})
        _run(block, [(a, b, i) for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:],
                                                                 strict=True))])
        c0 = c1
        if progress is not None:
            progress(c1, n)
    return result


def _snap(ends: np.ndarray, lo: int, hi: int) -> int:
    """The last of the sorted positions ``ends`` in ``(lo, hi]``, or ``hi`` if none is."""
    i = int(np.searchsorted(ends, hi, side="right")) - 1
    return int(ends[i]) if i >= 0 and ends[i] > lo else hi


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
