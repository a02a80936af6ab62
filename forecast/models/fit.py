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

The fit is adaptive: each model is sampled in rounds until its diagnostics meet the bar
(R-hat < :data:`RHAT_BAR`, no divergence, bulk ESS ≥ :data:`ESS_BAR` on every parameter
the simulation uses), within ``SamplerConfig.fit_budget`` seconds: after divergences a
higher ``target_accept``, otherwise twice the draws (:func:`next_round`). The
diagnostics record every round (``rounds``) and whether the bar was met (``converged``).
A round starts only if it is expected to end within the budget, so how many rounds run
can depend on the machine's speed; with the same rounds, the same seed gives the same
draws (``fit_budget=0``: one round, always).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import replace

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from forecast.data.cells import MIN_CLOSED_QUARTERS, CellTable, build_cells, closed_quarters
from forecast.data.dataset import Dataset
from forecast.data.periods import quarter_label
from forecast.data.snapshot import Snapshot, build_snapshot
from forecast.models.amounts import fit_amounts
from forecast.models.arrivals import add_arrival_block, arrival_data, extract_arrivals
from forecast.models.config import ModelConfig, SamplerConfig
from forecast.models.flow import PER_COLUMN_VECTORS, add_flow_block, extract_flow
from forecast.models.month_variation import month_counts, month_sigma_draws
from forecast.models.seasonal import (
    MIN_YEARS,
    fewest_per_month,
    season_draws,
    season_supported,
)
from forecast.posterior import (
    OUTCOMES,
    FlowPosterior,
    ModelIndex,
    PipelinePosterior,
    snapshot_fingerprint,
)
from forecast.seeds import child_seeds

_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: the arrival model is sampled this many times longer, then thinned to the flow's draws
ARRIVAL_THIN = 2
#: the convergence bar on every parameter the simulation uses
RHAT_BAR = 1.01
ESS_BAR = 400.0
#: target_accept of the rounds after divergences
TARGET_ACCEPT_STEPS = (0.95, 0.99)
#: rounds of sampling per model at most
MAX_ROUNDS = 4
#: the posterior variables the simulation reads (and ``beta[...]``)
SIMULATION_PARAMS = ("a", "dur", "owner_eff", "segment_eff", "sigma_owner", "calendar",
                     "drift", "sigma_drift",
                     "arr_b0", "arr_owner_eff", "arr_season", "arr_alpha")


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


def time_effects_withheld(snapshot: Snapshot, fiscal_year_start: int = 1
                          ) -> tuple[tuple[str, ...], int]:
    """The time effects ``pipeline.yaml`` turns on (``calendar``, ``drift``, ``seasonal``)
    that the snapshot's history cannot carry yet — all of them while it holds fewer than
    :data:`~forecast.data.cells.MIN_CLOSED_QUARTERS` whole quarters of closes
    (:func:`~forecast.data.cells.closed_quarters`) — and how many it holds."""
    cfg = snapshot.dataset.config
    asked = tuple(k for k in ("calendar", "drift", "seasonal") if getattr(cfg, k))
    if not asked:
        return (), 0
    sp = snapshot.spells
    closes = sp.loc[sp["outcome"].isin(["won", "lost"]).to_numpy(), "end"]
    n = closed_quarters(closes.to_numpy().astype("datetime64[D]"),
                        np.datetime64(snapshot.as_of.date(), "D"), fiscal_year_start)
    return (asked if n < MIN_CLOSED_QUARTERS else ()), n


def spell_cells(snapshot: Snapshot, index: ModelIndex,
                first_month: np.datetime64 | None = None,
                withheld: tuple[str, ...] | None = None) -> CellTable:
    """Exposure cells of a snapshot's spells under a model index (with ``first_month`` and
    the calendar on: split by calendar month too, see :func:`build_cells`).

    The calendar and drift of ``pipeline.yaml`` split the cells only once the history holds
    a whole quarter of closes (:func:`time_effects_withheld`; ``withheld``: its answer, when
    the caller has it already)."""
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

    cfg = snapshot.dataset.config
    if withheld is None:
        withheld = time_effects_withheld(snapshot, index.fiscal_year_start)[0]
    return build_cells(
        sp, per_spell(codes["owner"]), per_spell(codes["segment"]), per_spell(codes["pattern"]),
        n_stages=len(index.stages), n_owners=len(index.owners),
        n_segments=len(index.segments), n_patterns=len(index.patterns),
        calendar=cfg.calendar and "calendar" not in withheld,
        fiscal_year_start=index.fiscal_year_start, first_month=first_month,
        drift=cfg.drift and "drift" not in withheld,
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


def simulation_params(posterior) -> list[str]:
    """Names of the posterior variables the simulation reads (the convergence bar's)."""
    return [v for v in posterior.data_vars
            if v in SIMULATION_PARAMS or (str(v).startswith("beta[") and str(v).endswith("]"))]


def _extremes(idata, names: list[str]) -> tuple[float, str, float, str]:
    """Worst R-hat and bulk ESS over ``names``, with the variables they belong to."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(idata, var_names=names)
        ess = az.ess(idata, var_names=names, method="bulk")
    # constant entries (the zero first duration bucket) have no R-hat: skip them
    r = {v: float(np.nanmax(rhat[v].values, initial=-np.inf)) for v in rhat.data_vars}
    e = {v: float(np.nanmin(ess[v].values, initial=np.inf)) for v in ess.data_vars}
    r_worst = max(r, key=r.get)
    e_worst = min(e, key=e.get)
    return r[r_worst], r_worst, e[e_worst], e_worst


def meets_bar(diag: dict) -> bool:
    """Whether a fit's diagnostics meet the convergence bar (:data:`RHAT_BAR`, no
    divergence, :data:`ESS_BAR`)."""
    return bool(diag["rhat_max"] < RHAT_BAR and diag["divergences"] == 0
                and diag["ess_bulk_min"] >= ESS_BAR)


def convergence(idata, method: str, seconds: float) -> dict:
    """R-hat max, bulk ESS min and divergences of a fit (NaN-free, JSON-ready).

    ``rhat_max``/``ess_bulk_min`` (and the variables they come from) are over the
    parameters the simulation uses (:func:`simulation_params`); ``rhat_max_all`` over
    every variable, hyper-parameters included (a covariate block's vectors through their
    per-column deterministics). ``converged`` says whether the bar is met.
    """
    out: dict = {"method": method, "fit_seconds": round(seconds, 2)}
    if method != "nuts":
        out.update(rhat_max=None, ess_bulk_min=None, divergences=None,
                   note="variational approximation: no convergence diagnostics")
        return out
    used = simulation_params(idata.posterior) or list(idata.posterior.data_vars)
    r, r_name, e, e_name = _extremes(idata, used)
    every = [v for v in idata.posterior.data_vars if v not in PER_COLUMN_VECTORS]
    r_all, r_all_name, _, _ = _extremes(idata, every)
    out.update(rhat_max=r, rhat_worst=r_name, ess_bulk_min=e, ess_worst=e_name,
               rhat_max_all=r_all, rhat_worst_all=r_all_name)
    out["divergences"] = int(idata.sample_stats["diverging"].sum())
    out["draws"] = int(idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"])
    out["chains"] = int(idata.posterior.sizes["chain"])
    out["converged"] = meets_bar(out)
    return out


def next_round(diag: dict, draws: int, target_accept: float) -> tuple[int, float]:
    """Settings of the next round after one that missed the bar: a higher target_accept
    after divergences (more draws would not remove them) while one of
    :data:`TARGET_ACCEPT_STEPS` is left, else twice the draws."""
    if diag["divergences"] > 0:
        higher = [t for t in TARGET_ACCEPT_STEPS if t > target_accept]
        if higher:
            return draws, higher[0]
    return 2 * draws, target_accept


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
    snapshot, index, cells, idata, posterior; withheld (:func:`time_effects_withheld` of the
    snapshot, set by :meth:`build_models`)
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
        self.withheld = time_effects_withheld(snapshot, self.index.fiscal_year_start)
        self.cells = spell_cells(snapshot, self.index, withheld=self.withheld[0])
        self._arrivals = arrival_data(snapshot, list(self.index.owners), self.model_config)
        with pm.Model() as flow:
            add_flow_block(self.cells, self.index.covariates, self.index.patterns,
                           self.model_config, quarter_labels=self.quarter_labels())
        with pm.Model() as arrivals:
            add_arrival_block(self._arrivals, len(self.index.owners), self.model_config)
        return flow, arrivals

    def quarter_labels(self) -> list[str]:
        """Names of the fitted cells' fiscal quarters (``drift: true``; see
        :func:`~forecast.data.periods.quarter_label`)."""
        first = self.cells.first_quarter
        return [quarter_label(first + q, self.index.fiscal_year_start)
                for q in range(self.cells.n_quarters)]

    def _drift_summary(self, flow: FlowPosterior) -> dict:
        """The drift's quarters, each outcome's level per quarter against the last (mean,
        3% and 97% quantiles), the step's spread and the walk's first quarter (those before
        it share one level: :func:`forecast.data.cells.walk_start`), for the diagnostics."""
        labels = self.quarter_labels()
        out: dict = {"quarters": labels, "walk_start": labels[self.cells.walk_start]}
        for k, name in enumerate(OUTCOMES):
            lo, hi = np.quantile(flow.drift[:, k], [0.03, 0.97], axis=0)
            out[name] = {"mean": np.round(flow.drift[:, k].mean(axis=0), 4).tolist(),
                         "q3%": np.round(lo, 4).tolist(), "q97%": np.round(hi, 4).tolist(),
                         "sigma_mean": round(float(flow.drift_sigma[:, k].mean()), 4)}
        return out

    def _month_variation(self, snapshot: Snapshot, flow: FlowPosterior,
                         seed: np.random.SeedSequence) -> tuple[FlowPosterior, dict]:
        """``flow`` with the spread of the month effects (:mod:`month_variation`) and, with
        ``seasonal: true`` where the history supports it, the month-of-year effects
        (:mod:`seasonal`), and a summary of them for the diagnostics."""
        first = np.datetime64(snapshot.spells["start"].min().date(), "M")
        cells = spell_cells(snapshot, self.index, first_month=first, withheld=self.withheld[0])
        counts = month_counts(cells, first, flow, self.index.covariates, self.index.patterns)
        rng = np.random.default_rng(seed)
        season = None
        summary: dict = {"months": len(counts.months)}
        if snapshot.dataset.config.seasonal and season_supported(counts.months):
            sigma, season, summary["season"] = season_draws(counts, flow.n_draws, rng)
        else:
            sigma = month_sigma_draws(counts, flow.n_draws, rng)
            if snapshot.dataset.config.seasonal:
                summary["season"] = {"withheld": True,
                                     "fewest_per_month": fewest_per_month(counts.months),
                                     "needed_per_month": MIN_YEARS}
        for k, name in ((1, "won"), (2, "lost")):
            lo, hi = np.quantile(sigma[:, k], [0.03, 0.97])
            summary[f"sigma_{name}"] = {"mean": round(float(sigma[:, k].mean()), 4),
                                        "q3%": round(float(lo), 4),
                                        "q97%": round(float(hi), 4)}
        return replace(flow, month_sigma=sigma, month_of_year=season), summary

    def _sample(self, model: pm.Model, seed: int, thin: int = 1, draws: int | None = None,
                target_accept: float | None = None):
        """Posterior draws of one model by the configured method (``thin``: sample that
        many times more NUTS draws and keep every ``thin``-th; a divergence anywhere in a
        kept draw's window marks the kept draw; ``draws`` and ``target_accept`` replace
        the configured ones)."""
        sc = self.sampler_config
        draws = draws or sc.draws
        target_accept = target_accept or sc.target_accept
        with model:
            if sc.method != "nuts":
                approx = pm.fit(n=sc.advi_iterations, method="advi", random_seed=seed,
                                progressbar=sc.progressbar)
                return approx.sample(sc.draws * sc.chains, random_seed=seed)
            idata = pm.sample(
                draws=draws * thin, tune=sc.tune, chains=sc.chains, cores=sc.n_cores,
                target_accept=target_accept, random_seed=seed,
                progressbar=sc.progressbar, nuts_sampler=sc.nuts_sampler,
                compute_convergence_checks=False)
        if thin == 1:
            return idata
        div = idata.sample_stats["diverging"].values
        kept = idata.sel(draw=slice(thin - 1, None, thin))
        kept.sample_stats["diverging"].values = div.reshape(
            div.shape[0], -1, thin).any(axis=-1)
        return kept

    def _sample_until_converged(self, model: pm.Model, name: str, seed: int, deadline: float,
                                draws: int, thin: int = 1) -> tuple[object, list[dict]]:
        """Sample ``model`` in rounds until the bar is met, :data:`MAX_ROUNDS` are done or
        the next round is not expected to end before ``deadline`` (``perf_counter`` s).

        Round 1 uses the configured settings and ``seed``; each later one (see
        :func:`next_round`) starts afresh from a child seed of ``seed``. The arrival
        model keeps ``draws`` (the flow's) and takes more draws by thinning more, so the
        two posteriors stay the same size. Returns the last round's draws and a record of
        every round.
        """
        sc = self.sampler_config
        target_accept, rounds, seeds = sc.target_accept, [], child_seeds(seed, MAX_ROUNDS)
        while True:
            t = time.perf_counter()
            idata = self._sample(model, seed if not rounds else seeds[len(rounds)],
                                 thin=thin, draws=draws, target_accept=target_accept)
            seconds = time.perf_counter() - t
            if sc.method != "nuts":
                return idata, rounds
            diag = convergence(idata, sc.method, seconds)
            rounds.append({"model": name, "draws": draws * thin, "kept": draws,
                           "tune": sc.tune, "target_accept": target_accept,
                           "seconds": round(seconds, 2), "rhat_max": round(diag["rhat_max"], 4),
                           "rhat_worst": diag["rhat_worst"], "divergences": diag["divergences"],
                           "ess_bulk_min": round(diag["ess_bulk_min"], 1),
                           "met": diag["converged"]})
            if diag["converged"] or len(rounds) >= MAX_ROUNDS:
                return idata, rounds
            new_draws, new_target = next_round(diag, draws * thin, target_accept)
            cost = seconds * (sc.tune + new_draws) / (sc.tune + draws * thin)
            if new_target > target_accept:
                cost *= 1.5  # smaller steps, longer trajectories
            if time.perf_counter() + cost > deadline:
                return idata, rounds
            target_accept = new_target
            if name == "flow":
                draws = new_draws
            else:
                thin = new_draws // draws

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
        ss_fit, ss_amount, ss_month = np.random.SeedSequence(seed).spawn(3)
        flow_model, arrival_model = self.build_models(snapshot)
        sc = self.sampler_config
        flow_seed, arrival_seed = (int(x) for x in ss_fit.generate_state(2))
        t0 = time.perf_counter()
        deadline = t0 + sc.fit_budget
        with warnings.catch_warnings(), single_threaded_blas():
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=UserWarning)
            flow_idata, flow_rounds = self._sample_until_converged(
                flow_model, "flow", flow_seed, deadline, sc.draws)
            draws = int(flow_idata.posterior.sizes["draw"])
            arrival_idata, arrival_rounds = self._sample_until_converged(
                arrival_model, "arrivals", arrival_seed, deadline, draws, thin=ARRIVAL_THIN)
        self.idata = merge_draws(flow_idata, arrival_idata)
        seconds = time.perf_counter() - t0
        post = self.idata.posterior
        flow = extract_flow(post, self.cells, self.index.covariates)
        arrivals = extract_arrivals(post, self._arrivals, len(self.index.owners))
        amounts = fit_amounts(snapshot, list(self.index.owners), list(self.index.segments),
                              flow.n_draws, np.random.default_rng(ss_amount))
        if self.cells.n_slots > 1:  # the calendar: also the months' own variation
            flow, diag_months = self._month_variation(snapshot, flow, ss_month)
        diag = convergence(self.idata, sc.method, seconds)
        if self.cells.n_slots > 1:
            diag["month_variation"] = diag_months
        if flow.drift is not None:
            diag["drift"] = self._drift_summary(flow)
        withheld, quarters = self.withheld
        if withheld:
            diag["time_effects_withheld"] = {"effects": list(withheld),
                                             "full_quarters": quarters,
                                             "needed": MIN_CLOSED_QUARTERS}
        if sc.method == "nuts":
            diag["rounds"] = flow_rounds + arrival_rounds
            diag["fit_budget"] = sc.fit_budget if np.isfinite(sc.fit_budget) else None
            diag["bar"] = {"rhat_below": RHAT_BAR, "divergences": 0, "ess_bulk_min": ESS_BAR}
        diag["n_cells"] = int(self.cells.n_cells)
        diag["n_deals"] = int(len(snapshot.deals))
        diag["amount_ratio_learned"] = bool(amounts.ratio_learned)
        self.posterior = PipelinePosterior(
            index=self.index, flow=flow, arrivals=arrivals, amounts=amounts, diagnostics=diag,
            fingerprint=snapshot_fingerprint(snapshot),
            config={"model": self.model_config.to_dict(), "sampler": sc.to_dict(),
                    "seed": seed})
        return self
