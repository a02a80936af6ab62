"""The forecast bridge: the last report's forecast of a period → this report's, explained.

A period's expected revenue at a date ``t`` is, exactly, a sum over deals::

    E_t = booked_t + sum over deals open at t of E[revenue of the deal in the period]
                   + E[revenue in the period of deals not yet created at t]

(the Monte Carlo means of one simulation, so the identity holds for the simulated paths
too). The bridge applies *this* report's fit to the pipeline of both dates, so that every
difference between the two is a change in the data, and adds the model's update on
top — the difference between the last report's own forecast and this fit's reading of
the same pipeline:

``model``
    this fit at ``from`` − the last report's forecast (new evidence, a refit, and the two
    simulations' Monte Carlo noise); absent without a last report;
``won`` / ``lost``
    deals open at ``from`` and won / lost by ``to``: (amount if won in the period, else 0)
    − expected, or − expected;
``slipped`` / ``pulled_in`` / ``steady``
    deals open at both dates, now expected to book less / more in the period (time passed
    without a close; they advanced), by more than :data:`NOISE_SE` Monte Carlo standard
    errors of the difference (two independent simulations) — or within them;
``amount``
    amount changes on deals open at both dates (0 while a dataset holds only current
    amounts, as both snapshots then see the same amount);
``new``
    deals created between the dates (what they are worth at ``to``), plus the change in
    the expected revenue of deals still to be created.

Hence ``start + sum of bars = end``, exactly. Bars are in expected revenue (the mean):
medians do not add, so the P50s of both dates are given beside the bridge, not split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.dataset import Dataset
from forecast.data.periods import month_periods, period_bounds, quarter_of
from forecast.data.problems import UsageError
from forecast.data.snapshot import Snapshot, build_snapshot
from forecast.posterior import PipelinePosterior
from forecast.seeds import child_seeds
from simulations.engine.horizon import make_horizon
from simulations.engine.inputs import SimulationInputs, build_inputs
from simulations.engine.simulate import SimulationResult, simulate_paths
from simulations.evaluation.report_history import earlier_reports

#: the bars in bridge order
BARS = ("model", "won", "lost", "slipped", "pulled_in", "steady", "amount", "new")
BAR_LABELS = {"model": "Model update", "won": "Won", "lost": "Lost", "slipped": "Slipped",
              "pulled_in": "Pulled in", "steady": "No clear change",
              "amount": "Amount changes", "new": "New deals"}
#: standard errors a deal's change must exceed to count as slipped or pulled in
NOISE_SE = 2.0
DEFINITIONS = {
    "expected": "mean simulated revenue of the period: booked + what each open deal books "
                "in it (its expected amount x the simulated booked/expected ratio, when won "
                "in the period) + deals not yet created",
    "model": "this fit applied to the pipeline at --from, minus the last report's forecast "
             "(new evidence, a refit, revisions of the data, Monte Carlo noise)",
    "won": "open at --from, won by --to: its amount if won in the period, else 0, minus "
           "its expected value",
    "lost": "open at --from, lost by --to: minus its expected value",
    "slipped": "open at both dates, expected to book less in the period, by more than "
               "twice the Monte Carlo standard error of the difference",
    "pulled_in": "open at both dates, expected to book more in the period, by more than "
                 "twice the Monte Carlo standard error of the difference",
    "steady": "open at both dates, a change within twice its Monte Carlo standard error",
    "amount": "amount changes on deals open at both dates",
    "new": "created after --from (their value at --to) plus the change in the expected "
           "revenue of deals not yet created",
}
#: open-deal outcomes (paths × open deals, ~10 bytes each) held at once: the bridge's
#: simulations run in blocks of paths under it (same numbers: path i is path i anywhere)
OUTCOME_BLOCK = 20_000_000
#: the columns of ``bridge_deals.csv``
DEAL_COLUMNS = ("deal_id", "bar", "owner", "stage_from", "stage_to", "status_to",
                "amount_from", "amount_to", "p_from", "p_to", "expected_from",
                "expected_to", "amount_change", "change")


@dataclass(frozen=True)
class PeriodOutlook:
    """A period's expected revenue as seen at one date, deal by deal.

    Attributes
    ----------
    booked
        Won in the period by ``as_of``.
    deals
        Open deals: ``deal_id``, ``owner``, ``stage``, ``amount``, ``p`` (P(won in the
        period)), ``expected`` (mean simulated revenue of the deal in the period).
    new
        Mean revenue in the period of deals not yet created.
    paths
        ``(draws,)`` the period's revenue per simulated path, ``booked`` included.
    """

    as_of: pd.Timestamp
    period: str
    booked: float
    deals: pd.DataFrame
    new: float
    paths: np.ndarray

    @property
    def mean(self) -> float:
        return self.booked + float(self.deals["expected"].sum()) + self.new

    def quantiles(self) -> dict[str, float]:
        p10, p50, p90 = np.quantile(self.paths, [0.1, 0.5, 0.9])
        return {"expected": self.mean, "p10": float(p10), "p50": float(p50), "p90": float(p90)}


def _period_months(period: str) -> tuple[str, str]:
    lo, hi = period_bounds(period)
    return lo.strftime("%Y-%m"), hi.strftime("%Y-%m")


def booked_in(snapshot: Snapshot, period: str) -> float:
    """Revenue won in ``period`` by the snapshot's date."""
    lo, hi = period_bounds(period)
    d = snapshot.deals
    won = (d["status"] == "won") & (d["closed_at"] >= lo) & (d["closed_at"] <= hi)
    return float(d.loc[won, "amount"].sum())


def period_outlook(snapshot: Snapshot, posterior: PipelinePosterior, period: str,
                   draws: int, seed: int,
                   simulation: tuple[SimulationInputs, SimulationResult] | None = None
                   ) -> PeriodOutlook:
    """Simulate ``period`` from ``snapshot`` with ``posterior`` (fitted at any date).

    ``simulation`` (inputs and result of a forecast from ``snapshot`` run with
    ``keep_deal_outcomes``, e.g. the report's own) is used instead of a new simulation when
    its horizon covers the period's remaining months, so that the outlook's P50 is the
    forecast's; ``draws`` and ``seed`` are then unused.
    """
    _, hi = period_bounds(period)
    first_m, last_m = _period_months(period)
    booked = booked_in(snapshot, period)
    open_deals = snapshot.open_deals
    deals = pd.DataFrame({"deal_id": open_deals["deal_id"].to_numpy(),
                          "owner": open_deals["owner"].to_numpy(),
                          "stage": open_deals["stage"].to_numpy(),
                          "amount": open_deals["amount"].to_numpy(float),
                          "p": 0.0, "expected": 0.0})
    if hi <= snapshot.as_of:  # the period is over: what is booked is all there is
        return PeriodOutlook(snapshot.as_of, period, booked, deals, 0.0,
                             np.full(draws, booked))
    start = month_periods(snapshot.as_of, 1)[0]
    n_months = (pd.Period(last_m, "M") - pd.Period(start, "M")).n + 1
    wanted = [m for m in month_periods(snapshot.as_of, n_months) if m >= first_m]
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    if simulation is not None and simulation[0].horizon.as_of != snapshot.as_of:
        raise ValueError(f"the simulation given is of {simulation[0].horizon.as_of.date()}, "
                         f"the snapshot of {snapshot.as_of.date()}")
    if (simulation is not None and simulation[1].deal_month is not None
            and set(wanted) <= set(simulation[0].horizon.months)):
        inputs, result = simulation
        n_paths = result.n_draws
        blocks = [(np.arange(n_paths), result)]
    else:
        inputs = build_inputs(snapshot, posterior, make_horizon(snapshot.as_of, n_months),
                              other_date=True)
        n_paths = draws
        size = max(1, OUTCOME_BLOCK // max(len(inputs.deals), 1))
        blocks = ((idx, simulate_paths(inputs, idx, seed, keep_deal_outcomes=True))
                  for idx in np.array_split(np.arange(draws), -(-draws // size)))
    idx_m = np.flatnonzero([first_m <= m <= last_m for m in inputs.horizon.months])
    revenue_sum, hit_sum = np.zeros(len(inputs.deals)), np.zeros(len(inputs.deals))
    totals, new_sum = np.zeros(n_paths), 0.0
    order = None
    for idx, result in blocks:  # blocks of paths: draws × open deals held at once, bounded
        hit = np.isin(result.deal_month, idx_m)
        revenue = np.where(hit, result.deal_revenue, 0.0)
        new = result.new_revenue[:, idx_m, :].sum(axis=(1, 2))
        revenue_sum += revenue.sum(axis=0)
        hit_sum += hit.sum(axis=0)
        new_sum += float(new.sum())
        totals[idx] = booked + revenue.sum(axis=1) + new
        order = pd.Index(result.deal_ids).get_indexer(deals["deal_id"])
    if (order < 0).any():
        raise ValueError("the simulation's open deals are not the snapshot's")
    deals["p"] = (hit_sum / n_paths)[order]
    deals["expected"] = (revenue_sum / n_paths)[order]
    deals["amount"] = inputs.deals.amount[order]
    return PeriodOutlook(snapshot.as_of, period, booked, deals, new_sum / n_paths, totals)


@dataclass(frozen=True)
class LastReport:
    """The last report's forecast of the period: ``expected`` (mean), and its P10/P50/P90
    where its ``draws.parquet`` was kept."""

    as_of: pd.Timestamp
    path: str
    expected: float
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None


def find_last_report(reports_root: str | Path, before: str | pd.Timestamp) -> Path | None:
    """The folder of the latest report in ``reports_root`` made before ``before``."""
    reports = earlier_reports(reports_root, before)
    return reports[-1][0] if reports else None


def read_last_report(folder: str | Path, dataset: Dataset, period: str) -> LastReport | None:
    """The report in ``folder``'s forecast of ``period`` (booked by its date + the months it
    simulated); ``None`` when it did not forecast every remaining month of the period.

    Raises
    ------
    UsageError
        ``folder`` holds no readable report (``summary.json``, ``draws.parquet``).
    """
    return _readable(Path(folder), lambda f: _read_last_report(f, dataset, period))


def report_date(folder: str | Path) -> pd.Timestamp:
    """The ``as_of`` of the report in ``folder`` (:class:`UsageError` if unreadable)."""
    return _readable(Path(folder), lambda f: pd.Timestamp(
        json.loads((f / "summary.json").read_text())["as_of"]))


def _readable(folder: Path, read):
    """``read(folder)``, its failures on a missing or malformed report as one
    :class:`UsageError` that says what to give instead."""
    try:
        return read(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{folder}: not a readable report ({type(exc).__name__}: {exc}); "
                         "give a folder written by pipecast report or pipecast forecast") \
            from exc


def _read_last_report(folder: Path, dataset: Dataset, period: str) -> LastReport | None:
    summary = json.loads((folder / "summary.json").read_text())
    as_of = pd.Timestamp(summary["as_of"])
    first_m, last_m = _period_months(period)
    wanted = [m for m in month_periods(as_of, 240) if first_m <= m <= last_m]
    if not set(wanted) <= set(summary.get("months", [])):
        return None
    booked = booked_in(build_snapshot(dataset, as_of), period)
    draws_file = folder / "draws.parquet"
    if draws_file.exists():
        draws = pd.read_parquet(draws_file)
        per_draw = (draws[draws["month"].isin(wanted)].groupby("draw")["revenue"].sum()
                    .reindex(sorted(draws["draw"].unique()), fill_value=0.0))
        paths = booked + per_draw.to_numpy()
        p10, p50, p90 = np.quantile(paths, [0.1, 0.5, 0.9])
        return LastReport(as_of, str(folder), float(paths.mean()), float(p10), float(p50),
                          float(p90))
    means = {row["month"]: row["mean"] for row in summary.get("total", [])}
    return LastReport(as_of, str(folder), booked + sum(means[m] for m in wanted))


@dataclass(frozen=True)
class ForecastBridge:
    """The bridge between two dates' forecasts of ``period`` (see the module docstring).

    ``start`` and ``end`` hold ``expected`` (mean), ``p10``, ``p50``, ``p90`` and
    ``source``; ``bars`` one row per bar (``bar``, ``label``, ``deals``, ``change``);
    ``deals`` the deals behind them (:data:`DEAL_COLUMNS`).
    """

    from_date: pd.Timestamp
    to_date: pd.Timestamp
    period: str
    start: dict
    end: dict
    bars: pd.DataFrame
    deals: pd.DataFrame
    deals_open: tuple[int, int] = field(default=(0, 0))

    def to_dict(self) -> dict:
        """The JSON form (``changes.json``'s ``bridge``; the waterfall chart reads it)."""
        lo, hi = period_bounds(self.period)
        bars = [{"bar": r.bar, "label": r.label, "deals": int(r.deals),
                 "change": {"expected": float(r.change)}} for r in self.bars.itertuples()]
        return {"from": str(self.from_date.date()), "to": str(self.to_date.date()),
                "period": self.period, "period_bounds": [str(lo.date()), str(hi.date())],
                "start": {**self.start, "deals": self.deals_open[0]},
                "end": {**self.end, "deals": self.deals_open[1]},
                "bars": bars, "definitions": DEFINITIONS}

    def write_deals_csv(self, path: str | Path) -> None:
        """The deals behind the bars (``bridge_deals.csv``)."""
        self.deals.to_csv(path, index=False)


def default_period(to_date: str | pd.Timestamp) -> str:
    """The quarter being forecast at ``to_date``: that of the first month after it."""
    return quarter_of(month_periods(to_date, 1)[0])


def forecast_bridge(dataset: Dataset, posterior: PipelinePosterior,
                    from_date: str | pd.Timestamp, to_date: str | pd.Timestamp,
                    period: str | None = None, *, draws: int = 2000, seed: int = 0,
                    last: LastReport | None = None,
                    simulation: tuple[SimulationInputs, SimulationResult] | None = None
                    ) -> ForecastBridge:
    """The forecast bridge of ``period`` from ``from_date`` to ``to_date``.

    Parameters
    ----------
    dataset
        The dataset (both snapshots are taken from it).
    posterior
        This report's fit (at ``to_date``); it is applied to both dates' pipelines.
    period
        ``YYYY-MM`` or ``YYYY-Qn``; default :func:`default_period` of ``to_date``.
    draws, seed
        Simulated paths per date; the run's seed (each date gets a child).
    last
        The last report's forecast of the period (:func:`read_last_report`), made at
        ``from_date``: the bridge starts from it with a ``model`` bar; without it the
        bridge starts from this fit at ``from_date``.
    simulation
        The forecast at ``to_date`` (inputs, result with ``keep_deal_outcomes``): the end
        of the bridge is then that forecast's own (see :func:`period_outlook`).
    """
    from_date, to_date = pd.Timestamp(from_date).normalize(), pd.Timestamp(to_date).normalize()
    if from_date >= to_date:
        raise UsageError(f"--from {from_date.date()} must be before --to {to_date.date()}")
    period = (period or default_period(to_date)).strip().upper()
    try:
        period_bounds(period)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if last is not None and last.as_of != from_date:
        raise ValueError(f"the last report was made on {last.as_of.date()}, not on "
                         f"{from_date.date()}")
    seed_from, seed_to = child_seeds(seed, 2)
    snap0, snap1 = build_snapshot(dataset, from_date), build_snapshot(dataset, to_date)
    o0 = period_outlook(snap0, posterior, period, draws, seed_from)
    o1 = period_outlook(snap1, posterior, period, draws, seed_to, simulation)
    deals = _deal_changes(o0, o1, snap1, from_date, period)
    rows = []
    if last is not None:
        rows.append(("model", 0, o0.mean - last.expected))
    for bar in BARS[1:]:
        if bar == "amount":
            moved = deals["amount_change"] != 0
            rows.append((bar, int(moved.sum()), float(deals["amount_change"].sum())))
            continue
        mine = deals["bar"] == bar
        rows.append((bar, int(mine.sum()),
                     float((deals.loc[mine, "change"] - deals.loc[mine, "amount_change"]).sum())))
    new_extra = o1.new - o0.new  # deals still to be created, re-expected
    rows = [(b, n, c + new_extra if b == "new" else c) for b, n, c in rows]
    bars = pd.DataFrame(rows, columns=["bar", "deals", "change"])
    bars.insert(1, "label", bars["bar"].map(BAR_LABELS))
    if last is not None:
        start = {"expected": last.expected, "p10": last.p10, "p50": last.p50, "p90": last.p90,
                 "source": f"the report of {last.as_of.date()} ({Path(last.path).name}/)"}
    else:
        start = {**o0.quantiles(), "source": f"this fit applied to the pipeline of "
                                              f"{from_date.date()} (no earlier report)"}
    end = {**o1.quantiles(), "source": f"this fit, {to_date.date()}"}
    return ForecastBridge(from_date, to_date, period, start, end, bars, deals,
                          (len(o0.deals), len(o1.deals)))


def _deal_changes(o0: PeriodOutlook, o1: PeriodOutlook, snap1: Snapshot,
                  from_date: pd.Timestamp, period: str) -> pd.DataFrame:
    """One row per deal open at ``from`` or created since: its bar and change."""
    lo, hi = period_bounds(period)
    now = snap1.deals.set_index("deal_id")
    created = now.index[now["created_at"] > from_date]
    ids = pd.Index(o0.deals["deal_id"]).append(pd.Index(created)).unique()
    before = o0.deals.set_index("deal_id").reindex(ids)
    after = o1.deals.set_index("deal_id").reindex(ids)
    state = now.reindex(ids)
    status = state["status"].to_numpy()
    won_in = (status == "won") & (state["closed_at"] >= lo).to_numpy() & (
        state["closed_at"] <= hi).to_numpy()
    open_now = status == "open"
    exp_from = before["expected"].fillna(0.0).to_numpy()
    exp_to = np.where(open_now, after["expected"].fillna(0.0).to_numpy(),
                      np.where(won_in, state["amount"].to_numpy(float), 0.0))
    is_new = ids.isin(created)
    both = open_now & ~is_new
    a0, a1 = before["amount"].to_numpy(float), after["amount"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        amount_change = np.where(both & (a1 > 0), exp_to * (1 - a0 / a1), 0.0)
    change = exp_to - exp_from
    rest = change - amount_change
    # Monte Carlo standard error of the difference of two independent simulations' means
    p0, p1 = before["p"].fillna(0.0).to_numpy(), after["p"].fillna(0.0).to_numpy()
    se = np.sqrt(np.nan_to_num(a0) ** 2 * p0 * (1 - p0) / len(o0.paths)
                 + np.nan_to_num(a1) ** 2 * p1 * (1 - p1) / len(o1.paths))
    bar = np.select(
        [is_new, status == "won", status == "lost", rest < -NOISE_SE * se,
         rest > NOISE_SE * se],
        ["new", "won", "lost", "slipped", "pulled_in"], default="steady")
    out = pd.DataFrame({
        "deal_id": ids, "bar": bar, "owner": state["owner"].to_numpy(),
        "stage_from": before["stage"].to_numpy(), "stage_to": state["stage"].to_numpy(),
        "status_to": status, "amount_from": a0,
        "amount_to": np.where(open_now, a1, state["amount"].to_numpy(float)),
        "p_from": before["p"].to_numpy(float), "p_to": after["p"].to_numpy(float),
        "expected_from": exp_from, "expected_to": exp_to,
        "amount_change": amount_change, "change": change})
    order = pd.Categorical(out["bar"], categories=BARS, ordered=True)
    return (out.assign(_o=order, _a=-out["change"].abs()).sort_values(["_o", "_a"])
            .drop(columns=["_o", "_a"]).reset_index(drop=True))[list(DEAL_COLUMNS)]


def keeps_deal_outcomes(n_deals: int, draws: int) -> bool:
    """Whether a forecast of ``draws`` paths may keep its open deals' outcomes for the
    bridge (``n_deals``: the dataset's deals, a bound on the open ones), within
    :data:`OUTCOME_BLOCK`; otherwise the bridge simulates its end itself, in blocks."""
    return n_deals * draws <= OUTCOME_BLOCK


def bridge_since_last_report(snapshot: Snapshot, posterior: PipelinePosterior,
                             reports_root: str | Path | None, fallback_from: pd.Timestamp,
                             *, draws: int, seed: int, period: str | None = None,
                             simulation: tuple[SimulationInputs, SimulationResult] | None = None
                             ) -> ForecastBridge | None:
    """The monthly report's bridge: from the last report in ``reports_root`` (made before
    the snapshot's date) to the snapshot, or from ``fallback_from`` (this fit at both
    dates) when there is none or it did not forecast the whole period; ``None`` when the
    data does not reach back to the start date. ``simulation``: the report's own forecast
    (see :func:`forecast_bridge`)."""
    period = period or default_period(snapshot.as_of)
    reports = earlier_reports(reports_root, snapshot.as_of) if reports_root else []
    first_deal = snapshot.dataset.deals["created_at"].min()
    last = None
    # the latest earlier report, its date read once (earlier_reports parsed its summary)
    folder, made = (reports[-1][0], pd.Timestamp(reports[-1][1]["as_of"])) if reports \
        else (None, None)
    if folder is not None and made >= first_deal:
        try:
            last = read_last_report(folder, snapshot.dataset, period)
        except UsageError:
            last = None  # an unreadable earlier report: the bridge starts from this fit
    from_date = last.as_of if last is not None else pd.Timestamp(fallback_from).normalize()
    if from_date < first_deal:
        return None
    return forecast_bridge(snapshot.dataset, posterior, from_date, snapshot.as_of, period,
                           draws=draws, seed=seed, last=last, simulation=simulation)
