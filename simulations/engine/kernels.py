"""Compiled kernels of the Monte Carlo engine (numba, ``nogil``, cached on disk).

This module holds the numba code that :mod:`simulations.engine.simulate` drives: the normal
quantile (:func:`ndtri`), the win-time recursion of a batch of posterior draws together
with the open deals' draws it feeds (:func:`win_times_and_open_deals`), the booking of won
open deals (:func:`book_won`), and the new deals' draws (:func:`book_new_deals`). Each
computes what the numpy reference (:mod:`simulations.engine.reference`) computes, number for
number; the arrays they read travel as the named tuples below (numba types them as
records of arrays, so grouping costs nothing at run time).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from simulations.engine.inputs import FORCE_LOST, FORCE_WON
from simulations.engine.recursion import (
    cell_cdf,
    draw_exps,
    draw_in_cell,
    group_hazards,
    group_needs,
    stage_rows,
)

#: won open deals held before they are booked (:func:`book_won`)
HIT_BUFFER = 4096
#: uniforms per new deal: created day, segment, entry stage, size quantile, win time
NEW_DEAL_UNIFORMS = 5
#: smallest and largest uniform fed to the normal quantile function
_U_MIN, _U_MAX = 2.0**-53, 1.0 - 2.0**-53

_JIT = dict(cache=True, nogil=True, error_model="numpy")


def as_f64(x) -> np.ndarray:
    """C-contiguous, writeable float64 (read-only arrays, e.g. unpickled on a Dask worker,
    would make numba compile the kernels again for another type)."""
    return np.require(x, dtype=np.float64, requirements=["C", "W"])


def as_i64(x) -> np.ndarray:
    """C-contiguous, writeable int64 (see :func:`as_f64`)."""
    return np.require(x, dtype=np.int64, requirements=["C", "W"])


class FlowDraws(NamedTuple):
    """The deal-flow posterior, indexed by posterior draw ``p`` (logits: advance, won, lost)."""

    a: np.ndarray            # (P, 3, S) stage effects
    dur: np.ndarray          # (P, 3, B) time-in-stage bucket effects
    owner_eff: np.ndarray    # (P, 3, O)
    segment_eff: np.ndarray  # (P, 3, n_segments)
    xb: np.ndarray           # (P, n_xb) linear predictor of each covariate pattern
    cov_sign: np.ndarray     # (3,) sign of ``xb`` in each logit
    bucket_of: np.ndarray    # (MAX_WEEK + 1,) time-in-stage bucket of each week in stage
    week_off: np.ndarray     # (P, K, 3) calendar offsets of the horizon's week k (days 7k+1..);
                             # K = 1 and zeros: no calendar
    part_off: np.ndarray     # (P, 7, 3) offsets of a deal's current week after r days of it
                             # (row r); (P, 0, 3): no calendar


class CellLayout(NamedTuple):
    """Groups and open cells of a run (:class:`simulations.engine.plan.Plan`).

    Group ``g`` is an (owner, segment, covariate pattern); its open cells are
    ``cell_start[g]:cell_start[g + 1]``, sorted by stage, week in stage and days of the week
    passed (``part``); the deals of cell ``c`` are ``deal_order[cell_deals[c]:cell_deals[c + 1]]``.
    """

    days: int                # days of the horizon
    g_owner: np.ndarray      # (G,)
    g_segment: np.ndarray    # (G,)
    g_xb: np.ndarray         # (G,)
    cell_start: np.ndarray   # (G + 1,)
    cell_stage: np.ndarray   # (n_cells,)
    cell_week: np.ndarray    # (n_cells,)
    cell_part: np.ndarray    # (n_cells,) 0..6
    new_row: np.ndarray      # (G,) row of the group in the new-deal table, −1: none
    cell_deals: np.ndarray   # (n_cells + 1,)
    deal_order: np.ndarray   # (n_open,) deals sorted by cell


class WinTables(NamedTuple):
    """What the recursion writes for batch row ``j`` (posterior draw ``ps[j]``); an array
    with no rows is not written."""

    last: np.ndarray  # (J, n_cells) P(won within the horizon) of each open cell
    new: np.ndarray   # (J, R, S·K, days) CDF of a new deal of row r entering stage s in
                      # the horizon's week k (index s·K + k) on day 1 of it
    open: np.ndarray  # (J, n_cells, days) each open cell's whole CDF (tests), or (0, 0, 0)


class OpenDraws(NamedTuple):
    """The open deals' uniforms for a block of paths, and what overrides their draws.

    Local paths ``path_start[j]:path_start[j + 1]`` use batch row ``j``; local path ``q``
    gives deal ``deal_order[kk]`` the uniform ``u[q, kk]``.
    """

    path_start: np.ndarray  # (J + 1,)
    u: np.ndarray           # (paths of the block, n_open), or (0, n) for no draws
    delay: np.ndarray       # (n_open,) days added to a deal's win day
    override: np.ndarray    # (n_open,) FORCE_WON, FORCE_LOST or 0
    forced_day: np.ndarray  # (n_open,) win day of a FORCE_WON deal


class Ledger(NamedTuple):
    """Where won open deals are booked: local path ``q`` is row ``rows[q]`` of the result."""

    rows: np.ndarray         # (paths of the block,)
    owner: np.ndarray        # (n_open,)
    amount: np.ndarray       # (n_open,) expected amount
    ratio_mu: np.ndarray     # (P,) log-normal booked ÷ expected ratio
    ratio_sigma: np.ndarray  # (P,)
    size_multiplier: float
    day_month: np.ndarray    # month of each day offset (−1: outside the horizon)
    revenue: np.ndarray      # (n, M, O), added to
    keep: bool               # write deal_month and deal_rev
    deal_month: np.ndarray   # (n, n_open) int16, or a dummy when not kept
    deal_rev: np.ndarray     # (n, n_open), or a dummy when not kept


class Hits(NamedTuple):
    """Won open deals waiting to be booked (:data:`HIT_BUFFER` of them at most)."""

    q: np.ndarray     # local path
    k: np.ndarray     # deal
    day: np.ndarray   # day offset of the win (delay included)
    rest: np.ndarray  # the uniform left over (:func:`draw_day_in_table`)


class NewDeals(NamedTuple):
    """The new deals of a block of paths: ``counts[j]`` per (owner, month) of path ``j``,
    whose :data:`NEW_DEAL_UNIFORMS` · n uniforms are ``uniforms[offsets[j]:offsets[j + 1]]``."""

    counts: np.ndarray    # (paths, O, M)
    uniforms: np.ndarray
    offsets: np.ndarray   # (paths + 1,)
    rows: np.ndarray      # (paths,) row of the result
    table_row: np.ndarray  # (paths,) batch row of the path's posterior draw in the table
    draw: np.ndarray      # (paths,) posterior draw


class NewDealModel(NamedTuple):
    """How a new deal's month, created day, segment, entry stage and size are drawn."""

    first_day: np.ndarray       # (M,) first and last day offset of each month
    last_day: np.ndarray
    segment_mix: np.ndarray     # (P, O, n_segments)
    entry_cum: np.ndarray       # (P, S) cumulative entry-stage probabilities
    size_mu: np.ndarray         # (P, n_segments) log-normal size
    size_sigma: np.ndarray
    size_multiplier: float
    new_row_lookup: np.ndarray  # (O, n_segments) row of the new-deal table, −1: none
    day_month: np.ndarray
    n_grid: int                 # K, the calendar's weeks (1: no calendar)


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
def draw_day_in_table(table: np.ndarray, i: int, j: int, k: int,
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
def book_won(hits: Hits, n_hit: int, mu: float, sd: float,
             ledger: Ledger) -> None:  # pragma: no cover - compiled
    """Book the first ``n_hit`` won open deals of ``hits``, in order: the booked ÷ expected
    ratio is log-normal(``mu``, ``sd``) at the leftover uniform's quantile."""
    hit_q, hit_k, hit_day, hit_rest = hits.q, hits.k, hits.day, hits.rest
    rows, owner, amount = ledger.rows, ledger.owner, ledger.amount
    day_month, revenue, keep = ledger.day_month, ledger.revenue, ledger.keep
    deal_month, deal_rev = ledger.deal_month, ledger.deal_rev
    size_multiplier = ledger.size_multiplier
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
def win_times_and_open_deals(ps: np.ndarray, absorb_lost: bool, flow: FlowDraws,
                             layout: CellLayout, tables: WinTables, draws: OpenDraws,
                             ledger: Ledger) -> None:  # pragma: no cover - compiled
    """Win-time recursion of posterior draws ``ps``; the open deals' win days and bookings.

    For each draw ``ps[j]`` and group: the group's weekly hazards (:func:`group_hazards`),
    then stage by stage from the last, the recursion of
    :func:`simulations.engine.reference.win_cdfs` (:func:`stage_rows`), only as far as some
    cell needs it (:func:`group_needs`), so the values at the cells are exact. With
    ``absorb_lost`` the distributions are of being *closed* (won or lost) instead of won.
    Written into ``tables`` (where the array has rows): each open cell's chance of a win by
    the horizon's end, its whole CDF, and the new deals' CDFs.

    While a stage's rows are in cache, each of its cells' open deals is drawn in the paths
    ``draws.path_start[j]:draws.path_start[j + 1]`` (:func:`draw_in_cell`; no table of daily
    CDFs is stored); the won ones are booked into ``ledger`` in batches (:func:`book_won`, a
    separate loop keeps the search loop lean), the last batch at the end of each posterior
    draw. The named tuples' arrays are taken out once, here: taking them out in the loops
    would cost a reference count each time.
    """
    bucket_of = flow.bucket_of
    days, g_owner, g_segment, g_xb = layout.days, layout.g_owner, layout.g_segment, layout.g_xb
    cell_start, cell_stage = layout.cell_start, layout.cell_stage
    cell_week, cell_part, new_row = layout.cell_week, layout.cell_part, layout.new_row
    cell_deals, order = layout.cell_deals, layout.deal_order
    out_last, out_new, out_open = tables.last, tables.new, tables.open
    path_start, u, delay = draws.path_start, draws.u, draws.delay
    override, forced_day = draws.override, draws.forced_day
    ratio_mu, ratio_sigma = ledger.ratio_mu, ledger.ratio_sigma
    n_s, n_b = flow.a.shape[2], flow.dur.shape[2]
    n_k, n_part = flow.week_off.shape[1], flow.part_off.shape[1]
    n_w = bucket_of.shape[0]
    last_w = n_w - 1
    e_base = np.empty((3, n_s, n_b))
    stay = np.empty((n_k + n_part, n_s, n_b))
    adv = np.empty((n_k + n_part, n_s, n_b))
    won = np.empty((n_k + n_part, n_s, n_b))
    v = np.zeros((n_k, n_w, days + 1))
    cum = np.zeros((n_s + 1, n_k, days + 1))  # stage n_s: none, all zeros
    a7 = np.zeros(days + 1)
    need = np.zeros((n_s, n_k, n_w), dtype=np.int64)
    top = np.zeros((n_s, n_k), dtype=np.int64)
    hit_q = np.empty(HIT_BUFFER, dtype=np.int64)
    hit_k = np.empty(HIT_BUFFER, dtype=np.int64)
    hit_day = np.empty(HIT_BUFFER, dtype=np.int64)
    hit_rest = np.empty(HIT_BUFFER)
    hits = Hits(hit_q, hit_k, hit_day, hit_rest)
    n_hit = 0
    for j in range(ps.shape[0]):
        p = ps[j]
        mu, sd = ratio_mu[p], ratio_sigma[p]
        draw_exps(flow, p, e_base)
        for g in range(g_owner.shape[0]):
            c0, c1 = cell_start[g], cell_start[g + 1]
            rr = new_row[g]
            lowest = 0 if rr >= 0 else (cell_stage[c0] if c1 > c0 else n_s)
            if lowest >= n_s:
                continue
            group_hazards(flow, p, g_owner[g], g_segment[g], g_xb[g], lowest, absorb_lost,
                           e_base, stay, adv, won)
            group_needs(cell_stage, cell_week, cell_part, c0, c1, lowest, rr >= 0, days,
                         need, top)
            c_hi = c1
            for s in range(n_s - 1, lowest - 1, -1):
                # this stage's cells: the group's cells are sorted by stage, week, part
                c_lo = c_hi
                while c_lo > c0 and cell_stage[c_lo - 1] == s:
                    c_lo -= 1
                stage_rows(s, top[s], need[s], bucket_of, stay, adv, won, v, cum, a7)
                if rr >= 0:  # beyond what a new deal can use, the CDF is held flat
                    for k in range(n_k):
                        row, vk, last = out_new[j, rr, s * n_k + k], v[k, 0], 0.0
                        for t in range(1, days + 1):
                            if t <= need[s, k, 0]:
                                last = vk[t]
                            row[t - 1] = last
                for c in range(c_lo, c_hi):
                    wk, r = cell_week[c], cell_part[c]
                    b = bucket_of[wk]
                    i = n_k + r if r > 0 and n_part > 0 else 0  # calendar of its current week
                    st, a_, w_ = stay[i, s, b], adv[i, s, b], won[i, s, b]
                    den = 7.0 - r * (1.0 - st)  # r days of week wk passed without an event
                    by_end = cell_cdf(v, cum, s, wk, r, days, w_, a_, st, den, last_w)
                    if out_last.shape[0]:
                        out_last[j, c] = by_end
                    if out_open.shape[0]:
                        for t in range(1, days + 1):
                            out_open[j, c, t - 1] = cell_cdf(v, cum, s, wk, r, t, w_, a_, st,
                                                             den, last_w)
                    # the cell's open deals in the paths of draw j, while its rows are in cache
                    for kk in range(cell_deals[c], cell_deals[c + 1]):
                        k = order[kk]
                        if override[k] == FORCE_LOST:
                            continue
                        for q in range(path_start[j], path_start[j + 1]):
                            uq = u[q, kk]
                            if override[k] == FORCE_WON:
                                day, rest = forced_day[k], uq
                            elif uq < by_end:
                                day, rest = draw_in_cell(v, cum, s, wk, r, w_, a_, st, den,
                                                         last_w, days, uq)
                                day += delay[k]
                            else:
                                continue
                            if n_hit == HIT_BUFFER:
                                book_won(hits, n_hit, mu, sd, ledger)
                                n_hit = 0
                            hit_q[n_hit], hit_k[n_hit] = q, k
                            hit_day[n_hit], hit_rest[n_hit] = day, rest
                            n_hit += 1
                c_hi = c_lo
        book_won(hits, n_hit, mu, sd, ledger)
        n_hit = 0


@numba.njit(**_JIT)
def book_new_deals(new: NewDeals, model: NewDealModel, table: np.ndarray, revenue: np.ndarray,
                   new_revenue: np.ndarray) -> None:  # pragma: no cover - compiled
    """Draw and book the new deals of a block of paths (:class:`NewDeals`) into ``revenue``
    and ``new_revenue``; ``table[i, r, s·K + k, τ − 1]``: CDF of a deal of new-deal row ``r``
    entering stage ``s`` in the horizon's week ``k`` (batch row ``i``, :class:`WinTables`)."""
    # the arrays are taken out once: in the loops each would cost a reference count
    counts, un, offsets = new.counts, new.uniforms, new.offsets
    rows, trow, ps = new.rows, new.table_row, new.draw
    first_day, last_day = model.first_day, model.last_day
    segment_mix, entry_cum = model.segment_mix, model.entry_cum
    size_mu, size_sigma, size_multiplier = model.size_mu, model.size_sigma, model.size_multiplier
    new_row_lookup, day_month, n_k = model.new_row_lookup, model.day_month, model.n_grid
    n_o, n_m = counts.shape[1], counts.shape[2]
    n_g, n_s = segment_mix.shape[2], entry_cum.shape[1]
    horizon_days = last_day[n_m - 1]
    for j in range(rows.shape[0]):
        r, tr, p = rows[j], trow[j], ps[j]
        base = offsets[j]
        n_new = (offsets[j + 1] - base) // NEW_DEAL_UNIFORMS
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
                    # the deal starts in the horizon's week nearest its created day
                    k = min((created + 2) // 7, n_k - 1)
                    offset, _rest = draw_day_in_table(table, tr, new_row_lookup[o, seg],
                                                      stage * n_k + k, u_win)
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
