"""Fit everything a revenue forecast needs at an ``as_of`` date.

>>> fit = ModelFitter().fit(dataset, as_of="2026-10-31", seed=1)   # doctest: +SKIP
>>> fit.posterior.diagnostics                                        # doctest: +SKIP

``fit`` builds the point-in-time snapshot, aggregates exposure cells, builds the PyMC
deal-flow and arrival models (:meth:`build_models`, usable on their own), samples them, and
draws the conjugate amount models; it returns ``self``. The two models share no parameter,
so their joint posterior is the product of their posteriors: each is sampled on its own,
with its own step size and mass matrix, and the small arrival model with
:data:`ARRIVAL_THIN` times the draws, thinned (its draws are cheap and its month-of-year
effects mix slowly).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from forecast.data.cells import CellTable, build_cells
from forecast.data.dataset import Dataset
from forecast.data.snapshot import Snapshot, build_snapshot
from forecast.models.amounts import fit_amounts
from forecast.models.arrivals import add_arrival_block, arrival_data, extract_arrivals
from forecast.models.config import ModelConfig, SamplerConfig
from forecast.models.flow import add_flow_block, extract_flow
from forecast.posterior import ModelIndex, PipelinePosterior, snapshot_fingerprint

_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: the arrival model is sampled this many times longer, then thinned to the flow's draws
ARRIVAL_THIN = 4


@contextlib.contextmanager
def single_threaded_blas():
    """One BLAS thread per process while sampling (chain processes started inside inherit it).

    The chains already fill the cores; OpenBLAS threads fighting over them made each
    gradient many times slower (50 ms instead of 5 ms on 2 busy cores).
    """
    from threadpoolctl import threadpool_limits

    saved = {k: os.environ.get(k) for k in _BLAS_THREAD_VARS}
    os.environ.update({k: "1" for k in _BLAS_THREAD_VARS})
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def spell_cells(snapshot: Snapshot, index: ModelIndex) -> CellTable:
    """Exposure cells of a snapshot's spells under a model index."""
    from forecast.data.snapshot import positions  # (kept off the module's imports)

    codes = index.codes(snapshot.deals)
    sp = snapshot.spells
    deal = positions(snapshot.deals["deal_id"], sp["deal_id"])
    unknown = deal < 0

    def per_spell(code: np.ndarray) -> np.ndarray:
        out = code[deal] if code.dtype.kind == "f" else code.astype(np.int32)[deal]
        if unknown.any():  # a spell of no deal in ``deals`` has no code (NaN), as a map gives
            out = out.astype(float)
            out[unknown] = np.nan
        return out

    return build_cells(
        sp, per_spell(codes["owner"]), per_spell(codes["segment"]), per_spell(codes["pattern"]),
        n_stages=len(index.stages), n_owners=len(index.owners),
        n_segments=len(index.segments), n_patterns=len(index.patterns),
    )


def merge_draws(first, second):
    """One InferenceData holding the posterior draws of two independently sampled models
    (same chains and draws); a draw counts as divergent if it is in either."""
    post = second.posterior.assign_coords(chain=first.posterior.chain, draw=first.posterior.draw)
    out = first.copy()
    out.posterior = first.posterior.merge(post, compat="no_conflicts",
                                          combine_attrs="drop_conflicts")
    if "sample_stats" in first and "sample_stats" in second:
        div = second.sample_stats["diverging"].values
        out.sample_stats["diverging"].values = first.sample_stats["diverging"].values | div
    return out


def convergence(idata, method: str, seconds: float) -> dict:
    """R-hat max, bulk ESS min and divergences of a fit (NaN-free, JSON-ready)."""
    out: dict = {"method": method, "fit_seconds": round(seconds, 2)}
    if method != "nuts":
        out.update(rhat_max=None, ess_bulk_min=None, divergences=None,
                   note="variational approximation: no convergence diagnostics")
        return out
    names = [v for v in idata.posterior.data_vars]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(idata, var_names=names)
        ess = az.ess(idata, var_names=names, method="bulk")
    r = {v: float(np.nanmax(rhat[v].values, initial=np.nan)) for v in rhat.data_vars}
    e = {v: float(np.nanmin(ess[v].values, initial=np.nan)) for v in ess.data_vars}
    worst = max((v for v in r if not np.isnan(r[v])), key=r.get)
    out["rhat_max"] = r[worst]
    out["rhat_worst"] = worst
    out["ess_bulk_min"] = float(np.nanmin(list(e.values())))
    out["divergences"] = int(idata.sample_stats["diverging"].sum())
    out["draws"] = int(idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"])
    out["chains"] = int(idata.posterior.sizes["chain"])
    out["converged"] = bool(out["rhat_max"] < 1.01 and out["divergences"] == 0)
    return out


class ModelFitter:
    """Bayesian deal-flow, arrival and amount models fitted at one ``as_of``.

    Parameters
    ----------
    model_config
        Priors (:class:`~forecast.models.config.ModelConfig`).
    sampler_config
        How to fit (:class:`~forecast.models.config.SamplerConfig`).

    Attributes (after ``fit``)
    --------------------------
    snapshot, index, cells, idata, posterior
    """

    def __init__(self, model_config: ModelConfig | None = None,
                 sampler_config: SamplerConfig | None = None):
        self.model_config = model_config or ModelConfig()
        self.sampler_config = sampler_config or SamplerConfig()
        self.snapshot: Snapshot | None = None
        self.index: ModelIndex | None = None
        self.cells: CellTable | None = None
        self.idata = None
        self.posterior: PipelinePosterior | None = None

    def build_models(self, snapshot: Snapshot) -> tuple[pm.Model, pm.Model]:
        """The PyMC deal-flow and arrival models of ``snapshot``, without fitting them."""
        self.snapshot = snapshot
        self.index = ModelIndex.from_snapshot(snapshot)
        self.cells = spell_cells(snapshot, self.index)
        self._arrivals = arrival_data(snapshot, list(self.index.owners), self.model_config)
        with pm.Model() as flow:
            add_flow_block(self.cells, self.index.covariates, self.index.patterns,
                           self.model_config)
        with pm.Model() as arrivals:
            add_arrival_block(self._arrivals, len(self.index.owners), self.model_config)
        return flow, arrivals

    def _sample(self, model: pm.Model, seed: int, thin: int = 1):
        """Posterior draws of one model by the configured method (``thin``: sample that
        many times more NUTS draws and keep every ``thin``-th; a divergence anywhere in a
        kept draw's window marks the kept draw)."""
        sc = self.sampler_config
        with model:
            if sc.method != "nuts":
                approx = pm.fit(n=sc.advi_iterations, method="advi", random_seed=seed,
                                progressbar=sc.progressbar)
                return approx.sample(sc.draws * sc.chains, random_seed=seed)
            idata = pm.sample(
                draws=sc.draws * thin, tune=sc.tune, chains=sc.chains, cores=sc.n_cores,
                target_accept=sc.target_accept, random_seed=seed,
                progressbar=sc.progressbar, nuts_sampler=sc.nuts_sampler,
                compute_convergence_checks=False)
        if thin == 1:
            return idata
        div = idata.sample_stats["diverging"].values
        kept = idata.sel(draw=slice(thin - 1, None, thin))
        kept.sample_stats["diverging"].values = div.reshape(
            div.shape[0], -1, thin).any(axis=-1)
        return kept

    def fit(self, dataset: Dataset | Snapshot, as_of: str | pd.Timestamp | None = None,
            seed: int = 0) -> ModelFitter:
        """Fit on what was known at ``as_of``; returns ``self``.

        Parameters
        ----------
        dataset
            A :class:`Dataset` (then ``as_of`` is required) or a ready :class:`Snapshot`.
        as_of
            The forecast date.
        seed
            Seed of the fit; child seeds for sampling and the amount models come from
            ``numpy.random.SeedSequence(seed)``.
        """
        if isinstance(dataset, Snapshot):
            snapshot = dataset
        else:
            if as_of is None:
                raise ValueError("as_of is required: pass the forecast date explicitly")
            snapshot = build_snapshot(dataset, as_of)
        ss_fit, ss_amount = np.random.SeedSequence(seed).spawn(2)
        flow_model, arrival_model = self.build_models(snapshot)
        sc = self.sampler_config
        flow_seed, arrival_seed = (int(x) for x in ss_fit.generate_state(2))
        t0 = time.perf_counter()
        with warnings.catch_warnings(), single_threaded_blas():
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=UserWarning)
            flow_idata = self._sample(flow_model, flow_seed)
            arrival_idata = self._sample(arrival_model, arrival_seed, thin=ARRIVAL_THIN)
        self.idata = merge_draws(flow_idata, arrival_idata)
        seconds = time.perf_counter() - t0
        post = self.idata.posterior
        flow = extract_flow(post, self.cells, self.index.covariates)
        arrivals = extract_arrivals(post, self._arrivals, len(self.index.owners))
        amounts = fit_amounts(snapshot, list(self.index.owners), list(self.index.segments),
                              flow.n_draws, np.random.default_rng(ss_amount))
        diag = convergence(self.idata, sc.method, seconds)
        diag["n_cells"] = int(self.cells.n_cells)
        diag["n_deals"] = int(len(snapshot.deals))
        diag["amount_ratio_learned"] = bool(amounts.ratio_learned)
        self.posterior = PipelinePosterior(
            index=self.index, flow=flow, arrivals=arrivals, amounts=amounts, diagnostics=diag,
            fingerprint=snapshot_fingerprint(snapshot),
            config={"model": self.model_config.to_dict(), "sampler": sc.to_dict(),
                    "seed": seed})
        return self
