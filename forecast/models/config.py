"""Model configuration (priors) kept apart from sampler configuration (how to fit).

These dataclasses are the one place of the defaults: the CLI's options, the notebooks'
parameters (``None`` = default) and the Python API all read them, as do
:data:`SIMULATED_PATHS` and :data:`HORIZON_MONTHS` for the simulation.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

#: revenue paths simulated by default (``--draws``)
SIMULATED_PATHS = 2000
#: months forecast after ``as_of`` by default (``--horizon``)
HORIZON_MONTHS = 3
#: the NUTS implementations a fit may use (``SamplerConfig.nuts_sampler``)
NUTS_SAMPLERS = ("pymc", "nutpie")


@dataclass(frozen=True)
class ModelConfig:
    """Priors of the deal-flow and arrival models (weekly hazards on the logit scale).

    Attributes
    ----------
    intercept_mu, intercept_sd
        Normal prior of the per-stage log-odds of advancing, winning or losing in a week
        (−3 ≈ a 5% weekly chance).
    duration_step_sd
        Random-walk step between successive time-in-stage buckets.
    owner_sd, segment_sd
        Prior mean of the spread of owner and segment effects (partial pooling; the
        spread has a Gamma(2, 2/scale) prior). With fewer than
        :data:`~forecast.models.flow.POOLED_MIN_SEGMENTS` segments, ``segment_sd`` is
        their effects' fixed spread (a spread cannot be learned from so few).
    covariate_sd
        Prior mean of the spread of a categorical covariate's level effects.
    numeric_sd
        Normal scale of a standardised numeric covariate's effect on the win log-odds.
    calendar_sd
        Prior mean of the spread of the quarter-calendar effects (``pipeline.yaml``:
        ``calendar: true``): per outcome, the effects of the quarter's four slots sum to
        zero, with a Gamma(2, 2/scale) spread.
    drift_sd
        Prior mean of the quarter-to-quarter step of the stage intercepts' random walk
        (``pipeline.yaml``: ``drift: true``), per outcome, Gamma(2, 2/scale).
    drift_before_sd
        Prior sd of the one level (against the walk's average quarter) of the quarters
        before the walk starts (:func:`forecast.data.cells.walk_start`), per outcome.
    arrival_intercept_sd, arrival_owner_sd, season_sd
        Priors of the monthly deal-arrival model (log rate, owner spread, month-of-year).
    inactive_after_days
        A rep with no new deal in this many days before ``as_of`` and no open deal is
        taken to have left: no new deals are simulated for them.
    group_effects
        Parametrisation of the owner and segment effects: ``"auto"`` (per outcome,
        non-centred where the median level has few events, see
        :data:`forecast.models.flow.CENTRED_MIN_EVENTS`, or the levels' raw estimates do
        not clearly differ, see :func:`forecast.models.flow.spread_is_clear`; covariate
        levels and the arrival model's owners unless they clearly differ),
        ``"centered"`` or ``"noncentered"``.
    """

    intercept_mu: float = -3.0
    intercept_sd: float = 1.5
    duration_step_sd: float = 0.5
    owner_sd: float = 0.5
    segment_sd: float = 0.5
    covariate_sd: float = 0.5
    numeric_sd: float = 0.5
    calendar_sd: float = 0.3
    drift_sd: float = 0.15
    drift_before_sd: float = 1.0
    arrival_intercept_sd: float = 2.0
    arrival_owner_sd: float = 0.5
    season_sd: float = 0.3
    inactive_after_days: int = 90
    group_effects: str = "auto"

    def __post_init__(self) -> None:
        if self.group_effects not in ("auto", "centered", "noncentered"):
            raise ValueError("group_effects must be 'auto', 'centered' or 'noncentered', "
                             f"not {self.group_effects!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SamplerConfig:
    """How the posterior is computed.

    Attributes
    ----------
    method
        ``"nuts"`` (full MCMC, the default) or ``"advi"`` (fast approximate variational fit
        for exploration; no R-hat).
    draws, tune, chains
        NUTS draws kept and tuning steps per chain; number of chains. 1,000 draws: with
        500, the first round missed the R-hat bar by a hair on every dataset measured
        (R-hat 1.010–1.015, ``docs/fit-kernel.md``) and the fit sampled a second round of
        1,000 anyway.
    cores
        Chains run in parallel on this many cores (default: up to the CPU count).
    target_accept
        NUTS target acceptance. 0.8 (PyMC's own default): on every dataset of
        ``docs/fit-convergence.json`` it met the bar with no divergence in half the leapfrog
        steps of 0.95 (15–28 per draw instead of 31). After divergences the adaptive fit
        samples again at a higher one (:data:`forecast.models.fit.TARGET_ACCEPT_STEPS`).
    nuts_sampler
        PyMC's ``nuts_sampler``: ``"pymc"`` (PyMC's own NUTS), or ``"nutpie"`` when
        installed (``pip install 'pipecast[nutpie]'``). The JAX samplers (numpyro, blackjax)
        are not offered: the flow likelihood is a numba kernel, and written in JAX it
        sampled 2.4–3.5× slower on a CPU (``docs/fit-kernel.md``).
    advi_iterations
        Optimisation steps of the ``advi`` method.
    fit_budget
        Seconds the fit may take in all (``--fit-budget``). When the first round of NUTS
        misses the convergence bar (R-hat < 1.01, no divergence, bulk ESS ≥ 400 on every
        parameter the simulation uses) the model is sampled again, with more draws or a
        higher ``target_accept``, while the next round is expected to end within the
        budget; ``0`` samples once. See :mod:`forecast.models.fit`.
    progressbar
        Show sampling progress.
    """

    method: str = "nuts"
    draws: int = 1000
    tune: int = 500
    chains: int = 2
    cores: int | None = None
    target_accept: float = 0.8
    nuts_sampler: str = "pymc"
    advi_iterations: int = 20_000
    fit_budget: float = 300.0
    progressbar: bool = True

    def __post_init__(self) -> None:
        if self.method not in ("nuts", "advi"):
            raise ValueError(f"method must be 'nuts' or 'advi', not {self.method!r}")
        if self.nuts_sampler not in NUTS_SAMPLERS:
            raise ValueError(f"nuts_sampler must be one of {', '.join(NUTS_SAMPLERS)}, not "
                             f"{self.nuts_sampler!r} (docs/fit-kernel.md)")
        if self.fit_budget < 0:
            raise ValueError(f"fit_budget must not be negative, not {self.fit_budget!r}")

    @classmethod
    def from_options(cls, **options) -> SamplerConfig:
        """A config from options where ``None`` means "the default" (a CLI flag or notebook
        parameter left unset): the defaults live here and nowhere else."""
        return cls(**{k: v for k, v in options.items() if v is not None})

    @property
    def n_cores(self) -> int:
        return self.cores or max(1, min(self.chains, os.cpu_count() or 1))

    def to_dict(self) -> dict:
        return asdict(self)
