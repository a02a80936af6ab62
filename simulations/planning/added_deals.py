"""The model of added qualified deals: their outcomes on every simulated path.

Steps 2 and 3 of the method in :mod:`simulations.planning.recommend`:
:class:`EntryTables` (:func:`entry_tables`) are the deal-flow posterior's win-time CDFs of a
deal entering the qualified stage, per rep and segment, plus the long-run summaries (P(won
eventually), P(a lead reaches the qualified stage)); :class:`AddedDeals` draws each
synthetic deal's segment, won amount and win day from them with common random numbers
(fixed blocks of :data:`BLOCK` deals, each with its own child seed), so a deal's outcome
never depends on how many deals were asked for. :func:`with_added_deals` writes a plan
into the engine's deal book instead, so that the engine itself can check it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from simulations.engine.inputs import MODEL, DealBook, SimulationInputs
from simulations.engine.reference import draw_day, hazards, win_cdfs
from simulations.planning.targets import Target, apportion, owner_weights

#: weeks of deal life used for "eventually" (win probability, lead time, qualification)
LONG_WEEKS = 104
#: the same in days (win-time CDFs are daily)
LONG_DAYS = 7 * LONG_WEEKS
#: synthetic deals drawn together (the unit of the pool's random stream)
BLOCK = 64
#: posterior draws used for the long-run win-time summaries (lead time, P(win eventually))
LONG_DRAWS = 25
#: posterior draws used for P(a lead reaches the qualified stage)
REACH_DRAWS = 100
#: posterior draws per hazard computation (memory bound)
_POSTERIOR_CHUNK = 100


# --------------------------------------------------------------------------- model tables


def _reach_probability(p_stay: np.ndarray, p_adv: np.ndarray, p_won: np.ndarray, stage: int,
                       weeks: int) -> np.ndarray:
    """P(a deal entering stage 0 reaches ``stage``, or is won before, within ``weeks``).

    Same backward recursion as :func:`~simulations.engine.reference.win_cdfs`, with advancing into
    ``stage`` absorbing. Returns ``(C, G)``.
    """
    c, g = p_stay.shape[:2]
    if stage == 0:
        return np.ones((c, g))
    w = p_stay.shape[-1]
    v = np.zeros((c, g, stage, w))
    nxt = np.zeros((c, g, stage, 1))
    nxt[:, :, -1, 0] = 1.0
    for _ in range(weeks):
        shifted = np.concatenate([v[..., 1:], v[..., -1:]], axis=-1)
        nxt[:, :, :-1, 0] = v[:, :, 1:, 0]
        v = (p_won[:, :, :stage] + p_adv[:, :, :stage] * nxt
             + p_stay[:, :, :stage] * shifted)
    return v[:, :, 0, 0]


@dataclass(frozen=True)
class EntryTables:
    """Model tables of a deal entering the qualified stage, per owner and segment.

    Attributes
    ----------
    cdf
        ``(P_used, n_owners, n_segments, days)``: P(won within τ days) under
        posterior draws ``0 .. P_used − 1`` over the horizon's days (for the pool).
    long_draws
        Posterior draws (evenly spaced, at most :data:`LONG_DRAWS`) of ``long_cdf``.
    long_cdf
        ``(len(long_draws), n_owners, n_segments, LONG_DAYS)``: the same CDF over two
        years (P(won eventually), time to win).
    reach_draws
        Posterior draws (evenly spaced, at most :data:`REACH_DRAWS`) of ``reach``.
    reach
        ``(len(reach_draws), n_owners, n_segments)``: P(a first-stage deal reaches the
        qualified stage, or is won before it, within two years).
    """

    cdf: np.ndarray
    long_draws: np.ndarray
    long_cdf: np.ndarray
    reach_draws: np.ndarray
    reach: np.ndarray


def _stage_cdf(inputs: SimulationInputs, pidx: np.ndarray, groups: tuple[np.ndarray, ...],
               stage: int, days: int) -> np.ndarray:
    """``(C, G, days)``: P(won within τ days) of a deal entering ``stage`` on day 1."""
    p_stay, p_adv, p_won = hazards(inputs, pidx, *groups)
    # from week 0 of `stage`, `days` days never visit earlier stages nor weeks in stage
    # past days / 7, so the recursion over those stages and weeks only is exact
    sl = (slice(None), slice(None), slice(stage, None), slice(0, -(-days // 7) + 1))
    _, new_cdf = win_cdfs(p_stay[sl], p_adv[sl], p_won[sl], days, None,
                          np.arange(len(groups[0])))
    return new_cdf[:, :, 0]


def entry_tables(inputs: SimulationInputs, owners: np.ndarray, stage: int,
                 n_used: int) -> EntryTables:
    """:class:`EntryTables` of owner codes ``owners`` (deals without covariates, as new
    deals in the engine) for posterior draws ``0 .. n_used − 1``."""
    n_g, n_xb = len(inputs.segments), inputs.xb.shape[1]
    groups = (np.repeat(owners, n_g), np.tile(np.arange(n_g), len(owners)),
              np.full(len(owners) * n_g, n_xb - 1))
    shape = (len(owners), n_g)
    days = inputs.horizon.days
    cdf = np.empty((n_used,) + shape + (days,))
    for start in range(0, n_used, _POSTERIOR_CHUNK):
        pidx = np.arange(start, min(start + _POSTERIOR_CHUNK, n_used))
        c = _stage_cdf(inputs, pidx, groups, stage, days)
        cdf[pidx] = c.reshape((len(pidx),) + shape + (days,))
    reach_draws = _spaced(inputs.n_posterior, REACH_DRAWS)
    p_stay, p_adv, p_won = hazards(inputs, reach_draws, *groups)
    reach = _reach_probability(p_stay, p_adv, p_won, stage, LONG_WEEKS)
    long_draws = _spaced(inputs.n_posterior, LONG_DRAWS)
    long_cdf = _stage_cdf(inputs, long_draws, groups, stage, LONG_DAYS)
    return EntryTables(cdf=cdf, long_draws=long_draws,
                       long_cdf=long_cdf.reshape((len(long_draws),) + shape + (LONG_DAYS,)),
                       reach_draws=reach_draws, reach=reach.reshape((len(reach_draws),) + shape))


def _spaced(n: int, k: int) -> np.ndarray:
    """At most ``k`` evenly spaced indices of ``0 .. n − 1``."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(np.int64))


# --------------------------------------------------------------------------- pool


class AddedDeals:
    """Outcomes of synthetic qualified deals on every simulated path, drawn on demand.

    Deal ``j`` belongs to owner ``owner[j]`` (local index into the target's owners, by
    :func:`~simulations.planning.targets.apportion`). On path ``i``: ``offset[i, j]`` is
    the day (1-based) of its win counted from its qualification day, 0 when not won within
    the horizon; ``amount[i, j]`` its booked amount if won. Block ``b`` (deals ``64·b … 64·b + 63``)
    draws from ``SeedSequence(entropy, spawn_key=seed.spawn_key + (b,))``, so a deal's
    outcome never depends on how many deals were drawn.
    """

    def __init__(self, inputs: SimulationInputs, target: Target, stage: int, n_draws: int,
                 seed: np.random.SeedSequence, tables: EntryTables | None = None):
        self.inputs = inputs
        self.stage = stage
        self.n_draws = n_draws
        self.seed = seed
        self.in_period = _period_days(inputs, target)
        self.owner_codes = np.array([inputs.owners.index(o) for o in target.owners])
        self.weights = owner_weights(inputs, target)
        self.pidx = np.arange(n_draws) % inputs.n_posterior
        n_used = min(n_draws, inputs.n_posterior)
        self.tables = tables or entry_tables(inputs, self.owner_codes, stage, n_used)
        self.owner = np.zeros(0, dtype=np.int64)
        self.offset = np.zeros((n_draws, 0), dtype=np.int32)
        self.amount = np.zeros((n_draws, 0))
        self._cum: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.owner)

    def grow(self, n: int) -> None:
        """Make sure at least ``n`` deals are drawn (whole blocks)."""
        if n <= len(self):
            return
        total = -(-n // BLOCK) * BLOCK
        owner = apportion(self.weights, total)
        parts = [self._block(b, owner[b * BLOCK:(b + 1) * BLOCK])
                 for b in range(len(self) // BLOCK, total // BLOCK)]
        self.owner = owner
        self.offset = np.concatenate([self.offset] + [p[0] for p in parts], axis=1)
        self.amount = np.concatenate([self.amount] + [p[1] for p in parts], axis=1)
        self._cum.clear()

    def _block(self, b: int, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inp = self.inputs
        ss = np.random.SeedSequence(self.seed.entropy, spawn_key=self.seed.spawn_key + (b,))
        rng = np.random.Generator(np.random.PCG64(ss))
        n = self.n_draws
        u_seg = rng.random((n, BLOCK))
        z = rng.standard_normal((n, BLOCK))
        u = rng.random((n, BLOCK))
        p = self.pidx[:, None]
        cum = np.cumsum(inp.segment_mix[p, self.owner_codes[own][None, :]], axis=-1)
        seg = np.minimum((u_seg[..., None] > cum).sum(axis=-1), len(inp.segments) - 1)
        amount = (np.exp(inp.size_mu[p, seg] + inp.size_sigma[p, seg] * z)
                  * inp.size_multiplier)
        offset = np.empty((n, BLOCK), dtype=np.int32)
        rows = max(1, 4_000_000 // (BLOCK * inp.horizon.days))
        for s in range(0, n, rows):
            sl = slice(s, min(s + rows, n))
            cdf = self.tables.cdf[self.pidx[sl, None], own[None, :], seg[sl]]
            offset[sl] = draw_day(cdf, u[sl])
        return offset, amount

    def won_in_period(self, k: int, start_day: int) -> np.ndarray:
        """``(n_draws, k)``: deal won inside the period when qualified on ``start_day``
        (1 = the day after ``as_of``)."""
        self.grow(k)
        off = self.offset[:, :k]
        day = start_day + off - 1
        n_day = len(self.in_period)
        return (off > 0) & (day < n_day) & self.in_period[np.clip(day, 0, n_day - 1)]

    def revenue(self, k: int, start_day: int = 1, cache: bool = True) -> np.ndarray:
        """``(n_draws,)`` revenue in the period of the first ``k`` deals, all qualified on
        ``start_day``."""
        if k == 0:
            return np.zeros(self.n_draws)
        if not cache:
            return np.where(self.won_in_period(k, start_day), self.amount[:, :k], 0.0).sum(1)
        cum = self._cum.get(start_day)
        if cum is None or cum.shape[1] < k:
            self.grow(k)
            hit = self.won_in_period(len(self), start_day)
            cum = np.cumsum(np.where(hit, self.amount, 0.0), axis=1)
            if len(self._cum) >= 2:
                self._cum.pop(next(iter(self._cum)))
            self._cum[start_day] = cum
        return cum[:, k - 1]


def _period_days(inputs: SimulationInputs, target: Target) -> np.ndarray:
    day_month = inputs.horizon.day_month()
    cols = [i for i, m in enumerate(inputs.horizon.months) if m in target.months]
    return np.isin(day_month, cols) & (day_month >= 0)


# --------------------------------------------------------------------------- engine check


def _size_quantiles(inputs: SimulationInputs, segment: int, levels: np.ndarray) -> np.ndarray:
    """Quantiles of the posterior-predictive won size of a segment (no random numbers)."""
    z = stats.norm.ppf((np.arange(200) + 0.5) / 200)
    pooled = np.exp(inputs.size_mu[:, segment][:, None]
                    + inputs.size_sigma[:, segment][:, None] * z[None, :])
    return np.quantile(pooled.ravel(), levels) * inputs.size_multiplier


def with_added_deals(inputs: SimulationInputs, target: Target, n_deals: int,
                     stage: int | None = None, start_day: int = 1) -> SimulationInputs:
    """``inputs`` with ``n_deals`` synthetic qualified deals appended to the deal book.

    Owners as in :class:`AddedDeals`; each owner's deals split over segments by the
    posterior-mean segment mix (Sainte-Laguë) and given sizes at evenly spread quantiles
    of the segment's posterior-predictive won size (divided by the mean booked ÷ expected
    ratio, which the engine applies to open deals). A deal qualified on ``start_day`` is
    a week-0 deal delayed by ``start_day − 1`` days. For checks and what-ifs in the
    engine; the search itself uses :class:`AddedDeals`.
    """
    n_s = len(inputs.stages)
    stage = min(1, n_s - 1) if stage is None else int(stage)
    w = owner_weights(inputs, target)
    local = apportion(w, n_deals)
    codes = np.array([inputs.owners.index(o) for o in target.owners])
    seg = np.zeros(n_deals, dtype=np.int64)
    amount = np.zeros(n_deals)
    ratio = float(np.mean(np.exp(inputs.ratio_mu + 0.5 * inputs.ratio_sigma ** 2)))
    for o in range(len(codes)):
        mine = np.flatnonzero(local == o)
        if not len(mine):
            continue
        s = apportion(inputs.segment_mix[:, codes[o]].mean(axis=0), len(mine))
        seg[mine] = s
        for g in np.unique(s):
            sel = mine[s == g]
            levels = (np.arange(len(sel)) + 0.5) / len(sel)
            amount[sel] = _size_quantiles(inputs, int(g), levels) / ratio
    d = inputs.deals
    add = DealBook(
        deal_id=np.array([f"ADDED-{j + 1:05d}" for j in range(n_deals)], dtype=object),
        owner=codes[local], segment=seg, xb=np.full(n_deals, inputs.xb.shape[1] - 1),
        stage=np.full(n_deals, stage), week=np.zeros(n_deals, dtype=np.int64),
        part=np.zeros(n_deals, dtype=np.int64), amount=amount,
        override=np.full(n_deals, MODEL, dtype=np.int8),
        forced_day=np.zeros(n_deals, dtype=np.int64),
        delay_days=np.full(n_deals, start_day - 1, dtype=np.int64))
    book = DealBook(**{f: np.concatenate([getattr(d, f), getattr(add, f)])
                       for f in d.__dataclass_fields__})
    return replace(inputs, deals=book)
