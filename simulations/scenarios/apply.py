"""What-if scenarios as pure transformations of :class:`~simulations.engine.inputs.SimulationInputs`.

:func:`apply` turns a :class:`~simulations.scenarios.spec.Scenario` and the baseline inputs
into new inputs (``dataclasses.replace`` on copies; the baseline's arrays are never
written), change after change in file order.
:func:`simulations.scenarios.results.simulate_applied` simulates them with the baseline's
seed (common random numbers, see ``docs/scenarios.md``).

How each change acts on the model (``a`` is the ``(P, 3, S)`` stage intercept of the
weekly advance/won/lost logits, ``COV_SIGN = (0, +½, −½)``):

* ``win_odds`` — adds ``log(m)·COV_SIGN`` to ``a`` (or to the scope's ``owner_eff`` /
  ``segment_eff`` column, or to ``a`` of the scope's stages): the weekly odds of winning
  rather than losing are × m, exactly as a covariate with odds ratio m in ``drivers.csv``.
* ``win_rate`` — the same shift, with ``m`` solved per posterior draw so that a new deal's
  eventual win probability (average rep and segment, or the scoped segment / rep) rises
  by ``add``.
* ``cycle`` — ``speed`` adds ``log(speed)`` to all three logits: every weekly event is
  ``speed`` times likelier against staying; ``extra_weeks`` solves the speed per posterior
  draw so that a new deal's mean time from creation to win grows by that many weeks.
* ``volume`` — ``arrival_multiplier`` rows × factor from a month on.
* ``deal_size`` — ``size_multiplier`` × factor; with a segment scope or ``applies_to``,
  open deals' ``amount`` and/or new deals' ``size_mu`` instead.
* ``hire`` — new owners appended: zero owner effects (the pooled mean rep) or those of
  ``like``, the company's new-deal segment mix, ``arrival_multiplier`` rows = the ramp.
* ``remove`` — ``arrival_multiplier`` rows 0 from a month; open deals stay with the rep
  (or move to ``reassign_to`` for the whole horizon).
* ``win_deals`` / ``lose_deals`` / ``slip_deals`` — the deal book's ``override``,
  ``forced_day`` and ``delay_days``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecast.data.cells import MAX_WEEK, duration_bucket
from forecast.posterior import COV_SIGN
from simulations.engine.inputs import FORCE_LOST, FORCE_WON, SimulationInputs
from simulations.engine.kernels import as_f64, as_i64
from simulations.scenarios.chain import chain_recursion
from simulations.scenarios.spec import Change, Scenario

SPEED = np.ones(3)


@dataclass(frozen=True)
class Applied:
    """A scenario applied to the baseline inputs.

    Attributes
    ----------
    scenario
        The scenario.
    inputs
        The transformed inputs; hired reps are the owners after ``n_base_owners``.
    n_base_owners
        Owners of the baseline.
    notes
        What the changes did, in words (solved multipliers, picked deals, no-effect cases).
    """

    scenario: Scenario
    inputs: SimulationInputs
    n_base_owners: int
    notes: tuple[str, ...] = ()


def apply(scenario: Scenario, inputs: SimulationInputs) -> Applied:
    """Apply ``scenario``'s changes in order to ``inputs`` (never modified).

    Names are assumed checked (:meth:`ScenarioSet.check
    <simulations.scenarios.spec.ScenarioSet.check>`).
    """
    notes: list[str] = []
    out = inputs
    for change in scenario.changes:
        def note(text: str, change: Change = change) -> None:
            notes.append(f"change {change.index} ({change.kind}): {text}")

        out = TRANSFORMS[change.kind](change, out, note)
    return Applied(scenario, out, len(inputs.owners), tuple(notes))


# ---- scopes and logit shifts --------------------------------------------------------


def scope_units(change: Change, inputs: SimulationInputs) -> tuple[str | None, np.ndarray]:
    """``(array kind, codes)``: ``None`` (everyone) or ``stage``/``segment``/``owner``
    codes; a team scope becomes its owners."""
    if change.scope is None:
        return None, np.zeros(0, dtype=np.int64)
    if change.scope == "team":
        team = set(change.scope_values)
        return "owner", np.array([i for i, o in enumerate(inputs.owners)
                                  if inputs.teams.get(o) in team], dtype=np.int64)
    pool = {"stage": inputs.stages, "segment": inputs.segments, "owner": inputs.owners}
    names = list(pool[change.scope])
    return change.scope, np.array([names.index(v) for v in change.scope_values], dtype=np.int64)


def shift_logits(inputs: SimulationInputs, kind: str | None, codes: np.ndarray,
                 delta: np.ndarray) -> SimulationInputs:
    """Add ``delta`` — ``(P, 3)``, or ``(P, 3, len(codes))`` per code — to the logits of
    everyone (``a``), of stages (``a[:, :, codes]``), segments or owners (their effects)."""
    delta = np.asarray(delta, dtype=float)
    if kind is None:
        return replace(inputs, a=inputs.a + delta[:, :, None])
    if delta.ndim == 2:
        delta = np.repeat(delta[:, :, None], len(codes), axis=2)
    name = {"stage": "a", "segment": "segment_eff", "owner": "owner_eff"}[kind]
    arr = getattr(inputs, name).copy()
    arr[:, :, codes] += delta
    return replace(inputs, **{name: arr})


def unit_offsets(inputs: SimulationInputs, kind: str | None, codes: np.ndarray
                 ) -> tuple[list[str], np.ndarray]:
    """Per unit of a (non-stage) scope: labels and logit offsets ``(U, P, 3)``."""
    if kind is None:
        return ["new deals"], np.zeros((1, inputs.n_posterior, 3))
    eff = inputs.owner_eff if kind == "owner" else inputs.segment_eff
    names = inputs.owners if kind == "owner" else inputs.segments
    return [names[c] for c in codes], np.moveaxis(eff[:, :, codes], 2, 0)


# ---- the weekly chain of a new deal: eventual win probability and cycle length -------


def chain_values(inputs: SimulationInputs, offset: np.ndarray) -> tuple[np.ndarray, ...]:
    """For a deal entering each stage with logit ``offset (..., P, 3)``, over unlimited time.

    Returns
    -------
    p_win
        ``(..., P, S)`` probability it is eventually won.
    t_won
        ``(..., P, S)`` ``E[days until won · 1{won}]``, counted as the engine does (a win on
        the entry day is day 1; divide by ``p_win`` for the mean time to a win).

    Notes
    -----
    A spell that ends after ``w`` whole weeks ends on day ``7w + u`` of the stage, ``u``
    uniform on 0..6, and the next stage starts that day. So the win day is
    ``Σ (7 w_i + u_i) + 1`` over the deal's spells, whose expectation on won paths is
    ``7·m − 4·n + p_win`` with ``m = E[(Σ w_i + #spells)·1{won}]`` and
    ``n = E[#spells · 1{won}]``, both solved by backward recursion.
    """
    offset = np.asarray(offset, dtype=np.float64)
    if offset.shape[-2:] != (inputs.n_posterior, 3):
        raise ValueError(f"offset must be (..., {inputs.n_posterior}, 3), not {offset.shape}")
    lead, n_s = offset.shape[:-1], inputs.a.shape[-1]
    p_win, t_won = chain_recursion(
        as_f64(inputs.a), as_f64(inputs.dur), as_i64(duration_bucket(np.arange(MAX_WEEK + 1))),
        as_f64(offset.reshape(-1, 3)))
    return p_win.reshape(*lead, n_s), t_won.reshape(*lead, n_s)


def new_deal_stats(inputs: SimulationInputs, offset: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(win probability, mean weeks from creation to win)`` of a new deal, ``(..., P)``
    each, entering at the fitted entry-stage mix, with logit ``offset (..., P, 3)``."""
    p_win, t_won = chain_values(inputs, offset)
    p = (inputs.entry_stage * p_win).sum(axis=-1)
    return p, (inputs.entry_stage * t_won).sum(axis=-1) / np.maximum(p, 1e-300) / 7.0


def bisect(f: Callable[[np.ndarray], np.ndarray], goal: np.ndarray, lo: float, hi: float,
           increasing: bool, iters: int = 48) -> np.ndarray:
    """Per element, ``x`` in ``[lo, hi]`` with ``f(x) = goal`` (``f`` monotone)."""
    a, b = np.full(goal.shape, lo), np.full(goal.shape, hi)
    for _ in range(iters):
        mid = 0.5 * (a + b)
        below = (f(mid) < goal) == increasing
        a, b = np.where(below, mid, a), np.where(below, b, mid)
    return 0.5 * (a + b)


def spread(x: np.ndarray, fmt: str = "{:.2f}") -> str:
    """``median (P10–P90 lo–hi)`` of posterior draws."""
    lo, mid, hi = np.quantile(x, [0.1, 0.5, 0.9])
    return f"{fmt.format(mid)} (P10–P90 {fmt.format(lo)}–{fmt.format(hi)})"


def per_unit(delta: np.ndarray, kind: str | None) -> np.ndarray:
    """``(U, P, 3)`` solved shifts → what :func:`shift_logits` takes."""
    return delta[0] if kind is None else np.moveaxis(delta, 0, 2)


# ---- the transformations --------------------------------------------------------------


def win_odds(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    kind, codes = scope_units(change, inputs)
    delta = np.log(change.values["multiplier"]) * np.broadcast_to(COV_SIGN,
                                                                  (inputs.n_posterior, 3))
    return shift_logits(inputs, kind, codes, delta)


def win_rate(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    kind, codes = scope_units(change, inputs)
    add = change.values["add"]
    labels, off = unit_offsets(inputs, kind, codes)
    base, _ = new_deal_stats(inputs, off)
    goal = np.clip(base + add, 1e-4, 1 - 1e-4)
    x = bisect(lambda x: new_deal_stats(inputs, off + x[..., None] * COV_SIGN)[0],
               goal, -12.0, 12.0, increasing=True)
    for u, label in enumerate(labels):
        capped = int(np.sum(goal[u] != base[u] + add))
        note(f"{label}: win rate {spread(100 * base[u], '{:.1f}%')} → {100 * add:+g} points, "
             f"odds × {spread(np.exp(x[u]))}"
             + (f"; {capped} draws capped at 0%/100%" if capped else ""))
    return shift_logits(inputs, kind, codes, per_unit(x[..., None] * COV_SIGN, kind))


def cycle(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    kind, codes = scope_units(change, inputs)
    if "speed" in change.values:
        delta = np.log(change.values["speed"]) * np.ones((inputs.n_posterior, 3))
        return shift_logits(inputs, kind, codes, delta)
    extra = change.values["extra_weeks"]
    labels, off = unit_offsets(inputs, kind, codes)
    _, base = new_deal_stats(inputs, off)
    y = bisect(lambda y: new_deal_stats(inputs, off + y[..., None] * SPEED)[1],
               base + extra, -6.0, 6.0, increasing=False)
    missed = np.abs(new_deal_stats(inputs, off + y[..., None] * SPEED)[1] - base - extra) > 0.05
    for u, label in enumerate(labels):
        note(f"{label}: weeks from creation to win {spread(base[u], '{:.1f}')} → {extra:+g}, "
             f"speed × {spread(np.exp(y[u]))}"
             + (f"; not reachable in {int(missed[u].sum())} draws" if missed[u].any() else ""))
    return shift_logits(inputs, kind, codes, per_unit(y[..., None] * SPEED, kind))


def month_index(months: tuple[str, ...], month: str | None) -> int:
    """Index of the first horizon month on or after ``month`` (``len(months)``: none)."""
    return 0 if month is None else int(sum(m < month for m in months))


def volume(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    kind, codes = scope_units(change, inputs)
    rows = np.arange(len(inputs.owners)) if kind is None else codes
    start = month_index(inputs.horizon.months, change.values.get("from"))
    if start >= inputs.horizon.n_months:
        note(f"from {change.values['from']} is after the horizon: no effect")
    mult = inputs.arrival_multiplier.copy()
    mult[rows, start:] *= change.values["multiplier"]
    return replace(inputs, arrival_multiplier=mult)


def deal_size(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    f, which = change.values["multiplier"], change.values.get("applies_to", "all")
    if change.scope is None and which == "all":
        return replace(inputs, size_multiplier=inputs.size_multiplier * f)
    _, segs = scope_units(change, inputs)
    if change.scope is None:
        segs = np.arange(len(inputs.segments))
    out = inputs
    if which in ("all", "open"):
        d = out.deals
        amount = np.where(np.isin(d.segment, segs), d.amount * f, d.amount)
        out = replace(out, deals=replace(d, amount=amount))
    if which in ("all", "new"):
        mu = out.size_mu.copy()
        mu[:, segs] += np.log(f)
        out = replace(out, size_mu=mu)
    return out


def ramp_row(months: tuple[str, ...], start: str, ramp: tuple[float, ...]) -> np.ndarray:
    """Arrival multipliers of a rep starting in ``start``: 0 before, then ``ramp`` month
    by month, its last value after."""
    def ordinal(m: str) -> int:
        return int(m[:4]) * 12 + int(m[5:7]) - 1

    k = np.array([ordinal(m) - ordinal(start) for m in months])
    return np.where(k < 0, 0.0, np.asarray(ramp)[np.clip(k, 0, len(ramp) - 1)])


def hire(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    v = change.values
    reps, n, p = v["reps"], len(v["reps"]), inputs.n_posterior
    if "like" in v:
        src = inputs.owners.index(v["like"])
        team = v.get("team", inputs.teams.get(v["like"]))
        flow = np.repeat(inputs.owner_eff[:, :, src:src + 1], n, axis=2)
        arr = np.repeat(inputs.arr_owner_eff[:, src:src + 1], n, axis=1)
        mix = np.repeat(inputs.segment_mix[:, src:src + 1], n, axis=1)
    else:
        team = v.get("team") or next(iter(set(inputs.teams.values())), "all")
        flow, arr = np.zeros((p, 3, n)), np.zeros((p, n))
        # the company's mix of new deals: owners weighted by their arrival rates
        w = np.exp(inputs.arr_owner_eff) * (inputs.arrival_multiplier.sum(axis=1) > 0)
        w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
        mix = np.repeat(np.einsum("po,pog->pg", w, inputs.segment_mix)[:, None], n, axis=1)
    row = ramp_row(inputs.horizon.months, v["start"], v.get("ramp", (1.0,)))
    if not row.any():
        note(f"{', '.join(reps)} start {v['start']}, after the horizon: no effect")
    return replace(
        inputs, owners=inputs.owners + tuple(reps),
        teams={**inputs.teams, **{r: team for r in reps}},
        owner_eff=np.concatenate([inputs.owner_eff, flow], axis=2),
        arr_owner_eff=np.concatenate([inputs.arr_owner_eff, arr], axis=1),
        segment_mix=np.concatenate([inputs.segment_mix, mix], axis=1),
        arrival_multiplier=np.concatenate([inputs.arrival_multiplier,
                                           np.tile(row, (n, 1))], axis=0))


def remove(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    v = change.values
    codes = np.array([inputs.owners.index(r) for r in v["reps"]], dtype=np.int64)
    start = month_index(inputs.horizon.months, v.get("from"))
    mult = inputs.arrival_multiplier.copy()
    mult[codes, start:] = 0.0
    out = replace(inputs, arrival_multiplier=mult)
    if "reassign_to" in v:
        d = out.deals
        moved = np.isin(d.owner, codes)
        owner = np.where(moved, inputs.owners.index(v["reassign_to"]), d.owner)
        out = replace(out, deals=replace(d, owner=owner))
        note(f"{int(moved.sum())} open deals reassigned to {v['reassign_to']}")
    return out


def pick_deals(change: Change, inputs: SimulationInputs, note) -> np.ndarray:
    """Positions in the deal book of ``deals:``, or of the ``largest: n`` open deals."""
    d = inputs.deals
    ids = d.deal_id.astype(str)
    if "deals" in change.values:
        pos = {x: i for i, x in enumerate(ids)}
        return np.array([pos[x] for x in change.values["deals"]], dtype=np.int64)
    idx = np.lexsort((ids, -d.amount))[: change.values["largest"]]
    note("largest open deals: " + ", ".join(f"{ids[i]} ({d.amount[i]:,.0f})" for i in idx))
    return idx


def day_offset(inputs: SimulationInputs, date: str) -> int:
    """Days from ``as_of`` to ``date`` (day 1 is the day after ``as_of``)."""
    return int((pd.Timestamp(date) - inputs.horizon.as_of).days)


def win_deals(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    idx, d = pick_deals(change, inputs, note), inputs.deals
    on = change.values.get("on")
    day = day_offset(inputs, on) if on else int(inputs.horizon.last_day[0])
    if day > inputs.horizon.days:
        note(f"won on {on}, after the horizon: no revenue in it")
    override, forced = d.override.copy(), d.forced_day.copy()
    override[idx], forced[idx] = FORCE_WON, day
    return replace(inputs, deals=replace(d, override=override, forced_day=forced))


def lose_deals(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    idx, d = pick_deals(change, inputs, note), inputs.deals
    override = d.override.copy()
    override[idx] = FORCE_LOST
    return replace(inputs, deals=replace(d, override=override))


def slip_days(inputs: SimulationInputs, to: str) -> int:
    """Days to add so that the first simulated day lands on ``to`` (or the first day of
    the quarter after the one the horizon starts in)."""
    first = inputs.horizon.as_of + pd.Timedelta(days=1)
    if to == "next_quarter":
        to = str((first.to_period("Q") + 1).start_time.date())
    return day_offset(inputs, to) - 1


def slip_deals(change: Change, inputs: SimulationInputs, note) -> SimulationInputs:
    idx, d = pick_deals(change, inputs, note), inputs.deals
    extra = change.values.get("days") or slip_days(inputs, change.values["to"])
    delay, forced = d.delay_days.copy(), d.forced_day.copy()
    won = d.override[idx] == FORCE_WON  # a forced win has no simulated date: move it
    delay[idx[~won]] += extra
    forced[idx[won]] += extra
    if "to" in change.values:
        note(f"wins of the slipped deals move {extra} days later")
    return replace(inputs, deals=replace(d, delay_days=delay, forced_day=forced))


TRANSFORMS: dict[str, Callable[[Change, SimulationInputs, Callable], SimulationInputs]] = {
    "win_odds": win_odds, "win_rate": win_rate, "cycle": cycle, "volume": volume,
    "deal_size": deal_size, "hire": hire, "remove": remove, "win_deals": win_deals,
    "lose_deals": lose_deals, "slip_deals": slip_deals,
}
