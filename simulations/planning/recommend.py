"""Pipeline needed for a revenue target: how many more qualified deals and leads, by when.

Method (see ``docs/attainment.md``)
-----------------------------------
1. **Baseline.** The forecast's simulated paths (open deals + deals not yet created) give
   each path's revenue in the target's period for the target's reps, plus what they
   already booked in it.
2. **Added deals.** A pool of synthetic *qualified* deals (entering ``stage``, by default
   the second pipeline stage, in week 0) is spread over the target's reps in proportion
   to their learned deal-creation rates. In path ``i`` (posterior draw ``i mod P``, the
   same draw as the baseline path) deal ``j`` gets a segment from the rep's segment-mix
   posterior, a won amount from the segment's deal-size posterior and a win time from the
   deal-flow posterior, through the engine's own :func:`~simulations.engine.reference.hazards`,
   :func:`~simulations.engine.reference.win_cdfs` and :func:`~simulations.engine.reference.draw_day`.
3. **Common random numbers.** The pool has its own random stream (a child of the run's
   ``SeedSequence``), drawn in fixed blocks of deals, so deal ``j`` of path ``i`` has the
   same outcome whatever the number of deals asked for. The engine cannot be reused for
   this by appending deals to the book: each path draws the open deals' uniforms first,
   so a longer book shifts every later random number of that path (the new-deal
   arrivals) and the baseline would change with ``k``. With CRN, revenue with ``k + 1``
   deals ≥ revenue with ``k`` deals on every path, so ``P(revenue ≥ target)`` is
   non-decreasing in ``k`` and an exponential + bisection search finds the smallest ``k``
   reaching the confidence.
4. **By when.** A deal qualified ``d`` days after ``as_of`` wins ``d − 1`` days later than
   one qualified the day after ``as_of`` (hazards do not depend on the calendar), so the
   same pool answers "how many if qualified on day ``d``" (:attr:`Recommendation.schedule`,
   weekly). ``deals_needed`` is the fewest over that schedule; ``qualify_from`` the first
   day it works; ``by_when`` the last day (searched day by day) on which that many deals,
   all qualified then, still reach the confidence.
5. **Leads** = qualified deals ÷ the model's probability that a new first-stage deal
   reaches the qualified stage (or is won before it) within two years.

:func:`with_added_deals` writes a plan into the engine's deal book, so the engine itself
can check it (``tests/test_recommend.py`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from forecast.data.periods import months_of
from simulations.engine.inputs import MODEL, DealBook, SimulationInputs
from simulations.engine.reference import draw_day, hazards, win_cdfs
from simulations.engine.simulate import SimulationResult
from simulations.engine.summary import describe

#: default cap of the search (more deals than this → "not reachable")
DEFAULT_MAX_DEALS = 5000
#: weeks of deal life used for "eventually" (win probability, lead time, qualification)
LONG_WEEKS = 104
#: the same in days (win-time CDFs are daily)
LONG_DAYS = 7 * LONG_WEEKS
#: synthetic deals drawn together (the unit of the pool's random stream)
BLOCK = 64
#: revenue within this relative distance below the target counts as reaching it
RTOL = 1e-9
#: posterior draws used for the long-run win-time summaries (lead time, P(win eventually))
LONG_DRAWS = 25
#: posterior draws used for P(a lead reaches the qualified stage)
REACH_DRAWS = 100
#: posterior draws per hazard computation (memory bound)
_POSTERIOR_CHUNK = 100


# --------------------------------------------------------------------------- target


@dataclass(frozen=True)
class Target:
    """A revenue target for a rep, a team or the company over some months.

    Attributes
    ----------
    name
        The rep, the team, or ``total``.
    kind
        ``rep``, ``team`` or ``total``.
    owners
        Reps whose revenue counts (and who get the added deals).
    period
        Label: ``YYYY-MM``, ``YYYY-Qn``, or ``first..last`` for the horizon's months.
    months
        ``YYYY-MM`` months of the period.
    amount
        The target revenue of the period (already booked revenue counts toward it).
    booked_to_date
        Revenue the owners already won in the period by ``as_of``.
    """

    name: str
    kind: str
    owners: tuple[str, ...]
    period: str
    months: tuple[str, ...]
    amount: float
    booked_to_date: float = 0.0

    @property
    def remaining(self) -> float:
        """What is left to win: ``max(amount − booked_to_date, 0)``."""
        return max(self.amount - self.booked_to_date, 0.0)


def resolve_target(inputs: SimulationInputs, amount: float, owner: str | None = None,
                   team: str | None = None, period: str | None = None,
                   booked: pd.DataFrame | None = None) -> Target:
    """The :class:`Target` of a rep (``owner``), a team, or the company (neither).

    Parameters
    ----------
    inputs
        Simulation inputs (owners, teams, horizon).
    amount
        Target revenue (> 0).
    owner, team
        At most one: a rep or a team of the model; neither → the company total.
    period
        ``YYYY-MM`` or ``YYYY-Qn``; default: all the horizon's months. Months after
        ``as_of`` must lie inside the horizon.
    booked
        Revenue already won (``owner``, ``month``, ``revenue``,
        :func:`simulations.engine.inputs.booked_to_date`); counted toward the target.

    Raises
    ------
    ValueError
        Unknown rep or team, both given, a non-positive amount, or a period not covered.
    """
    if not amount > 0:
        raise ValueError(f"the target must be a positive amount, got {amount}")
    if owner and team:
        raise ValueError("give a rep (--owner) or a team (--team), not both")
    if owner:
        if owner not in inputs.owners:
            raise ValueError(f"unknown rep {owner!r}; reps: {', '.join(inputs.owners)}")
        kind, name, owners = "rep", owner, (owner,)
    elif team:
        owners = tuple(o for o in inputs.owners if inputs.teams.get(o) == team)
        if not owners:
            known = sorted(set(inputs.teams.get(o, "") for o in inputs.owners) - {""})
            raise ValueError(f"unknown team {team!r}; teams: {', '.join(known)}")
        kind, name = "team", team
    else:
        kind, name, owners = "total", "total", tuple(inputs.owners)
    hz = inputs.horizon
    as_of_month = hz.as_of.strftime("%Y-%m")
    if period is None:
        months = tuple(hz.months)
        label = months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}"
    else:
        label = period.strip().upper()
        months = tuple(months_of(label))
        later = [m for m in months if m not in hz.months and m > as_of_month]
        if later:
            raise ValueError(f"period {label} ends after the forecast horizon "
                             f"({hz.months[-1]}); raise --horizon")
        if not any(m in hz.months for m in months):
            raise ValueError(f"period {label} is over by as_of {hz.as_of.date()}")
    done = 0.0
    if booked is not None and len(booked):
        past = booked[booked["owner"].isin(owners) & booked["month"].isin(months)]
        done = float(past["revenue"].sum())
    return Target(name=name, kind=kind, owners=owners, period=label, months=months,
                  amount=float(amount), booked_to_date=done)


def target_revenue(result: SimulationResult, target: Target) -> np.ndarray:
    """``(n_draws,)`` revenue of ``target``'s owners in its period: booked + simulated."""
    cols = [i for i, m in enumerate(result.months) if m in target.months]
    idx = [result.owners.index(o) for o in target.owners]
    sim = result.revenue[:, cols][:, :, idx].sum(axis=(1, 2)) if cols else 0.0
    return target.booked_to_date + sim


# --------------------------------------------------------------------------- allocation


def owner_weights(inputs: SimulationInputs, target: Target) -> np.ndarray:
    """Share of the added deals each of ``target.owners`` gets: their posterior-mean
    deal-creation rate over the horizon (equal shares when none creates deals)."""
    idx = [inputs.owners.index(o) for o in target.owners]
    rate = (np.exp(inputs.arr_b0[:, None] + inputs.arr_owner_eff[:, idx]).mean(axis=0)
            * inputs.arrival_multiplier[idx].mean(axis=1))
    if len(idx) == 1 or not rate.sum() > 0:
        rate = np.ones(len(idx))
    return rate / rate.sum()


def apportion(weights: np.ndarray, n: int) -> np.ndarray:
    """Owner (index into ``weights``) of each of ``n`` deals, by the Sainte-Laguë rule.

    Deal ``j`` goes to the owner with the largest ``w / (2·c + 1)`` (``c``: deals it has),
    so the first ``k`` deals are split as evenly as proportions allow for every ``k``, and
    adding a deal never takes one from another owner.
    """
    counts = np.zeros(len(weights))
    out = np.empty(n, dtype=np.int64)
    for j in range(n):
        o = int(np.argmax(weights / (2 * counts + 1)))
        out[j] = o
        counts[o] += 1
    return out


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
    :func:`apportion`). On path ``i``: ``offset[i, j]`` is the day (1-based) of its win
    counted from its qualification day, 0 when not won within the horizon;
    ``amount[i, j]`` its booked amount if won. Block ``b`` (deals ``64·b … 64·b + 63``)
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


# --------------------------------------------------------------------------- search


def smallest_k(reaches: Callable[[int], bool], max_k: int) -> int | None:
    """Smallest ``k`` in ``0..max_k`` with ``reaches(k)``, for a monotone ``reaches``
    (exponential then bisection search); ``None`` when even ``max_k`` does not."""
    if reaches(0):
        return 0
    lo, hi = 0, 1
    while not reaches(hi):
        if hi >= max_k:
            return None
        lo, hi = hi, min(2 * hi, max_k)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _period_days(inputs: SimulationInputs, target: Target) -> np.ndarray:
    day_month = inputs.horizon.day_month()
    cols = [i for i, m in enumerate(inputs.horizon.months) if m in target.months]
    return np.isin(day_month, cols) & (day_month >= 0)


# --------------------------------------------------------------------------- classic


def classic_counts(target: float, avg_deal_size: float, win_rate: float, n_reps: int,
                   win_rate_qualified: float = float("nan")) -> dict:
    """The textbook pipeline arithmetic (the issue's formulas), counts rounded up.

    * ``deals_needed`` (won deals) = ``target ÷ average deal size``;
    * ``leads_needed`` = ``deals_needed ÷ win rate`` (won ÷ closed, of all deals from their
      creation, i.e. from the first stage);
    * ``deals_per_rep``, ``leads_per_rep`` = the counts ÷ number of reps;
    * ``qualified_deals_needed`` = ``deals_needed ÷ win rate from the qualified stage``
      (an extra, comparable with the simulated count of qualified deals).

    NaN or non-positive inputs give ``None``.
    """
    def up(x: float) -> int | None:
        return int(np.ceil(x - 1e-9)) if np.isfinite(x) else None

    def div(a: float | None, b: float) -> float:
        return a / b if a is not None and np.isfinite(b) and b > 0 else float("nan")

    deals = up(div(target, avg_deal_size))
    leads = up(div(deals, win_rate))
    reps = max(int(n_reps), 1)
    return {"deals_needed": deals, "leads_needed": leads,
            "deals_per_rep": up(div(deals, reps)), "leads_per_rep": up(div(leads, reps)),
            "qualified_deals_needed": up(div(deals, win_rate_qualified))}


def classic_formulas(snapshot, target: Target, stage: int, n_reps: int) -> dict:
    """The issue's classic formulas for ``target``, from :mod:`forecast.data.metrics` on
    ``snapshot`` (all history to ``as_of``), for the target's rep, team or company.

    Inputs: ``avg_deal_size`` = mean won amount (:func:`~forecast.data.metrics.deal_sizes`),
    ``win_rate`` = won ÷ closed deals (:func:`~forecast.data.metrics.win_rates`),
    ``cycle_days`` = mean creation-to-win days of won deals
    (:func:`~forecast.data.metrics.cycle_length`), ``n_reps``, ``pipeline_amount`` = open
    amount of the target's reps, ``remaining_target`` = target − booked so far.

    Formulas: :func:`classic_counts` (deals, leads, per rep);
    ``pipeline_velocity_per_day`` = ``deals_needed × win_rate × avg_deal_size ÷
    cycle_days`` (``…_per_month`` × 30.44); ``coverage_ratio`` = ``pipeline_amount ÷
    remaining_target``. Extras: ``win_rate_from_stage`` and ``qualified_deals_needed``
    (:func:`~forecast.data.metrics.funnel`), ``velocity_now_per_month`` (today's open
    pipeline, :func:`~forecast.data.metrics.pipeline_velocity`), ``coverage_needed`` = ``1 ÷
    win_rate``, ``qualify_by`` = period end − ``cycle_days``.
    """
    from forecast.data import metrics

    by, group = {"rep": ("owner", target.name), "team": ("team", target.name)}.get(
        target.kind, (None, metrics.ALL))

    def pick(frame: pd.DataFrame, col: str) -> float:
        row = frame[frame["group"] == group]
        return float(row[col].iloc[0]) if len(row) else float("nan")

    sizes = metrics.deal_sizes(snapshot, by)
    fun = metrics.funnel(snapshot, by)
    fun = fun[fun["stage_idx"] == stage]
    win_rate = pick(metrics.win_rates(snapshot, by), "win_rate")
    win_q = pick(fun, "win_rate_from_stage")
    avg = pick(sizes, "won_amount_mean")
    cycle = pick(metrics.cycle_length(snapshot, by).summary, "mean_won_cycle_days")
    velocity_now = pick(metrics.pipeline_velocity(snapshot, by), "velocity_per_month")
    open_deals = snapshot.open_deals
    pipeline = float(open_deals.loc[open_deals["owner"].isin(target.owners), "amount"].sum())
    remaining = target.remaining
    out = {"target": target.amount, "booked_to_date": target.booked_to_date,
           "remaining_target": remaining, "avg_deal_size": avg,
           "median_deal_size": pick(sizes, "won_amount_median"), "win_rate": win_rate,
           "win_rate_from_stage": win_q, "cycle_days": cycle, "n_reps": int(n_reps)}
    out.update(classic_counts(target.amount, avg, win_rate, n_reps, win_q))
    deals = out["deals_needed"]
    per_day = (deals * win_rate * avg / cycle
               if deals is not None and np.isfinite(win_rate * avg) and cycle > 0 else None)
    out["pipeline_velocity_per_day"] = per_day
    out["pipeline_velocity_per_month"] = (per_day * metrics.DAYS_PER_MONTH
                                          if per_day is not None else None)
    out["velocity_now_per_month"] = velocity_now
    out["pipeline_amount"] = pipeline
    out["coverage_ratio"] = pipeline / remaining if remaining > 0 else None
    out["coverage_needed"] = 1.0 / win_rate if win_rate > 0 else None
    end = pd.Period(target.months[-1], "M").end_time.normalize()
    out["qualify_by"] = (str((end - pd.Timedelta(days=float(np.ceil(cycle)))).date())
                         if np.isfinite(cycle) else None)
    return out


# --------------------------------------------------------------------------- result


@dataclass
class Recommendation:
    """What it takes to reach a target with a given confidence (see the module docstring).

    Attributes
    ----------
    target, confidence
        The question.
    stage, lead_stage
        Names of the qualified stage (where added deals enter) and the first stage.
    deals_needed, leads_needed
        Qualified deals (and leads) to add beyond the forecast; ``None``: not reachable
        with ``max_deals``.
    coverage_ratio
        Pipeline ÷ remaining target once the deals are added (their amount: the model's
        mean won size); ``coverage_now`` without them.
    p_attain_now, p_attain_with_deals
        P(revenue ≥ target) before and after adding the deals.
    qualify_from, by_when
        Dates between which the deals may be qualified.
    owners
        Per rep: ``owner``, ``team``, ``share``, ``deals_needed``, ``leads_needed``,
        ``pipeline_amount``, ``coverage_ratio``, ``p_qualify``.
    schedule
        ``qualified_on``, ``deals_needed`` (weekly; ``None``: more than ``searched_to``).
    curve
        ``added_deals``, ``p_attain``, ``p_attain_from_scratch``.
    classic
        :func:`classic_formulas` (``None`` without a snapshot).
    """

    target: Target
    confidence: float
    as_of: str
    stage: str
    lead_stage: str
    n_draws: int
    max_deals: int
    forecast: dict
    p_attain_now: float
    deals_needed: int | None
    deals_needed_on_average: int | None
    leads_needed: int | None
    p_attain_with_deals: float | None
    coverage_ratio: float | None
    coverage_now: float | None
    pipeline_amount: float
    qualify_from: str | None
    by_when: str | None
    lead_time_days: float
    p_qualify: float
    p_win_in_period: float
    p_win_eventually: float
    mean_deal_size: float
    from_scratch: dict
    owners: pd.DataFrame
    schedule: pd.DataFrame
    curve: pd.DataFrame
    classic: dict | None = None
    explanation: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The content of ``recommendation.json`` (NaN → ``null``)."""
        t = self.target
        out = {
            "as_of": self.as_of, "target": t.amount, "confidence": self.confidence,
            "owner": t.name, "kind": t.kind, "period": t.period, "months": list(t.months),
            "stage": self.stage, "lead_stage": self.lead_stage,
            "booked_to_date": t.booked_to_date, "forecast": self.forecast,
            "p_attain_now": self.p_attain_now, "deals_needed": self.deals_needed,
            "leads_needed": self.leads_needed, "coverage_ratio": self.coverage_ratio,
            "coverage_now": self.coverage_now, "pipeline_amount": self.pipeline_amount,
            "p_attain_with_deals": self.p_attain_with_deals,
            "deals_needed_on_average": self.deals_needed_on_average,
            "qualify_from": self.qualify_from, "by_when": self.by_when,
            "lead_time_days": self.lead_time_days, "p_qualify": self.p_qualify,
            "p_win_in_period": self.p_win_in_period, "p_win_eventually": self.p_win_eventually,
            "mean_deal_size": self.mean_deal_size,
            "owners": self.owners.to_dict(orient="records"),
            "from_scratch": self.from_scratch,
            "schedule": self.schedule.to_dict(orient="records"),
            "classic": self.classic, "explanation": self.explanation,
            "draws": self.n_draws, "max_deals": self.max_deals,
        }
        return _clean(out)


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- recommend


def _lead_time_days(cdf: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(median days to win given a win within LONG_DAYS, P(win within LONG_DAYS)) of the
    mixture ``Σ weights · cdf`` (``cdf (..., days)``, ``weights`` matching ``...``)."""
    f = np.tensordot(weights.ravel(), cdf.reshape(-1, cdf.shape[-1]), axes=1)
    total = float(f[-1])
    if total <= 0:
        return float("nan"), 0.0
    half = total / 2
    t = int(np.searchsorted(f, half))
    lo = f[t - 1] if t > 0 else 0.0
    frac = (half - lo) / max(f[t] - lo, 1e-300)
    return float(t + frac), total


def recommend(inputs: SimulationInputs, base: SimulationResult, target: Target,
              confidence: float, seed: int | np.random.SeedSequence = 0,
              stage: int | None = None, max_deals: int = DEFAULT_MAX_DEALS,
              snapshot=None) -> Recommendation:
    """Qualified deals (and leads) to add so that P(revenue ≥ target) ≥ ``confidence``.

    Parameters
    ----------
    inputs
        The forecast's simulation inputs.
    base
        The forecast's simulation over a horizon covering the target's period: path ``i``
        must use posterior draw ``i mod P`` (as :func:`~simulations.engine.simulate.simulate` does).
    target
        :func:`resolve_target`.
    confidence
        Wanted probability of reaching the target, in (0, 1).
    seed
        Seed (or ``SeedSequence``) of the added deals' random stream; keep it distinct
        from the baseline's.
    stage
        Index of the qualified stage (default: the second stage, or the only one).
    max_deals
        Search cap.
    snapshot
        The forecast's :class:`~forecast.data.snapshot.Snapshot`: adds the classic formulas,
        the open pipeline amount and the explanation.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"the confidence must be strictly between 0 and 1, got {confidence}")
    n_s = len(inputs.stages)
    stage = min(1, n_s - 1) if stage is None else int(stage)
    if not 0 <= stage < n_s:
        raise ValueError(f"stage index {stage} outside 0..{n_s - 1}")
    if tuple(base.owners) != tuple(inputs.owners):
        raise ValueError("the base simulation and the inputs have different owners")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    n = base.n_draws
    rev0 = target_revenue(base, target)
    floor0 = np.full(n, target.booked_to_date)
    pool = AddedDeals(inputs, target, stage, n, ss)
    search = _Search(pool, target.amount * (1 - RTOL), confidence, max_deals)
    schedule, k_star, first, last = search.schedule(rev0)
    start = first or 1
    as_of = inputs.horizon.as_of
    owners, totals = _owner_table(inputs, pool, target, k_star, snapshot)
    remaining, pipeline = target.remaining, float(owners["pipeline_amount"].sum())
    scratch_k = search.smallest(floor0, start)
    reach = totals["p_qualify"]
    # the curve spans both answers: with today's pipeline and from zero
    top = min(max(2 * (k_star or 0), int(1.25 * (scratch_k or 0)), 10), max_deals)
    ks = np.unique(np.linspace(0, top, 41).round().astype(int))
    curve = pd.DataFrame({"added_deals": ks,
                          "p_attain": [search.p(rev0, k, start) for k in ks],
                          "p_attain_from_scratch": [search.p(floor0, k, start) for k in ks]})
    rec = Recommendation(
        target=target, confidence=float(confidence), as_of=str(as_of.date()),
        stage=inputs.stages[stage], lead_stage=inputs.stages[0], n_draws=n,
        max_deals=max_deals, forecast=describe(rev0), p_attain_now=search.p(rev0, 0, 1),
        deals_needed=k_star, deals_needed_on_average=search.smallest(rev0, start, True),
        leads_needed=totals["leads_needed"],
        p_attain_with_deals=search.p(rev0, k_star, start) if k_star is not None else None,
        coverage_ratio=((pipeline + totals["added_amount"]) / remaining
                        if remaining > 0 and k_star is not None else None),
        coverage_now=pipeline / remaining if remaining > 0 else None,
        pipeline_amount=pipeline,
        qualify_from=str((as_of + pd.Timedelta(days=first)).date()) if first else None,
        by_when=str((as_of + pd.Timedelta(days=last)).date()) if last else None,
        lead_time_days=totals["lead_time_days"], p_qualify=reach,
        p_win_in_period=float(pool.won_in_period(max(len(pool), 1), start).mean()),
        p_win_eventually=totals["p_win_eventually"], mean_deal_size=totals["mean_deal_size"],
        from_scratch={"deals_needed": scratch_k,
                      "deals_needed_on_average": search.smallest(floor0, start, True),
                      "leads_needed": (int(np.ceil(scratch_k / reach - 1e-9))
                                       if scratch_k is not None and reach > 0 else None)},
        owners=owners, schedule=schedule, curve=curve)
    if snapshot is not None:
        n_reps = int((pool.weights > 0).sum()) if target.kind != "rep" else 1
        rec.classic = classic_formulas(snapshot, target, stage, n_reps)
        # per rep (reps creating deals; the others get none, as with the added deals)
        active = pool.weights > 0
        for col, key in (("classic_deals_needed", "deals_per_rep"),
                         ("classic_leads_needed", "leads_per_rep")):
            v = rec.classic[key]
            rec.owners[col] = pd.Series([v if a else 0 for a in active] if v is not None
                                        else [None] * len(active), dtype=object)
        rec.explanation = explain(rec, _size_skew(snapshot, target))
    return rec


class _Search:
    """Smallest number of added deals reaching the goal, for a baseline and a start day."""

    def __init__(self, pool: AddedDeals, goal: float, confidence: float, max_deals: int):
        self.pool, self.goal, self.confidence, self.max_deals = pool, goal, confidence, max_deals

    def p(self, floor: np.ndarray, k: int, start: int, cache: bool = True) -> float:
        """P(floor + revenue of ``k`` deals qualified on day ``start`` ≥ goal)."""
        return float(np.mean(floor + self.pool.revenue(k, start, cache) >= self.goal))

    def smallest(self, floor: np.ndarray, start: int, on_average: bool = False,
                 cap: int | None = None) -> int | None:
        """At the confidence (or on average: mean revenue ≥ goal)."""
        if on_average:
            return smallest_k(lambda k: float(np.mean(floor + self.pool.revenue(k, start)))
                              >= self.goal, cap or self.max_deals)
        return smallest_k(lambda k: self.p(floor, k, start) >= self.confidence,
                          cap or self.max_deals)

    def schedule(self, floor: np.ndarray) -> tuple[pd.DataFrame, int | None, int, int]:
        """Deals needed if qualified on day 1, 8, 15, … of the period; the fewest, and the
        first and last day (0: none) on which that many deals suffice."""
        as_of = self.pool.inputs.horizon.as_of
        last_day = int(np.flatnonzero(self.pool.in_period).max())
        rows, best, cap = [], None, self.max_deals
        for d in range(1, last_day + 1, 7):
            k = self.smallest(floor, d, cap=cap)
            rows.append({"qualified_on": str((as_of + pd.Timedelta(days=d)).date()),
                         "deals_needed": k, "searched_to": cap, "day": d})
            if k is not None:
                best = k if best is None else min(best, k)
                cap = min(self.max_deals, max(8 * best, 64))
        frame = pd.DataFrame(rows, columns=["qualified_on", "deals_needed", "searched_to"])
        frame["deals_needed"] = pd.Series([r["deals_needed"] for r in rows], dtype=object)
        if not best:
            return frame, best, 0, 0
        first = next(r["day"] for r in rows if r["deals_needed"] == best)
        last = first
        while last < last_day and self.p(floor, best, last + 1, cache=False) >= self.confidence:
            last += 1
        return frame, best, first, last


def _owner_table(inputs: SimulationInputs, pool: AddedDeals, target: Target,
                 k: int | None, snapshot) -> tuple[pd.DataFrame, dict]:
    """Per rep: share, deals, leads, pipeline, coverage, P(qualify); and the totals."""
    w, tab = pool.weights, pool.tables
    mix_all = inputs.segment_mix[:, pool.owner_codes]                 # (P, O, G)
    size_g = np.exp(inputs.size_mu + 0.5 * inputs.size_sigma ** 2)   # (P, G)
    size_o = (mix_all * size_g[:, None, :]).sum(axis=2).mean(axis=0) * inputs.size_multiplier
    reach_o = (mix_all[tab.reach_draws] * tab.reach).sum(axis=2).mean(axis=0)
    lead_days, p_ever = _lead_time_days(
        tab.long_cdf, mix_all[tab.long_draws] * w[None, :, None] / len(tab.long_draws))
    per_owner = np.bincount(apportion(w, k or 0), minlength=len(w))
    if snapshot is not None:
        od = snapshot.open_deals
        pipe_o = (od.groupby("owner")["amount"].sum().reindex(list(target.owners))
                  .fillna(0.0).to_numpy(dtype=float))
    else:
        d = inputs.deals
        pipe_o = np.array([d.amount[d.owner == c].sum() for c in pool.owner_codes])
    with np.errstate(divide="ignore", invalid="ignore"):
        leads_o = np.where(per_owner > 0, per_owner / reach_o, 0.0)
        cover_o = (pipe_o + per_owner * size_o) / (target.remaining * w)
    found = k is not None
    owners = pd.DataFrame({
        "owner": list(target.owners),
        "team": [inputs.teams.get(o, "") for o in target.owners],
        "share": w, "deals_needed": per_owner if found else None,
        "leads_needed": np.ceil(leads_o - 1e-9).astype(int) if found else None,
        "pipeline_amount": pipe_o,
        "coverage_ratio": cover_o if target.remaining > 0 and found else np.nan,
        "p_qualify": reach_o})
    totals = {"leads_needed": int(np.ceil(leads_o.sum() - 1e-9)) if found else None,
              "added_amount": float((per_owner * size_o).sum()),
              "p_qualify": float((w * reach_o).sum()), "lead_time_days": lead_days,
              "p_win_eventually": p_ever, "mean_deal_size": float((w * size_o).sum())}
    return owners, totals


def _size_skew(snapshot, target: Target) -> dict:
    d = snapshot.deals
    won = d.loc[(d["status"] == "won") & d["owner"].isin(target.owners), "amount"]
    won = np.sort(won.to_numpy(dtype=float))[::-1]
    if not len(won) or won.sum() <= 0:
        return {}
    top = max(1, int(np.ceil(0.1 * len(won))))
    return {"mean": float(won.mean()), "median": float(np.median(won)),
            "top10_share": float(won[:top].sum() / won.sum()),
            "skew": float(stats.skew(won)) if len(won) > 2 else float("nan")}


def explain(rec: Recommendation, skew: dict) -> list[str]:
    """Plain-language reasons why the simulated counts differ from the classic ones."""
    c = rec.classic or {}
    t = rec.target
    out = []
    k = rec.deals_needed
    if k is None:
        out.append(f"The target is out of reach at {rec.confidence:.0%} confidence with up "
                   f"to {rec.max_deals:,} added {rec.stage} deals in {t.period}.")
    else:
        out.append(
            f"Simulated: {k:,} more {rec.stage} deals ({rec.leads_needed:,} leads) give "
            f"P(revenue ≥ {t.amount:,.0f}) = {rec.p_attain_with_deals:.0%} "
            f"(now {rec.p_attain_now:.0%}).")
    if c:
        out.append(
            f"Classic formulas: {_n(c.get('deals_needed'), 'n/a')} won deals (target ÷ "
            f"average deal size {_money(c.get('avg_deal_size'))}), "
            f"{_n(c.get('leads_needed'), 'n/a')} leads (÷ win rate "
            f"{_pct(c.get('win_rate'))}), i.e. {_n(c.get('qualified_deals_needed'), 'n/a')} "
            f"{rec.stage} deals at its win rate {_pct(c.get('win_rate_from_stage'))}.")
    out.append(
        f"Existing pipeline and expected new deals: the forecast already brings P50 "
        f"{rec.forecast['p50']:,.0f} in {t.period} (booked so far {t.booked_to_date:,.0f}), "
        f"so the simulation only asks for what is missing; the classic formula counts from "
        f"zero. Counting from zero, the simulation asks for "
        f"{_n(rec.from_scratch['deals_needed'])} deals.")
    out.append(
        f"Cycle timing: only {rec.p_win_in_period:.0%} of deals qualified on "
        f"{rec.qualify_from or rec.as_of} are won inside {t.period} "
        f"(eventually {rec.p_win_eventually:.0%}; median {rec.lead_time_days:.0f} days from "
        f"{rec.stage} to a win), while the classic formula counts every eventual win.")
    avg_k = rec.from_scratch.get("deals_needed_on_average")
    out.append(
        f"Variance: reaching the target on average (from zero) takes {_n(avg_k)} deals; "
        f"being {rec.confidence:.0%} sure takes {_n(rec.from_scratch['deals_needed'])}. "
        "Win or lose is all or nothing per deal, so a small number of deals gives a wide "
        "spread of outcomes.")
    if skew:
        out.append(
            f"Large deals: won deals average {skew['mean']:,.0f} but the median is "
            f"{skew['median']:,.0f}; the top 10% of wins bring {skew['top10_share']:.0%} of "
            "won revenue. Dividing by the average assumes every deal is average-sized; the "
            "simulation draws sizes from the learned distribution, where most deals are "
            "smaller than the mean.")
    return out


def _n(k: int | None, none: str = "more than the search cap") -> str:
    return none if k is None else f"{k:,}"


def _pct(x: float | None) -> str:
    return f"{x:.0%}" if x is not None and np.isfinite(x) else "n/a"


def _money(x: float | None) -> str:
    return f"{x:,.0f}" if x is not None and np.isfinite(x) else "n/a"


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
