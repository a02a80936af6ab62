"""The forecaster users hold: fit at ``as_of``, then simulate and summarise the horizon.

>>> fc = PipelineForecaster().fit(load_dataset("data/sample"), "2026-10-31", seed=1)  # doctest: +SKIP
>>> run = fc.forecast(horizon=3, draws=2000, seed=2)                              # doctest: +SKIP
>>> run.total                                                                     # doctest: +SKIP
     month      mean       p10       p50       p90

:func:`run_forecast` does both with one seed (the CLI's ``forecast`` and the notebooks).
The fitting itself is :class:`forecast.models.fit.ModelFitter`; this module adds what
runs on a fit (the Monte Carlo engine, summaries), which is why it lives in
:mod:`simulations`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.dataset import Dataset
from forecast.data.snapshot import Snapshot, build_snapshot
from forecast.models.config import HORIZON_MONTHS, SIMULATED_PATHS, ModelConfig, SamplerConfig
from forecast.models.store import (
    FitCache,
    FitResult,
    PosteriorMismatch,
    check_fit,
    check_version,
    obtain_fit,
    read_fit,
    save_result,
)
from forecast.posterior import PipelinePosterior
from forecast.seeds import child_seeds
from simulations.engine.distributed import simulate_anywhere
from simulations.engine.horizon import Horizon, make_horizon
from simulations.engine.inputs import SimulationInputs, booked_to_date, build_inputs
from simulations.engine.simulate import SimulationResult
from simulations.engine.summary import (
    attainment,
    by_month,
    describe,
    draws_frame,
    quantile_frame,
    team_revenue,
)


def weighted_pipeline(snapshot: Snapshot, horizon: Horizon) -> dict:
    """The CRM's number: open amount × hand-set stage probability.

    ``total`` is the classic single figure; ``by_month`` places deals by their
    ``expected_close_at`` (overdue dates count in the first month; deals without a date or
    closing after the horizon are left out of ``by_month``).
    """
    probs = snapshot.dataset.config.crm_probabilities
    d = snapshot.open_deals
    w = d["amount"] * d["stage"].map(probs).astype(float)
    out = {"total": float(w.sum()), "stage_probabilities": dict(probs), "by_month": []}
    if "expected_close_at" in d:
        month = d["expected_close_at"].dt.strftime("%Y-%m")
        month = month.where(d["expected_close_at"] > snapshot.as_of, horizon.months[0])
        out["by_month"] = [{"month": m, "weighted": float(w[month == m].sum())}
                           for m in horizon.months]
    return out


@dataclass
class ForecastRun:
    """A finished forecast: the fitted model, the simulation and its summaries."""

    forecaster: PipelineForecaster
    snapshot: Snapshot
    inputs: SimulationInputs
    result: SimulationResult
    summary: dict

    @property
    def total(self) -> pd.DataFrame:
        """Company revenue per month: ``month``, ``mean``, ``p10``, ``p50``, ``p90``."""
        return quantile_frame(self.result)

    def by(self, level: str) -> pd.DataFrame:
        """Per ``owner`` or ``team`` and month."""
        return quantile_frame(self.result, level)

    def draws(self) -> pd.DataFrame:
        return draws_frame(self.result)

    def write(self, out: str | Path) -> None:
        """Write ``summary.json`` and ``draws.parquet`` into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(self.summary, indent=2, default=_json))
        self.draws().to_parquet(out / "draws.parquet", index=False)


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def summarise(snapshot: Snapshot, result: SimulationResult, horizon: Horizon,
              diagnostics: dict) -> dict:
    """The contract's ``summary.json`` content."""
    teams, team_rev = team_revenue(result)
    total = result.total()
    open_deals = snapshot.open_deals
    new_share = result.new_revenue.sum(axis=2).mean(axis=0) / np.maximum(total.mean(axis=0),
                                                                           1e-12)
    return {
        "as_of": str(snapshot.as_of.date()),
        "months": list(horizon.months),
        "draws": int(result.n_draws),
        "seed": int(result.seed),
        "total": by_month(total, horizon.months),
        "horizon_total": describe(total.sum(axis=1)),
        "owners": {o: by_month(result.revenue[:, :, k], horizon.months)
                   for k, o in enumerate(result.owners)},
        "teams": {t: by_month(team_rev[:, :, k], horizon.months) for k, t in enumerate(teams)},
        "quotas": attainment(result, snapshot.dataset.quotas, booked_to_date(snapshot),
                             snapshot.as_of),
        "weighted_pipeline": weighted_pipeline(snapshot, horizon),
        "open_pipeline": {"deals": int(len(open_deals)),
                          "amount": float(open_deals["amount"].sum())},
        "new_deal_share": [{"month": m, "share": float(s)} for m, s in
                           zip(horizon.months, new_share, strict=True)],
        "diagnostics": diagnostics,
    }


def stderr_progress(label: str):
    """A ``progress(done, total)`` callback printing to stderr."""
    def report(done: int, total: int) -> None:
        print(f"\r{label}: {done}/{total} draws ({100 * done / total:.0f}%)", end="",
              file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr, flush=True)
    return report



class PipelineForecaster:
    """Deal-flow, arrival and amount models fitted at one ``as_of``, and what runs on them.

    In the style of lifelines and pymc-marketing: configure, ``fit`` (returns ``self``),
    then ``forecast`` or ``simulate``; ``save(path)`` writes the fit (ArviZ netCDF, see
    :mod:`forecast.models.store`) and ``PipelineForecaster.load(path, dataset)`` reads it
    back, refusing a file whose id does not match its configuration or whose data differ.

    Parameters
    ----------
    model_config
        Priors and model structure (:class:`~forecast.models.config.ModelConfig`).
    sampler_config
        How to fit (:class:`~forecast.models.config.SamplerConfig`).

    Attributes (after ``fit`` or ``load``)
    --------------------------------------
    snapshot, posterior, idata, index, cells, fit_source (``"fit"``, ``"cache"`` or a path)
    """

    def __init__(self, model_config: ModelConfig | None = None,
                 sampler_config: SamplerConfig | None = None):
        self._model_config = model_config or ModelConfig()
        # None: the defaults when fitting, the file's settings when a posterior is given
        self._sampler_requested = sampler_config
        self._sampler_config = sampler_config or SamplerConfig()
        self._fit: FitResult | None = None
        self._cells = None

    @property
    def model_config(self) -> ModelConfig:
        return self._model_config

    @property
    def sampler_config(self) -> SamplerConfig:
        return self._sampler_config

    @property
    def snapshot(self) -> Snapshot | None:
        return self._fit.snapshot if self._fit else None

    @property
    def posterior(self) -> PipelinePosterior | None:
        return self._fit.posterior if self._fit else None

    @property
    def idata(self):
        return self._fit.idata if self._fit else None

    @property
    def index(self):
        return self._fit.posterior.index if self._fit else None

    @property
    def fit_source(self) -> str | None:
        return self._fit.source if self._fit else None

    @property
    def cells(self):
        """Exposure cells of the fitted snapshot (computed on first use after a load)."""
        if self._fit is None or self._fit.snapshot is None:
            return None
        if self._fit.fitter is not None:
            return self._fit.fitter.cells
        if self._cells is None:
            from forecast.models.fit import spell_cells

            self._cells = spell_cells(self._fit.snapshot, self.index)
        return self._cells

    def _take(self, result: FitResult) -> PipelineForecaster:
        self._fit = result
        self._model_config = result.model_config
        self._sampler_config = result.sampler_config
        self._cells = None
        return self

    def fit(self, dataset: Dataset | Snapshot, as_of: str | pd.Timestamp | None = None,
            seed: int = 0, cache: FitCache | None = None,
            posterior: str | Path | None = None) -> PipelineForecaster:
        """Fit on what was known at ``as_of`` (see :meth:`ModelFitter.fit`); returns ``self``.

        With ``cache`` (a :class:`~forecast.models.store.FitCache`) a fit of the same data,
        ``as_of``, configuration and seed is read back instead of refitted (the same
        numbers); with ``posterior`` (a file of :meth:`save` or ``pipecast fit``) that file
        is used, after checking it belongs to this data, ``as_of`` and configuration.
        """
        return self._take(obtain_fit(dataset, as_of, seed=seed,
                                     model_config=self._model_config,
                                     sampler_config=self._sampler_requested,
                                     posterior=posterior, cache=cache))

    def save(self, path: str | Path) -> Path:
        """Write the fit to ``path`` (ArviZ netCDF with the simulator's arrays, the inputs'
        fingerprint, the configuration, the seed, the version and the diagnostics)."""
        if self._fit is None:
            raise RuntimeError("call fit(dataset, as_of) before save(path)")
        return save_result(self._fit, path)

    @classmethod
    def load(cls, path: str | Path, dataset: Dataset | None = None) -> PipelineForecaster:
        """A forecaster from a saved fit.

        The file's id must match its own configuration and this version (as
        pymc-marketing's ``load``); with ``dataset`` (needed to forecast), the data must be
        those the file was fitted on. Raises
        :class:`~forecast.models.store.PosteriorMismatch` otherwise.
        """
        saved = read_fit(path)
        problems = check_version(saved)
        if problems:
            raise PosteriorMismatch(f"refusing posterior {path}: " + "; ".join(problems)
                                    + ". Refit and save it again")
        snapshot = None
        if dataset is not None:
            check_fit(saved, dataset, saved.as_of, saved.model_config)
            snapshot = build_snapshot(dataset, saved.as_of)
        fc = cls(saved.model_config, saved.sampler_config)
        return fc._take(FitResult(snapshot=snapshot, posterior=saved.posterior,
                                  idata_source=saved, model_config=saved.model_config,
                                  sampler_config=saved.sampler_config, seed=saved.seed,
                                  source=str(path)))

    def _fitted(self) -> tuple[Snapshot, PipelinePosterior]:
        if self.posterior is None:
            raise RuntimeError("call fit(dataset, as_of) before forecasting")
        if self.snapshot is None:
            raise RuntimeError("loaded without its data: use PipelineForecaster.load(path, "
                               "dataset=load_dataset(DIR)) to forecast")
        return self.snapshot, self.posterior

    def simulate(self, horizon: int = HORIZON_MONTHS, draws: int = SIMULATED_PATHS, seed: int = 0,
                 chunk_size: int | None = None, keep_deal_outcomes: bool = False,
                 progress: bool = False, scheduler: str | None = None
                 ) -> tuple[SimulationInputs, SimulationResult]:
        """Simulate ``draws`` revenue paths over ``horizon`` months after ``as_of``.

        Path ``i`` uses posterior draw ``i mod P`` and its own child of
        ``SeedSequence(seed)``; the numbers do not depend on ``chunk_size`` or
        ``scheduler`` (see :func:`forecast_run` for the parameters).
        """
        snapshot, posterior = self._fitted()
        hz = make_horizon(snapshot.as_of, horizon)
        inputs = build_inputs(snapshot, posterior, hz)
        result = simulate_anywhere(inputs, draws, seed, scheduler=scheduler,
                                   chunk_size=chunk_size, keep_deal_outcomes=keep_deal_outcomes,
                                   progress=stderr_progress("simulating") if progress else None)
        return inputs, result

    def forecast(self, horizon: int = HORIZON_MONTHS, draws: int = SIMULATED_PATHS, seed: int = 0,
                 chunk_size: int | None = None, keep_deal_outcomes: bool = False,
                 progress: bool = False, scheduler: str | None = None) -> ForecastRun:
        """:meth:`simulate`, summarised: a :class:`ForecastRun` (``total``, ``by``,
        ``summary``, ``write``)."""
        snapshot, posterior = self._fitted()
        inputs, result = self.simulate(horizon, draws, seed, chunk_size=chunk_size,
                                       keep_deal_outcomes=keep_deal_outcomes,
                                       progress=progress, scheduler=scheduler)
        summary = summarise(snapshot, result, inputs.horizon, posterior.diagnostics)
        return ForecastRun(forecaster=self, snapshot=snapshot, inputs=inputs, result=result,
                           summary=summary)


def run_forecast(dataset: Dataset, as_of: str | pd.Timestamp, horizon: int = HORIZON_MONTHS,
                 draws: int = SIMULATED_PATHS, seed: int = 0,
                 sampler_config: SamplerConfig | None = None,
                 model_config: ModelConfig | None = None, chunk_size: int | None = None,
                 keep_deal_outcomes: bool = False, progress: bool = True,
                 scheduler: str | None = None, posterior: str | Path | None = None,
                 cache: FitCache | None = None) -> ForecastRun:
    """Fit at ``as_of`` (or reuse a saved fit) and simulate ``horizon`` months.

    Parameters
    ----------
    dataset
        A loaded dataset.
    as_of
        Forecast date; only what was known then is used.
    horizon
        Months to simulate after ``as_of``.
    draws
        Simulated revenue paths.
    seed
        The run's one seed; the fit and the simulation get children of
        ``numpy.random.SeedSequence(seed)``.
    sampler_config, model_config
        How to sample, and the model's priors and structure (defaults when ``None``).
    chunk_size
        Paths simulated at once (bounds memory; the numbers do not depend on it).
    keep_deal_outcomes
        Keep each open deal's simulated month and revenue (for swing deals and scores).
    progress
        Show sampling and simulation progress on stderr.
    scheduler
        Where the simulation runs: ``None`` in this process; ``"local"`` on a Dask
        ``LocalCluster`` started for the call; otherwise a Dask scheduler address
        (``"tcp://host:8786"``). The draws are identical in every case.
    posterior
        A saved fit (``pipecast fit``, :meth:`PipelineForecaster.save`) to use instead of
        fitting; refused (:class:`~forecast.models.store.PosteriorMismatch`) if it is of
        other data, another ``as_of``, model configuration or version. With it,
        ``sampler_config`` ``None`` accepts the file's sampler settings.
    cache
        A :class:`~forecast.models.store.FitCache`: an earlier fit of the same data,
        ``as_of``, configuration and seed is reused (the same numbers), a new one stored.

    Returns
    -------
    ForecastRun
        The fit, the snapshot, the simulation inputs and result, and ``summary``.
    """
    ss_fit, ss_sim = child_seeds(seed, 2)
    sc = sampler_config
    if sc is None and posterior is None:
        sc = SamplerConfig(progressbar=progress)
    fc = PipelineForecaster(model_config, sc).fit(build_snapshot(dataset, as_of), seed=ss_fit,
                                                  cache=cache, posterior=posterior)
    if progress and fc.fit_source != "fit":
        print(f"fit reused from {fc.fit_source} (no sampling)", file=sys.stderr, flush=True)
    run = fc.forecast(horizon, draws, ss_sim, chunk_size=chunk_size,
                      keep_deal_outcomes=keep_deal_outcomes, progress=progress,
                      scheduler=scheduler)
    run.summary["seed"] = int(seed)
    return run
