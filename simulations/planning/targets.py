"""Revenue targets: what counts toward one, and how added deals are shared among its reps.

:class:`Target` (a rep, a team or the company over some months, with what is already
booked), :func:`resolve_target` (from the CLI's options), :func:`target_revenue` (a
simulation's revenue toward it), and the split of added deals over the target's reps
(:func:`owner_weights`, :func:`apportion`). Used by :mod:`simulations.planning.recommend`,
:mod:`simulations.planning.added_deals` and :mod:`simulations.planning.classic`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.periods import months_of
from simulations.engine.inputs import SimulationInputs
from simulations.engine.simulate import SimulationResult

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
