"""The fitted state of a forecast as plain arrays: model index, posterior draws, diagnostics.

This module is PyMC-free on purpose: the simulation engine, scenarios and deal scores read
a fitted posterior through it without importing the modelling stack
(:mod:`forecast.models` builds and samples the PyMC models and fills these structures).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.covariates import CovariateSpec, pattern_codes
from forecast.data.dataset import current_teams
from forecast.data.snapshot import Snapshot

FORMAT_VERSION = 1
#: the deal-flow model's outcomes besides staying, in the order of every ``(…, 3, …)`` axis
OUTCOMES = ("advance", "won", "lost")
#: weight of the covariates' log odds ratio x·β in each outcome's logit
COV_SIGN = np.array([0.0, 0.5, -0.5])


def stack_draws(posterior, name: str) -> np.ndarray:
    """``(chain, draw, ...)`` → ``(chain·draw, ...)`` numpy array of an ArviZ posterior group."""
    v = posterior[name].values
    return v.reshape((-1,) + v.shape[2:])


@dataclass(frozen=True)
class FlowPosterior:
    """Posterior draws of the deal-flow model as plain arrays (``P`` draws).

    Attributes
    ----------
    a
        ``(P, 3, n_stages)`` stage intercepts (advance, won, lost).
    dur
        ``(P, 3, n_buckets)`` time-in-stage effects.
    owner_eff
        ``(P, 3, n_owners)``; zeros when there is one owner.
    segment_eff
        ``(P, 3, n_segments)``; zeros when there is one segment.
    sigma_owner
        ``(P, 3)`` spread of owner effects (for new reps).
    beta_cat
        Per categorical covariate, ``(P, n_levels)`` effects on the win log-odds.
    beta_num
        ``(P, n_numeric)`` effects of standardised numeric covariates.
    calendar
        ``(P, 3, 4)`` float64 quarter-calendar effects on the logits of (advance, won,
        lost) of a week starting in each slot of its fiscal quarter
        (:data:`~forecast.data.periods.QUARTER_SLOTS`: month 1, 2, 3, last two weeks; slot
        of a day: ``quarter_slot(day, index.fiscal_year_start)``); ``None`` when the
        model has no calendar (``pipeline.yaml``: ``calendar: false``, the default).
    month_sigma
        ``(P, 3)`` spread of a calendar month's own effect on the logits of (advance, won,
        lost) (:mod:`forecast.models.month_variation`; advance 0); the simulation draws
        each future month's afresh. ``None`` without the calendar.
    month_of_year
        ``(P, 3, 12)`` month-of-year effects on the logits of (advance: 0, won, lost) of a
        week starting in each month of the year, January first
        (:mod:`forecast.models.seasonal`); ``None`` without ``seasonal: true`` or before the
        history holds every month of the year twice.
    drift
        ``(P, 3, n_quarters)`` drift of the (advance, won, lost) intercepts over the
        history's fiscal quarters, 0 at the last (``a`` is its level); ``None`` without
        drift (``pipeline.yaml``: ``drift: false``, the default).
    drift_sigma
        ``(P, 3)`` standard deviation of a quarter's step of that random walk; the
        simulation draws the steps of future quarters. ``None`` without drift.
    """

    a: np.ndarray
    dur: np.ndarray
    owner_eff: np.ndarray
    segment_eff: np.ndarray
    sigma_owner: np.ndarray
    beta_cat: list[np.ndarray]
    beta_num: np.ndarray
    calendar: np.ndarray | None = None
    month_sigma: np.ndarray | None = None
    month_of_year: np.ndarray | None = None
    drift: np.ndarray | None = None
    drift_sigma: np.ndarray | None = None

    @property
    def n_draws(self) -> int:
        return self.a.shape[0]


@dataclass(frozen=True)
class ArrivalPosterior:
    """Posterior draws of the arrival model: ``b0 (P,)``, ``owner_eff (P, O)``,
    ``season (P, 12)``, ``alpha (P,)``, and which owners are ``active``."""

    b0: np.ndarray
    owner_eff: np.ndarray
    season: np.ndarray
    alpha: np.ndarray
    active: np.ndarray


@dataclass(frozen=True)
class AmountPosterior:
    """Draws of deal-size parameters.

    Attributes
    ----------
    mu, sigma
        ``(P, n_segments)`` log-normal parameters of a won deal's booked amount.
    ratio_mu, ratio_sigma
        ``(P,)`` log-normal parameters of booked ÷ expected amount (zeros if not learned).
    ratio_learned
        Whether ``expected_amount`` was there to learn the ratio from.
    segment_mix
        ``(P, n_owners, n_segments)`` segment probabilities of each owner's new deals.
    entry_stage
        ``(P, n_stages)`` probabilities of the stage a new deal is created in.
    """

    mu: np.ndarray
    sigma: np.ndarray
    ratio_mu: np.ndarray
    ratio_sigma: np.ndarray
    ratio_learned: bool
    segment_mix: np.ndarray
    entry_stage: np.ndarray


@dataclass(frozen=True)
class ModelIndex:
    """The code spaces the model was fitted on: names of stages, owners, segments, teams,
    the covariate encoding with its patterns, and the month the fiscal year starts in
    (``fiscal_year_start``, 1..12: the quarters of the calendar effects)."""

    as_of: str
    stages: tuple[str, ...]
    owners: tuple[str, ...]
    segments: tuple[str, ...]
    owner_team: dict[str, str]
    covariates: CovariateSpec = field(default_factory=CovariateSpec)
    patterns: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))
    fiscal_year_start: int = 1

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> ModelIndex:
        deals = snapshot.deals
        spec = CovariateSpec.fit(deals, snapshot.dataset.config.covariates)
        _, patterns = pattern_codes(spec.encode(deals))
        return cls(as_of=str(snapshot.as_of.date()), stages=tuple(snapshot.stages),
                   owners=tuple(sorted(deals["owner"].unique())),
                   segments=tuple(sorted(deals["segment"].unique())),
                   owner_team=current_teams(deals), covariates=spec, patterns=patterns,
                   fiscal_year_start=int(snapshot.dataset.config.fiscal_year_start))

    def codes(self, deals: pd.DataFrame) -> dict[str, np.ndarray]:
        """Integer owner, segment and pattern codes of ``deals`` (unknown pattern → new
        code ``len(patterns)``, whose covariate effect is computed from its own values)."""
        from forecast.data.covariates import pattern_index  # (kept off the module's imports)

        def _name_codes(values: pd.Series, names: tuple[str, ...]) -> np.ndarray:
            # each distinct value looked up once; an unknown one gives NaN (float codes)
            code, uniques = pd.factorize(values)
            pos = pd.Index(names).get_indexer(uniques)[code]
            if (code < 0).any() or (pos < 0).any():
                return np.where((code < 0) | (pos < 0), np.nan, pos)
            return pos.astype(np.int64)

        owner = _name_codes(deals["owner"], self.owners)
        segment = _name_codes(deals["segment"], self.segments)
        enc = self.covariates.encode(deals)
        return {"owner": owner, "segment": segment,
                "pattern": pattern_index(self.patterns, enc), "encoded": enc}

    def to_dict(self) -> dict:
        return {"as_of": self.as_of, "stages": list(self.stages), "owners": list(self.owners),
                "segments": list(self.segments), "owner_team": self.owner_team,
                "covariates": self.covariates.to_dict(), "patterns": self.patterns.tolist(),
                "fiscal_year_start": int(self.fiscal_year_start)}

    @classmethod
    def from_dict(cls, d: dict) -> ModelIndex:
        spec = CovariateSpec.from_dict(d["covariates"])
        # (rows, columns) by count: without covariates every row is empty, and reshape(-1, 0)
        # cannot infer the number of rows
        pats = np.asarray(d["patterns"], dtype=float).reshape(len(d["patterns"]),
                                                               spec.n_columns)
        return cls(as_of=d["as_of"], stages=tuple(d["stages"]), owners=tuple(d["owners"]),
                   segments=tuple(d["segments"]), owner_team=dict(d["owner_team"]),
                   covariates=spec, patterns=pats,
                   fiscal_year_start=int(d.get("fiscal_year_start", 1)))


def snapshot_fingerprint(snapshot: Snapshot) -> str:
    """A hash of what the model saw: the snapshot's deals and spells."""
    cols = ["deal_id", "status", "stage_idx", "owner", "segment", "amount"]
    h = hashlib.sha256()
    h.update(str(snapshot.as_of.date()).encode())
    h.update(pd.util.hash_pandas_object(snapshot.deals[cols], index=False).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(snapshot.spells[["deal_id", "stage_idx", "start", "end"]],
                                        index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class PipelinePosterior:
    """Everything the simulator needs: index, flow, arrival and amount posterior draws."""

    index: ModelIndex
    flow: FlowPosterior
    arrivals: ArrivalPosterior
    amounts: AmountPosterior
    diagnostics: dict
    fingerprint: str
    config: dict

    @property
    def n_draws(self) -> int:
        return self.flow.n_draws

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """The draws as named arrays (``flow.a``, ``flow.beta_cat.0``, ``arrivals.b0``, …) and
        the JSON-ready rest (index, diagnostics, fingerprint, configuration)."""
        arrays = {f"flow.{k}": np.asarray(v) for k, v in asdict(self.flow).items()
                  if k != "beta_cat" and v is not None}
        arrays.update({f"flow.beta_cat.{i}": np.asarray(b)
                       for i, b in enumerate(self.flow.beta_cat)})
        arrays.update({f"arrivals.{k}": np.asarray(v) for k, v in asdict(self.arrivals).items()})
        arrays.update({f"amounts.{k}": np.asarray(v) for k, v in asdict(self.amounts).items()})
        meta = {"format_version": FORMAT_VERSION, "index": self.index.to_dict(),
                "diagnostics": self.diagnostics, "fingerprint": self.fingerprint,
                "config": self.config, "n_beta_cat": len(self.flow.beta_cat)}
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> PipelinePosterior:
        """Inverse of :meth:`to_arrays` (arrays of fields added later may be absent: a
        posterior saved without them reads with their defaults)."""
        def group(prefix: str) -> dict:
            return {k.split(".", 1)[1]: v for k, v in arrays.items()
                    if k.startswith(prefix + ".") and ".beta_cat." not in k}

        fl = group("flow")
        fl["beta_cat"] = [arrays[f"flow.beta_cat.{i}"] for i in range(meta["n_beta_cat"])]
        am = group("amounts")
        am["ratio_learned"] = bool(am["ratio_learned"])
        return cls(index=ModelIndex.from_dict(meta["index"]), flow=FlowPosterior(**fl),
                   arrivals=ArrivalPosterior(**group("arrivals")), amounts=AmountPosterior(**am),
                   diagnostics=meta["diagnostics"], fingerprint=meta["fingerprint"],
                   config=meta["config"])

    def save(self, path: str | Path) -> None:
        """Write to one ``.npz`` file (arrays plus JSON metadata); the fitted state users
        share is the ArviZ netCDF file of :mod:`forecast.models.store`."""
        arrays, meta = self.to_arrays()
        np.savez_compressed(Path(path), __meta__=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path: str | Path, snapshot: Snapshot | None = None) -> PipelinePosterior:
        """Read a saved posterior; with ``snapshot``, check it was fitted on the same data."""
        z = np.load(Path(path), allow_pickle=False)
        meta = json.loads(str(z["__meta__"]))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: format version {meta.get('format_version')} is not "
                             f"{FORMAT_VERSION}; refit the model")
        if snapshot is not None and snapshot_fingerprint(snapshot) != meta["fingerprint"]:
            raise ValueError(f"{path} was fitted on other data or another as_of than the "
                             "snapshot given; refit the model")
        return cls.from_arrays({k: z[k] for k in z.files if k != "__meta__"}, meta)
