"""Rolling-origin backtest: forecasts made at past month ends, scored against what happened.

>>> result = backtest(dataset, "2025-06-30", "2026-07-31", horizon=3, draws=1000,
...                   seed=1, workers=2)                                 # doctest: +SKIP
>>> result.summary()["methods"]["pipecast"]                               # doctest: +SKIP
{'crps': ..., 'coverage_80': ..., 'mae': ..., ...}

At each month end ``as_of`` between ``start`` and ``end``, pipecast is fitted on what was
known then (:func:`forecast.data.snapshot.build_snapshot`) and simulates the ``horizon`` months
after it; each baseline of :data:`simulations.evaluation.baselines.BASELINES` is fitted on the same
snapshot. Each forecast of a month's booked revenue, for the company (``total``), each
team and each rep (``owner``), is scored against the **realised** revenue: the amounts of
the deals of the full dataset that are ``won`` with ``closed_at`` in that month. Only
months that end on or before ``data_end`` (the extract date) are scored.

Deal level: for the deals open at ``as_of``, each method's probability that the deal is
won **within the horizon** is scored against whether it was (``won`` with ``closed_at``
on or before the horizon's last day); see :func:`deal_probabilities`.

Reproducibility: ``as_of`` number ``i`` (of ``n``) runs with the seed
``SeedSequence(seed).spawn(n)[i]`` turned into an int, whatever the worker that runs it,
so a parallel backtest equals a serial one exactly. Months run in parallel in processes
(``workers=N``) or on a Dask cluster (``workers=`` a ``distributed.Client`` or a scheduler
address).
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.dataset import Dataset, current_teams
from forecast.data.snapshot import Snapshot, build_snapshot
from forecast.models.config import HORIZON_MONTHS, SIMULATED_PATHS, ModelConfig, SamplerConfig
from forecast.seeds import child_seeds, child_sequence
from simulations.engine.horizon import make_horizon
from simulations.evaluation.backtest_result import DEAL_COLUMNS, LEVELS, SCORES, BacktestResult
from simulations.evaluation.baselines import BASELINES
from simulations.evaluation.scoring import score_forecast

BASE_RATE_MIN_DEALS = 20


# --------------------------------------------------------------------------- dates, seeds


def month_ends(start: str | pd.Timestamp, end: str | pd.Timestamp) -> list[pd.Timestamp]:
    """Every month end ``d`` with ``start <= d <= end``.

    Parameters
    ----------
    start, end
        The range (inclusive).
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    return list(pd.date_range(start, end, freq="ME"))


def complete_months(as_of: pd.Timestamp, horizon: int, data_end: pd.Timestamp) -> list[str]:
    """The horizon months (``YYYY-MM``) after ``as_of`` that end on or before ``data_end``."""
    months = make_horizon(as_of, horizon).months
    return [m for m in months if pd.Period(m, "M").end_time.normalize() <= data_end]


def realised_revenue(dataset: Dataset, months: Sequence[str], owners: Sequence[str],
                     teams: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Revenue booked in each month, from the full dataset, per level.

    Parameters
    ----------
    dataset
        The full dataset (what happened).
    months
        ``YYYY-MM`` months to total.
    owners
        Reps scored at the ``owner`` level (those known at ``as_of``).
    teams
        Owner → team at ``as_of``; a rep unknown then counts in the team of its deal's
        ``team`` column.

    Returns
    -------
    dict
        ``level`` → frame with index ``name`` and one column per month (0 where nothing
        was booked).
    """
    d = dataset.deals
    won = d[(d["status"] == "won") & d["closed_at"].notna()]
    month = won["closed_at"].dt.strftime("%Y-%m")
    won = won[month.isin(set(months))].assign(month=month)
    deal_team = won["team"].astype(str) if "team" in won else pd.Series("all", index=won.index)
    won = won.assign(team=won["owner"].map(teams).fillna(deal_team))

    def table(by: str | None, names: Sequence[str]) -> pd.DataFrame:
        key = won[by] if by else pd.Series("total", index=won.index)
        t = won.groupby([key.rename("name"), won["month"]])["amount"].sum().unstack("month")
        return t.reindex(index=list(names), columns=list(months), fill_value=0.0).fillna(0.0)

    team_names = sorted(set(teams.values()) | set(won["team"]))
    return {"total": table(None, ["total"]), "team": table("team", team_names),
            "owner": table("owner", sorted(owners))}


# --------------------------------------------------------------------------- forecasts


@dataclass(frozen=True)
class MethodForecast:
    """One method's forecast at one ``as_of``, as samples (1 column for a point forecast).

    Attributes
    ----------
    revenue
        ``(n_samples, n_months, n_owners)`` booked revenue.
    owners
        Labels of the last axis.
    p_win
        Probability that each deal open at ``as_of`` is won within the horizon, indexed
        by ``deal_id`` (``None``: the method has no deal-level forecast).
    info
        Diagnostics (JSON-ready).
    """

    revenue: np.ndarray
    owners: tuple[str, ...]
    p_win: pd.Series | None = None
    info: dict = field(default_factory=dict)


def pipecast_forecast(dataset: Dataset, as_of: pd.Timestamp, horizon: int, draws: int,
                      seed: int, sampler_config: SamplerConfig,
                      model_config: ModelConfig | None = None,
                      cache_dir: str | None = None,
                      posterior: str | None = None) -> MethodForecast:
    """pipecast at ``as_of``: :func:`~simulations.forecaster.run_forecast` with deal outcomes.

    ``p_win`` of an open deal is the share of simulated paths in which it is won within
    the horizon. With ``cache_dir`` the fit is read from that fit cache when this data,
    ``as_of``, configuration and seed were fitted before, and stored there otherwise;
    with ``posterior`` (a saved fit of this ``as_of``) that file is used, with its own
    sampler settings, after the checks of :func:`forecast.models.store.check_fit`.
    """
    from forecast.models.store import FitCache
    from simulations.forecaster import run_forecast

    run = run_forecast(dataset, as_of, horizon=horizon, draws=draws, seed=seed,
                       sampler_config=None if posterior else sampler_config,
                       model_config=model_config, keep_deal_outcomes=True, progress=False,
                       cache=FitCache(cache_dir) if cache_dir is not None else None,
                       posterior=posterior)
    res = run.result
    p_win = pd.Series((res.deal_month >= 0).mean(axis=0), index=pd.Index(res.deal_ids,
                                                                         name="deal_id"))
    return MethodForecast(revenue=res.revenue, owners=tuple(res.owners), p_win=p_win,
                          info=dict(run.summary["diagnostics"]))


def baseline_forecast(name: str, snapshot: Snapshot, months: Sequence[str]) -> MethodForecast:
    """A baseline's point forecast per month and rep, and its within-horizon ``p_win``.

    For a deal-based baseline a deal's within-horizon probability is its ``p_win`` when its
    expected close month is inside the horizon, else 0 (the baseline's own revenue logic).
    """
    model = BASELINES[name]().fit(snapshot)
    table = model.predict_revenue(list(months), by_owner=True)
    revenue = table.to_numpy(dtype=float)[None, :, :]
    p_win = None
    f = getattr(model, "deal_forecasts_", None)
    if f is not None:
        inside = f["close_month"].astype(str).isin(set(months)).to_numpy()
        p_win = pd.Series(np.where(inside, f["p_win"].to_numpy(dtype=float), 0.0),
                          index=pd.Index(f["deal_id"].to_numpy(), name="deal_id"))
    info = {"fallback": getattr(model, "fallback_", None)} if name == "logistic" else {}
    return MethodForecast(revenue=revenue, owners=tuple(table.columns), p_win=p_win, info=info)


def base_rate(snapshot: Snapshot, horizon: int) -> pd.Series | None:
    """Per stage: the share of deals open ``horizon`` months before ``as_of`` won since.

    Uses only what was known at ``as_of``. A stage with fewer than
    :data:`BASE_RATE_MIN_DEALS` such deals uses the rate over all stages. ``None`` when no
    deal was open then. Returns the rate of each open deal's stage, indexed by ``deal_id``.
    """
    earlier = (snapshot.as_of - pd.DateOffset(months=horizon)).normalize()
    try:
        before = build_snapshot(snapshot.dataset, earlier).open_deals
    except ValueError:
        return None
    if before.empty:
        return None
    now = snapshot.deals.set_index("deal_id")["status"]
    won = before["deal_id"].map(now).eq("won").to_numpy(dtype=float)
    stage = before["stage_idx"].to_numpy(dtype=int)
    pooled = won.mean()
    n = np.bincount(stage, minlength=len(snapshot.stages))
    k = np.bincount(stage, weights=won, minlength=len(snapshot.stages))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n >= BASE_RATE_MIN_DEALS, k / np.maximum(n, 1), pooled)
    open_ = snapshot.open_deals
    return pd.Series(rate[open_["stage_idx"].to_numpy(dtype=int)],
                     index=pd.Index(open_["deal_id"].to_numpy(), name="deal_id"))


# --------------------------------------------------------------------------- one month


def _level_samples(fc: MethodForecast, level: str, names: list[str],
                   teams: dict[str, str]) -> np.ndarray:
    """``(n_names, n_months, n_samples)`` revenue of ``names`` at ``level`` (0 if unknown)."""
    rev = fc.revenue  # (S, M, O)
    if level == "total":
        return rev.sum(axis=2).T[None]
    if level == "owner":
        keys = list(fc.owners)
    else:
        keys = [teams.get(o, "all") for o in fc.owners]
    out = np.zeros((len(names), rev.shape[1], rev.shape[0]))
    pos = {n: i for i, n in enumerate(names)}
    for k, key in enumerate(keys):
        if key in pos:
            out[pos[key]] += rev[:, :, k].T
    return out


def score_cases(method: str, fc: MethodForecast, realised: dict[str, pd.DataFrame],
                teams: dict[str, str], months: Sequence[str],
                rng: np.random.Generator) -> pd.DataFrame:
    """Score one method's forecast of the ``months`` (a prefix of its horizon) per level.

    Returns
    -------
    pandas.DataFrame
        :data:`SCORE_COLUMNS` less ``as_of``.
    """
    frames = []
    n_m = len(months)
    for level in LEVELS:
        y_table = realised[level]
        names = list(y_table.index)
        if not names:
            continue
        samples = _level_samples(fc, level, names, teams)[:, :n_m, :]
        flat = samples.reshape(len(names) * n_m, samples.shape[2])
        y = y_table[list(months)].to_numpy(dtype=float).reshape(-1)
        scores = score_forecast(flat, y, rng)
        q = np.quantile(flat, [0.1, 0.5, 0.9], axis=1)
        frames.append(pd.DataFrame({
            "month": np.tile(np.asarray(months, dtype=object), len(names)),
            "month_ahead": np.tile(np.arange(1, n_m + 1), len(names)),
            "method": method, "level": level,
            "name": np.repeat(np.asarray(names, dtype=object), n_m),
            "y": y, "mean": flat.mean(axis=1), "p10": q[0], "p50": q[1], "p90": q[2],
            **{k: np.asarray(scores[k], dtype=float) for k in SCORES},
        }))
    return pd.concat(frames, ignore_index=True)


def deal_outcomes(dataset: Dataset, deal_ids: pd.Index, until: pd.Timestamp) -> pd.Series:
    """1 where a deal was won with ``closed_at`` on or before ``until``, else 0."""
    d = dataset.deals.set_index("deal_id").reindex(deal_ids)
    won = (d["status"] == "won") & d["closed_at"].notna() & (d["closed_at"] <= until)
    return won.astype(int)


@dataclass
class MonthResult:
    """The scores of one ``as_of``: case scores, deal probabilities and run information."""

    as_of: pd.Timestamp
    scores: pd.DataFrame
    deals: pd.DataFrame
    info: dict


@dataclass(frozen=True)
class BacktestSettings:
    """Everything a month's run needs besides the dataset and its ``as_of`` and seed."""

    horizon: int = 3
    draws: int = SIMULATED_PATHS
    sampler_config: SamplerConfig = field(default_factory=SamplerConfig)
    model_config: ModelConfig | None = None
    data_end: pd.Timestamp | None = None
    baselines: tuple[str, ...] = tuple(BASELINES)
    forecaster: Callable[..., MethodForecast] = pipecast_forecast
    blas_threads: int | None = 1
    #: fit cache folder, passed to a forecaster that takes ``cache_dir`` (None: no cache)
    cache_dir: str | None = None
    #: saved fits by ``as_of`` (``YYYY-MM-DD`` → file), for a forecaster taking ``posterior``
    posteriors: tuple[tuple[str, str], ...] = ()


def run_month(dataset: Dataset, as_of: pd.Timestamp, seed: int,
              settings: BacktestSettings) -> MonthResult:
    """Fit every method at ``as_of`` and score it against what happened.

    Parameters
    ----------
    dataset
        The full dataset; each method sees only its snapshot at ``as_of``.
    as_of
        The forecast date.
    seed
        This month's seed: pipecast runs with it; the randomised PIT draws from a child
        of ``SeedSequence(seed)`` (spawn key 2, distinct from the forecast's children).
    settings
        Horizon, draws, sampler and the rest. Linear algebra runs on
        ``settings.blas_threads`` threads (default 1: months are the unit of parallelism,
        and the result must not depend on how many threads summed a product).
    """
    if settings.blas_threads is None:
        return _run_month(dataset, as_of, seed, settings)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=settings.blas_threads):
        return _run_month(dataset, as_of, seed, settings)


def _run_month(dataset: Dataset, as_of: pd.Timestamp, seed: int,
               settings: BacktestSettings) -> MonthResult:
    t0 = time.perf_counter()
    data_end = settings.data_end if settings.data_end is not None else dataset.last_date
    hz = make_horizon(as_of, settings.horizon)
    months = complete_months(as_of, settings.horizon, data_end)
    snapshot = build_snapshot(dataset, as_of)
    owners = sorted(snapshot.deals["owner"].unique())
    teams = current_teams(snapshot.deals)
    realised = realised_revenue(dataset, months, owners, teams)
    extra = {}
    if settings.cache_dir is not None and \
            "cache_dir" in inspect.signature(settings.forecaster).parameters:
        extra["cache_dir"] = settings.cache_dir
    saved = dict(settings.posteriors).get(str(as_of.date()))
    if saved is not None and "posterior" in inspect.signature(settings.forecaster).parameters:
        extra["posterior"] = saved
    forecasts = {"pipecast": settings.forecaster(
        dataset, as_of, settings.horizon, settings.draws, seed, settings.sampler_config,
        settings.model_config, **extra)}
    for name in settings.baselines:
        forecasts[name] = baseline_forecast(name, snapshot, hz.months)
    rng = np.random.default_rng(child_sequence(seed, 2))
    scores = pd.concat([score_cases(m, fc, realised, teams, months, rng)
                        for m, fc in forecasts.items()], ignore_index=True)
    scores.insert(0, "as_of", str(as_of.date()))

    deals = pd.DataFrame(columns=list(DEAL_COLUMNS))
    if len(months) == settings.horizon and len(snapshot.open_deals):
        deals = _deal_frame(snapshot, forecasts, settings, pd.Period(hz.months[-1], "M"))
    info = {"as_of": str(as_of.date()), "seed": int(seed), "months_scored": months,
            "open_deals": int(len(snapshot.open_deals)),
            "seconds": round(time.perf_counter() - t0, 1),
            "pipecast": forecasts["pipecast"].info,
            **{m: forecasts[m].info for m in forecasts if m != "pipecast" and forecasts[m].info}}
    return MonthResult(as_of=as_of, scores=scores, deals=deals, info=info)


def _deal_frame(snapshot: Snapshot, forecasts: dict[str, MethodForecast],
                settings: BacktestSettings, last_month: pd.Period) -> pd.DataFrame:
    open_ = snapshot.open_deals
    ids = pd.Index(open_["deal_id"].to_numpy(), name="deal_id")
    outcome = deal_outcomes(snapshot.dataset, ids, last_month.end_time.normalize())
    stage = pd.Series(open_["stage"].to_numpy(), index=ids)
    probs = {m: fc.p_win for m, fc in forecasts.items() if fc.p_win is not None}
    br = base_rate(snapshot, settings.horizon)
    if br is not None:
        probs["base_rate"] = br
    rows = [pd.DataFrame({"as_of": str(snapshot.as_of.date()), "method": m, "deal_id": ids,
                          "stage": stage.to_numpy(),
                          "p": p.reindex(ids).fillna(0.0).clip(0, 1).to_numpy(dtype=float),
                          "outcome": outcome.to_numpy()})
            for m, p in probs.items()]
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------- orchestration


def _stderr_progress(done: int, total: int, month: MonthResult) -> None:
    print(f"backtest: {done}/{total} months done (as of {month.as_of.date()}, "
          f"{month.info['seconds']:.0f} s)", file=sys.stderr, flush=True)


def _run_serial(dataset, tasks, settings, report):
    results = []
    for i, (as_of, seed) in enumerate(tasks):
        results.append(run_month(dataset, as_of, seed, settings))
        report(i + 1, len(tasks), results[-1])
    return results


def _run_processes(dataset, tasks, settings, workers, report):
    results: list[MonthResult | None] = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_month, dataset, as_of, seed, settings): i
                   for i, (as_of, seed) in enumerate(tasks)}
        for done, fut in enumerate(as_completed(futures), start=1):
            results[futures[fut]] = fut.result()
            report(done, len(tasks), results[futures[fut]])
    return results


def _run_dask(dataset, tasks, settings, client, report):
    from distributed import Client
    from distributed import as_completed as dask_completed

    own = isinstance(client, str)
    client = Client(client) if own else client
    try:
        data = client.scatter(dataset, broadcast=True)
        futures = [client.submit(run_month, data, as_of, seed, settings, pure=False)
                   for as_of, seed in tasks]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[MonthResult | None] = [None] * len(tasks)
        for done, fut in enumerate(dask_completed(futures), start=1):
            results[index[fut.key]] = fut.result()
            report(done, len(tasks), results[index[fut.key]])
        return results
    finally:
        if own:
            client.close()


def backtest(dataset: Dataset, start: str | pd.Timestamp, end: str | pd.Timestamp,
             horizon: int = HORIZON_MONTHS, draws: int = SIMULATED_PATHS, seed: int = 0,
             sampler_config: SamplerConfig | None = None,
             model_config: ModelConfig | None = None, workers: int | Any = 1,
             progress: bool | Callable[[int, int, MonthResult], None] = True,
             data_end: str | pd.Timestamp | None = None,
             baselines: Sequence[str] | None = None,
             forecaster: Callable[..., MethodForecast] | None = None,
             cache_dir: str | Path | None = None,
             posteriors: dict[str, str | Path] | None = None) -> BacktestResult:
    """Forecast at every month end from ``start`` to ``end`` and score against what happened.

    Parameters
    ----------
    dataset
        The full dataset.
    start, end
        Range of the forecast dates; every month end in it is an ``as_of``.
    horizon
        Months forecast after each ``as_of`` (months ending after ``data_end`` are not
        scored).
    draws
        Simulated paths per forecast.
    seed
        The backtest's seed; ``as_of`` number ``i`` uses ``child_seeds(seed, n)[i]``.
    sampler_config
        How pipecast is fitted (default NUTS). Chains run one after the other
        (``cores=1``) with one BLAS thread, in serial and parallel runs alike, so that the
        numbers cannot depend on the execution mode; parallelism comes from ``workers``.
    model_config
        pipecast's priors.
    workers
        ``1``: serial; ``N > 1``: ``N`` processes; a ``distributed.Client`` or a
        scheduler address: that Dask cluster.
    progress
        Print a line per finished month to stderr, or a callable
        ``progress(done, total, month_result)``.
    data_end
        The extract date: months ending after it are not scored (default: the latest
        date in the data).
    baselines
        Names in :data:`simulations.evaluation.baselines.BASELINES` (default: all).
    forecaster
        The pipecast step (default :func:`pipecast_forecast`; replaceable for tests); it
        must be picklable for parallel runs.
    cache_dir
        A fit cache folder (:class:`forecast.models.store.FitCache`): each ``as_of`` is
        fitted once, and a rerun with the same data, settings and seed reuses the fits
        (identical numbers). ``None``: no cache.
    posteriors
        Saved fits to use instead of fitting, by ``as_of`` (``"YYYY-MM-DD"`` → file).

    Returns
    -------
    BacktestResult
    """
    dates = month_ends(start, end)
    if not dates:
        raise ValueError(f"no month end between {pd.Timestamp(start).date()} and "
                         f"{pd.Timestamp(end).date()}")
    data_end_ts = pd.Timestamp(data_end).normalize() if data_end is not None \
        else dataset.last_date.normalize()
    first = dataset.deals["created_at"].min()
    if dates[0] < first:
        raise ValueError(f"the first as_of {dates[0].date()} is before the first deal "
                         f"({first.date()}); start later")
    if not complete_months(dates[0], horizon, data_end_ts):
        raise ValueError(f"no month after as_of {dates[0].date()} ends by the data's end "
                         f"{data_end_ts.date()}: nothing to score")
    tasks = [(d, s) for d, s in zip(dates, child_seeds(seed, len(dates)), strict=True)
             if complete_months(d, horizon, data_end_ts)]
    parallel = not (isinstance(workers, int) and workers <= 1)
    sc = replace(sampler_config or SamplerConfig(), progressbar=False, cores=1)
    settings = BacktestSettings(horizon=horizon, draws=draws, sampler_config=sc,
                                model_config=model_config, data_end=data_end_ts,
                                baselines=tuple(BASELINES if baselines is None else baselines),
                                forecaster=forecaster or pipecast_forecast,
                                cache_dir=None if cache_dir is None else str(cache_dir),
                                posteriors=tuple(sorted((str(k), str(v)) for k, v in
                                                        (posteriors or {}).items())))
    report = _stderr_progress if progress is True else (progress or (lambda *a: None))
    if not parallel:
        months = _run_serial(dataset, tasks, settings, report)
    elif isinstance(workers, int):
        months = _run_processes(dataset, tasks, settings, workers, report)
    else:
        months = _run_dask(dataset, tasks, settings, workers, report)
    skipped = [str(d.date()) for d in dates if d not in {t[0] for t in tasks}]
    config = {"start": str(dates[0].date()), "end": str(dates[-1].date()),
              "horizon": horizon, "draws": draws, "seed": seed,
              "data_end": str(data_end_ts.date()), "source": str(dataset.source),
              "sampler": {k: v for k, v in sc.to_dict().items()
                          if k not in ("progressbar", "cores")},
              "baselines": list(settings.baselines), "skipped_as_of": skipped}
    return BacktestResult(
        scores=pd.concat([m.scores for m in months], ignore_index=True),
        deals=pd.concat([m.deals for m in months if len(m.deals)], ignore_index=True)
        if any(len(m.deals) for m in months) else pd.DataFrame(columns=list(DEAL_COLUMNS)),
        runs=[m.info for m in months], config=config)
