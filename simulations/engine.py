"""Monte Carlo revenue simulation, vectorised over deals and chunked over draws.

For each posterior draw, a deal's chance of being won within ``t`` weeks depends only on
its cell (stage, weeks in stage, owner, segment, covariate pattern). The engine computes
these win-time distributions once per cell by backward recursion over the weekly
stay/advance/won/lost chain, then turns one uniform number per deal into its win week
(and, from the same number, the day within that week). New deals arrive per owner and
month (negative binomial), get a segment, entry stage and size, and follow the same chain.

Reproducibility: draw ``i`` uses posterior draw ``i mod P`` and its own random generator
spawned from ``SeedSequence(seed)``, so results do not depend on ``chunk_size``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forecast.cells import MAX_WEEK, duration_bucket
from forecast.flow_model import COV_SIGN
from simulations.inputs import FORCE_LOST, FORCE_WON, SimulationInputs

#: memory budget of one chunk's working arrays
CHUNK_BYTES = 256 * 2**20


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


def hazards(inputs: SimulationInputs, pidx: np.ndarray, g_owner: np.ndarray,
            g_segment: np.ndarray, g_xb: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weekly stay/advance/won probabilities ``(C, groups, S, MAX_WEEK + 1)``."""
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


def win_cdfs(p_stay: np.ndarray, p_adv: np.ndarray, p_won: np.ndarray, weeks: int,
             open_idx: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
             new_groups: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """P(won within t weeks), t = 1..weeks, for the open deals' cells and for new deals.

    Backward recursion ``V_t(s, d) = won(s,d) + adv(s,d)·V_{t−1}(s+1, 0) +
    stay(s,d)·V_{t−1}(s, min(d+1, cap))``.

    Returns
    -------
    open_cdf
        ``(C, n_open, weeks)`` for cells ``(group, stage, week)`` in ``open_idx``.
    new_cdf
        ``(C, len(new_groups), S, weeks)`` for a deal entering stage s now.
    """
    c, g, s, w = p_stay.shape
    v = np.zeros_like(p_stay)
    open_cdf = None if open_idx is None else np.empty((c, len(open_idx[0]), weeks))
    new_cdf = None if new_groups is None else np.empty((c, len(new_groups), s, weeks))
    nxt = np.zeros((c, g, s, 1))
    for t in range(weeks):
        shifted = np.concatenate([v[..., 1:], v[..., -1:]], axis=-1)
        nxt[:, :, :-1, 0] = v[:, :, 1:, 0]
        v = p_won + p_adv * nxt + p_stay * shifted
        if open_cdf is not None:
            open_cdf[:, :, t] = v[:, open_idx[0], open_idx[1], open_idx[2]]
        if new_cdf is not None:
            new_cdf[:, :, :, t] = v[:, :, :, 0][:, new_groups]
    return open_cdf, new_cdf


def draw_week(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Day offset (1-based, within ``7·weeks``) at which each deal is won, or 0 if not.

    ``cdf[..., t]`` is P(won within t+1 weeks); the same uniform ``u`` places the win
    inside its week (its position between the two CDF values).
    """
    weeks = cdf.shape[-1]
    t = (cdf <= u[..., None]).sum(axis=-1)
    won = t < weeks
    tc = np.minimum(t, weeks - 1)
    hi = np.take_along_axis(cdf, tc[..., None], axis=-1)[..., 0]
    lo = np.where(tc > 0, np.take_along_axis(cdf, np.maximum(tc - 1, 0)[..., None],
                                              axis=-1)[..., 0], 0.0)
    frac = np.clip((u - lo) / np.maximum(hi - lo, 1e-300), 0.0, 1.0 - 1e-12)
    day = 7 * tc + 1 + np.floor(frac * 7).astype(np.int64)
    return np.where(won, day, 0)


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


def chunk_size_for(inputs: SimulationInputs, n_groups: int) -> int:
    per_draw = 8 * (n_groups * len(inputs.stages) * (MAX_WEEK + 1) * 12
                    + len(inputs.deals) * (inputs.horizon.weeks + 6))
    return int(max(1, min(1000, CHUNK_BYTES // max(per_draw, 1))))


def simulate(inputs: SimulationInputs, n_draws: int, seed: int, chunk_size: int | None = None,
             keep_deal_outcomes: bool = False,
             progress: Callable[[int, int], None] | None = None) -> SimulationResult:
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
        Paths computed together (memory bound); never changes the results.
    keep_deal_outcomes
        Also return each open deal's win month and revenue per path.
    progress
        Called as ``progress(done, n_draws)`` after each chunk.
    """
    hz = inputs.horizon
    d = inputs.deals
    n_open, n_o, n_m = len(d), len(inputs.owners), hz.n_months
    weeks = hz.weeks
    g_owner, g_segment, g_xb, open_group, new_lookup = _groups(inputs)
    chunk = chunk_size or chunk_size_for(inputs, len(g_owner))
    children = np.random.SeedSequence(seed).spawn(n_draws)
    day_month = hz.day_month()
    moy = hz.month_of_year() - 1
    frac_month = hz.fraction_of_month()
    revenue = np.zeros((n_draws, n_m, n_o))
    new_revenue = np.zeros((n_draws, n_m, n_o))
    deal_month = np.full((n_draws, n_open), -1, dtype=np.int16) if keep_deal_outcomes else None
    deal_rev = np.zeros((n_draws, n_open)) if keep_deal_outcomes else None
    open_idx = (open_group, d.stage, d.week)
    forced_won = d.override == FORCE_WON
    forced_lost = d.override == FORCE_LOST
    n_p = inputs.n_posterior

    for start in range(0, n_draws, chunk):
        stop = min(start + chunk, n_draws)
        pidx = np.arange(start, stop) % n_p
        p_stay, p_adv, p_won = hazards(inputs, pidx, g_owner, g_segment, g_xb)
        open_cdf, new_cdf = win_cdfs(p_stay, p_adv, p_won, weeks,
                                     open_idx if n_open else None, np.arange(len(g_owner)))
        del p_stay, p_adv, p_won
        for j, i in enumerate(range(start, stop)):
            p = pidx[j]
            rng = np.random.Generator(np.random.PCG64(children[i]))
            # open deals: one uniform for timing, one normal for booked/expected
            u = rng.random(n_open)
            z = rng.standard_normal(n_open)
            if n_open:
                day = draw_week(open_cdf[j], u)
                day = np.where(day > 0, day + d.delay_days, 0)
                day = np.where(forced_won, d.forced_day, np.where(forced_lost, 0, day))
                month = np.where(day > 0, day_month[np.clip(day, 0, len(day_month) - 1)], -1)
                month = np.where(day >= len(day_month), -1, month)
                booked = (d.amount * np.exp(inputs.ratio_mu[p] + inputs.ratio_sigma[p] * z)
                          * inputs.size_multiplier)
                hit = month >= 0
                revenue[i] += np.bincount(month[hit] * n_o + d.owner[hit], weights=booked[hit],
                                          minlength=n_m * n_o).reshape(n_m, n_o)
                if keep_deal_outcomes:
                    deal_month[i] = month
                    deal_rev[i] = np.where(hit, booked, 0.0)
            # deals not yet created
            log_mu = (inputs.arr_b0[p] + inputs.arr_owner_eff[p][:, None]
                      + inputs.season[p][moy][None, :])
            mu = np.exp(log_mu) * frac_month[None, :] * inputs.arrival_multiplier
            alpha = inputs.alpha[p]
            counts = rng.negative_binomial(alpha, alpha / (alpha + mu))
            n_new = int(counts.sum())
            if n_new == 0:
                continue
            owner = np.repeat(np.repeat(np.arange(n_o), n_m), counts.ravel())
            mon = np.repeat(np.tile(np.arange(n_m), n_o), counts.ravel())
            lo, hi = hz.first_day[mon], hz.last_day[mon]
            created = lo + np.floor(rng.random(n_new) * (hi - lo + 1)).astype(np.int64)
            cum_mix = np.cumsum(inputs.segment_mix[p][owner], axis=1)
            seg = np.minimum((rng.random(n_new)[:, None] > cum_mix).sum(axis=1),
                             len(inputs.segments) - 1)
            cum_entry = np.cumsum(inputs.entry_stage[p])
            stage = np.minimum(np.searchsorted(cum_entry, rng.random(n_new), side="right"),
                               len(inputs.stages) - 1)
            amount = np.exp(inputs.size_mu[p, seg] + inputs.size_sigma[p, seg]
                            * rng.standard_normal(n_new)) * inputs.size_multiplier
            u_new = rng.random(n_new)
            grp = new_lookup[owner, seg]
            offset = draw_week(new_cdf[j][grp, stage], u_new)
            day = np.where(offset > 0, created + offset - 1, 0)
            ok = (offset > 0) & (day <= hz.days)
            m_new = day_month[day[ok]]
            add = np.bincount(m_new * n_o + owner[ok], weights=amount[ok],
                              minlength=n_m * n_o).reshape(n_m, n_o)
            revenue[i] += add
            new_revenue[i] += add
        if progress is not None:
            progress(stop, n_draws)
    return SimulationResult(revenue=revenue, months=hz.months, owners=inputs.owners,
                            teams=inputs.teams, new_revenue=new_revenue, deal_month=deal_month,
                            deal_revenue=deal_rev, deal_ids=d.deal_id, seed=seed)
