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
   one qualified the day after ``as_of`` (the added deals' hazards leave out the quarter
   calendar: with ``calendar: true`` they are the average day's, see
   :func:`simulations.engine.inputs.build_inputs`), so the
   same pool answers "how many if qualified on day ``d``" (:attr:`Recommendation.schedule`,
   weekly). ``deals_needed`` is the fewest over that schedule; ``qualify_from`` the first
   day it works; ``by_when`` the last day (searched day by day) on which that many deals,
   all qualified then, still reach the confidence.
5. **Leads** = qualified deals ÷ the model's probability that a new first-stage deal
   reaches the qualified stage (or is won before it) within two years.

Where the parts live: the target and the split of added deals over its reps in
:mod:`simulations.planning.targets`; steps 2–3 (the pool of added deals) in
:mod:`simulations.planning.added_deals`, whose
:func:`~simulations.planning.added_deals.with_added_deals` writes a plan into the engine's
deal book, so the engine itself can check it (``tests/test_recommend.py`` does); the
classic formulas in :mod:`simulations.planning.classic`. This module holds the search
(steps 3–5), :class:`Recommendation` and its plain-language :func:`explain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from simulations.engine.inputs import SimulationInputs
from simulations.engine.simulate import SimulationResult
from simulations.engine.summary import describe
from simulations.planning.added_deals import AddedDeals
from simulations.planning.classic import classic_formulas
from simulations.planning.targets import Target, apportion, target_revenue

#: default cap of the search (more deals than this → "not reachable")
DEFAULT_MAX_DEALS = 5000
#: revenue within this relative distance below the target counts as reaching it
RTOL = 1e-9


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
        :func:`~simulations.planning.classic.classic_formulas` (``None`` without a snapshot).
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
    """(median days to win given a win within the CDF's days, P(win within them)) of the
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
        :func:`~simulations.planning.targets.resolve_target`.
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
