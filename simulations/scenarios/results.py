"""Run named scenarios on a finished forecast and compare them side by side.

>>> run = run_forecast(load_dataset("data/sample"), "2026-10-31", horizon=6)  # doctest: +SKIP
>>> res = run_scenarios(run, "data/scenarios/example.yaml")                   # doctest: +SKIP
>>> res                       # a table in Jupyter                            # doctest: +SKIP
>>> res.differences()         # per-path differences from the baseline        # doctest: +SKIP
>>> plot_scenarios(res)   # simulations.plots.scenarios                    # doctest: +SKIP

Every scenario is simulated with the same seed as the baseline (common random numbers):
path ``i`` of every scenario draws the same posterior draw and the same random numbers
wherever the scenario leaves the model alone, so ``scenario − baseline`` per path isolates
the scenario's effect. Its P10/P50/P90 are the effect's interval.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.snapshot import Snapshot
from simulations.engine.horizon import Horizon
from simulations.engine.inputs import DealBook, SimulationInputs, booked_to_date
from simulations.engine.simulate import SimulationResult, simulate, with_run_months
from simulations.engine.summary import QUANTILES, attainment, by_month, describe, team_revenue
from simulations.forecaster import ForecastRun, stderr_progress
from simulations.scenarios.apply import Applied, apply
from simulations.scenarios.spec import BASELINE, Catalog, ScenarioSet

OUTPUTS = ["scenarios.json", "scenario_draws.parquet"]
#: entropy tag of the random stream of hired reps' deals (see :func:`simulate_applied`)
HIRE_STREAM = 0x48495245
QUOTA_KEYS = ("owner", "kind", "period", "quota", "booked_to_date", "complete", "p_attain",
              "expected_gap")


def run_scenarios(run: ForecastRun, scenarios: ScenarioSet | str | Path | Mapping,
                  draws: int | None = None, seed: int | None = None,
                  chunk_size: int | None = None, progress: bool = False) -> ScenarioResults:
    """Simulate ``run``'s forecast under each scenario, all with the same seed.

    Parameters
    ----------
    run
        A finished forecast (:func:`simulations.forecaster.run_forecast`).
    scenarios
        A :class:`ScenarioSet`, the path of a scenario YAML file, or its content as a dict.
    draws, seed
        Paths per scenario and their seed; by default the run's own, so that the
        ``baseline`` scenario is ``run.result`` path for path.
    progress
        Report simulation progress on stderr.

    Raises
    ------
    DataValidationError
        A scenario names an owner, team, segment, stage or deal the forecast lacks.
    """
    sset = ScenarioSet.coerce(scenarios)
    sset.check(Catalog.from_inputs(run.inputs))
    draws = run.result.n_draws if draws is None else int(draws)
    seed = run.result.seed if seed is None else int(seed)
    results, notes = {}, {}
    for scn in sset:
        applied = apply(scn, run.inputs)
        if not scn.changes and draws == run.result.n_draws and seed == run.result.seed:
            results[scn.name] = run.result  # what simulating the unchanged inputs gives
        else:
            results[scn.name] = simulate_applied(
                applied, draws, seed, chunk_size=chunk_size,
                progress=stderr_progress(f"scenario {scn.name}") if progress else None)
        notes[scn.name] = applied.notes
    return ScenarioResults(scenarios=sset, results=results, notes=notes,
                           as_of=str(run.snapshot.as_of.date()), seed=seed,
                           quotas=run.snapshot.dataset.quotas,
                           booked=booked_to_date(run.snapshot))


def owner_slice(inputs: SimulationInputs, sl: slice, deals: DealBook) -> SimulationInputs:
    """The inputs of the owners ``sl`` only, with ``deals`` as their book."""
    owners = inputs.owners[sl]
    return replace(inputs, owners=owners, teams={o: inputs.teams[o] for o in owners},
                   deals=deals, owner_eff=inputs.owner_eff[:, :, sl],
                   arr_owner_eff=inputs.arr_owner_eff[:, sl],
                   segment_mix=inputs.segment_mix[:, sl],
                   arrival_multiplier=inputs.arrival_multiplier[sl])


def empty_book() -> DealBook:
    z = np.zeros(0, dtype=np.int64)
    return DealBook(deal_id=np.zeros(0, dtype=object), owner=z, segment=z, xb=z, stage=z,
                    week=z, part=z, amount=np.zeros(0), override=np.zeros(0, dtype=np.int8),
                    forced_day=z, delay_days=z)


def hire_seed(seed: int) -> int:
    """Seed of the hired reps' own simulation, derived from the run's ``seed``."""
    return int(np.random.SeedSequence([seed, HIRE_STREAM]).generate_state(1)[0])


def simulate_applied(applied: Applied, n_draws: int, seed: int, chunk_size: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> SimulationResult:
    """Simulate a scenario with the baseline's ``seed`` (common random numbers).

    Hired reps are simulated apart, with a seed derived from ``seed``
    (:func:`hire_seed`), and their paths joined to the baseline owners': the baseline
    owners then keep exactly the random numbers they have in the baseline. (Simulated
    together, the extra rows of arrival counts would shift every later random number of
    the path.) Both parts use posterior draw ``i mod P`` for path ``i`` and the run's
    months' own effects (drawn from ``seed`` once, :func:`with_run_months`), and the new reps
    are independent of the others given them, so the joint distribution is the same.
    """
    inputs, n = applied.inputs, applied.n_base_owners
    if len(inputs.owners) == n:
        return simulate(inputs, n_draws, seed, chunk_size=chunk_size, progress=progress)
    # the months' own effects drawn once, from the run's seed: a month's luck is everyone's
    inputs = with_run_months(inputs, seed)
    base = simulate(owner_slice(inputs, slice(0, n), inputs.deals), n_draws, seed,
                    chunk_size=chunk_size, progress=progress)
    hired = owner_slice(inputs, slice(n, None), empty_book())
    if hired.arrival_multiplier.any():
        new = simulate(hired, n_draws, hire_seed(seed), chunk_size=chunk_size)
        rev, new_rev = new.revenue, new.new_revenue
    else:  # hired after the horizon: nothing to simulate
        rev = new_rev = np.zeros(base.revenue.shape[:2] + (len(hired.owners),))
    return replace(base, revenue=np.concatenate([base.revenue, rev], axis=2),
                   new_revenue=np.concatenate([base.new_revenue, new_rev], axis=2),
                   owners=inputs.owners, teams=dict(inputs.teams))


def catalog_for(snapshot: Snapshot, horizon: Horizon) -> Catalog:
    """The names a scenario may use in a forecast of ``snapshot`` over ``horizon``, known
    before any fit (so a scenario file can be checked before the expensive part)."""
    from forecast.posterior import ModelIndex

    index = ModelIndex.from_snapshot(snapshot)
    open_deals = snapshot.open_deals
    return Catalog(owners=index.owners, teams=index.owner_team, segments=index.segments,
                   stages=index.stages,
                   deal_amounts=dict(zip(open_deals["deal_id"].astype(str),
                                         open_deals["amount"].astype(float), strict=True)),
                   as_of=str(snapshot.as_of.date()), months=horizon.months)


def _interval(diff: np.ndarray, tol: float = 0.0) -> dict[str, float]:
    """Mean, P10/P50/P90 and the shares of paths above and below zero (by more than
    ``tol``)."""
    return {**describe(diff), "p_higher": float(np.mean(diff > tol)),
            "p_lower": float(np.mean(diff < -tol))}


def _tolerance(base: np.ndarray) -> float:
    """Differences this small are float rounding, not an effect: a deal that moves from
    one month to another changes the sums of both, and their total by ~1e-16 of it."""
    return 1e-9 * max(1.0, float(np.abs(base).sum(axis=1).max(initial=0.0)))


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


@dataclass
class ScenarioResults:
    """Simulated paths of each scenario, with summaries, differences and plots.

    Attributes
    ----------
    scenarios
        The scenarios run, baseline included.
    results
        Scenario name → :class:`~simulations.engine.simulate.SimulationResult`.
    notes
        Scenario name → what its changes did (solved multipliers, picked deals).
    as_of, seed
        The forecast date and the seed every scenario was simulated with.
    quotas, booked
        Quota rows of the dataset and revenue booked before ``as_of`` (for attainment).
    baseline
        The scenario differences are taken against by default.
    """

    scenarios: ScenarioSet
    results: dict[str, SimulationResult]
    notes: dict[str, tuple[str, ...]]
    as_of: str
    seed: int
    quotas: pd.DataFrame | None = None
    booked: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["owner", "month", "revenue"]))
    baseline: str = BASELINE

    @property
    def names(self) -> list[str]:
        return list(self.results)

    @property
    def months(self) -> tuple[str, ...]:
        return next(iter(self.results.values())).months

    @property
    def draws(self) -> int:
        return next(iter(self.results.values())).n_draws

    def total(self, name: str) -> np.ndarray:
        """``(draws, months)`` company revenue of scenario ``name``."""
        return self.results[name].total()

    def _base(self, baseline: str | None) -> str:
        base = baseline or self.baseline
        if base not in self.results:
            raise KeyError(f"no scenario {base!r}; scenarios: {self.names}")
        return base

    @cached_property
    def _quotas(self) -> dict[str, list[dict]]:
        as_of = pd.Timestamp(self.as_of)
        return {n: [{k: q.get(k) for k in QUOTA_KEYS}
                    for q in attainment(r, self.quotas, self.booked, as_of)]
                for n, r in self.results.items()}

    def by_month(self) -> pd.DataFrame:
        """Tidy: ``scenario``, ``month``, ``mean``, ``p10``, ``p50``, ``p90`` (company)."""
        return pd.DataFrame([{"scenario": n, **row} for n in self.names
                             for row in by_month(self.total(n), self.months)])

    def differences(self, baseline: str | None = None) -> pd.DataFrame:
        """Per scenario and period (each month and ``horizon``), the per-path difference
        from ``baseline``: ``mean``, ``p10``, ``p50``, ``p90``, ``p_higher``, ``p_lower``."""
        base = self._base(baseline)
        b = self.total(base)
        tol = _tolerance(b)
        rows = []
        for n in self.names:
            if n == base:
                continue
            diff = self.total(n) - b
            rows += [{"scenario": n, "period": m, **_interval(diff[:, i], tol)}
                     for i, m in enumerate(self.months)]
            rows.append({"scenario": n, "period": "horizon",
                         **_interval(diff.sum(axis=1), tol)})
        return pd.DataFrame(rows, columns=["scenario", "period", "mean", *QUANTILES,
                                           "p_higher", "p_lower"])

    def attainment(self) -> pd.DataFrame:
        """One row per quota row with a probability: ``owner``, ``kind``, ``period``,
        ``quota``, then ``p_attain`` under each scenario (one column per scenario)."""
        rows = {}
        for n, quotas in self._quotas.items():
            for q in quotas:
                if q["p_attain"] is None:
                    continue
                key = (q["owner"], q["kind"], q["period"], q["quota"])
                rows.setdefault(key, {})[n] = q["p_attain"]
        keys = ["owner", "kind", "period", "quota"]
        if not rows:
            return pd.DataFrame(columns=keys + self.names)
        index = pd.MultiIndex.from_tuples(list(rows), names=keys)
        return pd.DataFrame(list(rows.values()), index=index,
                            columns=self.names).reset_index()

    def table(self, baseline: str | None = None) -> pd.DataFrame:
        """One row per scenario: revenue over the horizon (``mean``, ``p10``, ``p50``,
        ``p90``), its difference from ``baseline`` (``Δ mean``, ``Δ p10``, ``Δ p50``,
        ``Δ p90`` of the per-path difference) and P(attain) of the company-total quotas."""
        base = self._base(baseline)
        b = self.total(base).sum(axis=1)
        rows = []
        for n in self.names:
            h = self.total(n).sum(axis=1)
            d = describe(h - b)
            row = {"scenario": n, **describe(h), **{f"Δ {k}": v for k, v in d.items()}}
            for q in self._quotas[n]:
                if q["kind"] == "total" and q["p_attain"] is not None:
                    row[f"P(total {q['period']})"] = q["p_attain"]
            rows.append(row)
        return pd.DataFrame(rows).set_index("scenario")

    def draws_frame(self) -> pd.DataFrame:
        """``scenario_draws.parquet``: ``scenario``, ``draw``, ``month``, ``owner``,
        ``revenue``, one row per scenario × draw × month × owner."""
        frames = []
        for n, r in self.results.items():
            n_d, n_m, n_o = r.revenue.shape
            frames.append(pd.DataFrame({
                "scenario": n,
                "draw": np.repeat(np.arange(n_d), n_m * n_o).astype(np.int32),
                "month": np.tile(np.repeat(np.array(r.months, dtype=object), n_o), n_d),
                "owner": np.tile(np.array(r.owners, dtype=object), n_d * n_m),
                "revenue": r.revenue.reshape(-1)}))
        return pd.concat(frames, ignore_index=True)

    def to_json(self) -> dict:
        """The content of ``scenarios.json`` (see ``docs/scenarios.md``)."""
        base = self.baseline if self.baseline in self.results else None
        out = {"as_of": self.as_of, "months": list(self.months), "draws": self.draws,
               "seed": self.seed, "source": self.scenarios.source, "baseline": base,
               "common_random_numbers": True, "scenarios": {}}
        for n, r in self.results.items():
            scn = self.scenarios[n]
            teams, team_rev = team_revenue(r)
            entry = {"description": scn.description,
                     "changes": [c.to_dict() for c in scn.changes],
                     "notes": list(self.notes.get(n, ())),
                     "total": by_month(r.total(), r.months),
                     "horizon_total": describe(r.total().sum(axis=1)),
                     "teams": {t: by_month(team_rev[:, :, k], r.months)
                               for k, t in enumerate(teams)},
                     "quotas": self._quotas[n]}
            if base is not None and n != base:
                diff = r.total() - self.total(base)
                tol = _tolerance(self.total(base))
                entry["difference"] = {
                    "baseline": base,
                    "total": [{"month": m, **_interval(diff[:, i], tol)}
                              for i, m in enumerate(r.months)],
                    "horizon_total": _interval(diff.sum(axis=1), tol)}
            out["scenarios"][n] = entry
        return out

    def write(self, out: str | Path) -> None:
        """Write ``scenarios.json`` and ``scenario_draws.parquet`` into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "scenarios.json").write_text(json.dumps(self.to_json(), indent=2,
                                                       default=_json_value))
        self.draws_frame().to_parquet(out / "scenario_draws.parquet", index=False)

    def _repr_html_(self) -> str:
        from forecast.data.safe_output import escape_html

        fmt = {c: ("{:.0%}" if c.startswith("P(") else "{:,.0f}") for c in self.table()}
        html = (self.table().style.format(fmt, na_rep="–", escape="html")
                .format_index(escape="html").to_html())
        head = (f"<p><b>Scenarios as of {escape_html(self.as_of)}</b> · {self.months[0]} – "
                f"{self.months[-1]} · {self.draws:,} paths each, seed {self.seed} (common "
                f"random numbers) · Δ = per-path difference from "
                f"{escape_html(self.baseline)}</p>")
        notes = [f"<li><b>{escape_html(n)}</b>: {escape_html(t)}</li>"
                 for n, ts in self.notes.items() for t in ts]
        return head + html + (f"<ul>{''.join(notes)}</ul>" if notes else "")

    def to_text(self) -> str:
        """The :meth:`table` as plain text: amounts rounded, probabilities in percent."""
        table = self.table()
        fmt = {c: ((lambda v: f"{v:.0%}") if c.startswith("P(") else (lambda v: f"{v:,.0f}"))
               for c in table}
        return table.to_string(formatters=fmt, na_rep="–")

    def __repr__(self) -> str:
        return (f"ScenarioResults({len(self.results)} scenarios, {self.draws} paths, "
                f"as_of {self.as_of})\n{self.to_text()}")
