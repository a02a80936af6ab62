"""A dataset directory (see CONTRACT.md): ``deals``, ``stage_history``, ``quotas``, ``pipeline.yaml``.

:func:`load_dataset` reads and validates it in one pass and raises
:class:`~forecast.data.problems.DataValidationError` listing every problem; a dataset that
loads has every row of every file in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from forecast.data.config import (
    DEFAULT_STAGES,
    PipelineConfig,
    default_crm_probabilities,
    read_pipeline_yaml,
)
from forecast.data.problems import DataValidationError, Problem
from forecast.data.validation import check_deals, check_history, check_quotas


def current_teams(deals: pd.DataFrame) -> dict[str, str]:
    """Each rep's team: the team on the rep's most recently created deal (ties by
    ``deal_id``). The one definition of "a rep's team": pass the deals known at a date for
    the team at that date."""
    d = deals.sort_values(["created_at", "deal_id"])
    return d.groupby("owner")["team"].last().astype(str).to_dict()


@dataclass(frozen=True)
class Dataset:
    """A validated dataset: typed frames plus the pipeline configuration.

    Attributes
    ----------
    deals
        One row per deal: ``deal_id``, ``created_at``, ``stage``, ``status``, ``closed_at``,
        ``amount``, ``owner``, ``segment``, ``team`` and any extra columns.
    config
        Stage order, CRM probabilities and covariates.
    stage_history
        One row per stage a deal entered, or ``None``.
    quotas
        ``owner``, ``period``, ``quota`` rows, or ``None``.
    source
        Where it was read from (for messages).
    """

    deals: pd.DataFrame
    config: PipelineConfig
    stage_history: pd.DataFrame | None = None
    quotas: pd.DataFrame | None = None
    source: str = "<memory>"
    extras: dict = field(default_factory=dict)

    @property
    def stages(self) -> tuple[str, ...]:
        return self.config.stages

    @property
    def owners(self) -> list[str]:
        return sorted(self.deals["owner"].unique())

    @property
    def last_date(self) -> pd.Timestamp:
        """The latest date anywhere in the data (the extract date, as far as it can be told)."""
        dates = [self.deals["created_at"].max(), self.deals["closed_at"].max()]
        if self.stage_history is not None and len(self.stage_history):
            dates.append(self.stage_history["entered_at"].max())
        return max(d for d in dates if pd.notna(d))

    def owner_team(self) -> dict[str, str]:
        """Each rep's team: the team on the rep's most recently created deal."""
        return current_teams(self.deals)

    def with_deals(self, deals: pd.DataFrame) -> Dataset:
        return replace(self, deals=deals)


def read_table(directory: Path, name: str) -> tuple[pd.DataFrame | None, str]:
    """Read ``name.csv`` or ``name.parquet`` as text columns; ``(None, file)`` if absent."""
    csv, pq = directory / f"{name}.csv", directory / f"{name}.parquet"
    if pq.exists():
        frame = pd.read_parquet(pq)
        for c in frame.columns:
            if not pd.api.types.is_datetime64_any_dtype(frame[c]):
                frame[c] = frame[c].astype("string").fillna("").astype(object)
        return frame, pq.name
    if csv.exists():
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            skipinitialspace=False)
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame, csv.name
    return None, csv.name


def _stage_order(
    raw_cfg: dict | None, deals: pd.DataFrame, history: pd.DataFrame | None
) -> tuple[tuple[str, ...] | None, bool, list[Problem]]:
    if raw_cfg and raw_cfg.get("stages"):
        return tuple(str(s) for s in raw_cfg["stages"]), False, []
    if "stage" not in deals:
        return None, True, []
    names = [s for s in pd.unique(deals["stage"].astype(str).str.strip()) if s]
    lower = {s.lower(): s for s in names}
    if set(lower) <= set(DEFAULT_STAGES):
        return tuple(lower[s] for s in DEFAULT_STAGES if s in lower), True, []
    if history is not None and {"deal_id", "stage", "entered_at"} <= set(history.columns):
        h = history.assign(t=pd.to_datetime(history["entered_at"].str.slice(0, 10),
                                             format="%Y-%m-%d", errors="coerce"))
        first = h.groupby("deal_id")["t"].transform("min")
        h = h.assign(lag=(h["t"] - first).dt.days)
        order = h.groupby("stage")["lag"].median().sort_values(kind="stable")
        known = [s for s in order.index if s]
        if set(names) <= set(known):
            return tuple(known), True, []
    return None, True, [Problem(
        "pipeline.yaml", "stage_order_unknown",
        f"cannot tell the order of stages {sorted(names)}: add a pipeline.yaml with "
        "'stages:' listing them in pipeline order")]


def load_dataset(path: str | Path) -> Dataset:
    """Load and validate a dataset directory.

    Parameters
    ----------
    path
        Folder holding ``deals.csv`` (or ``.parquet``) and the optional files.

    Returns
    -------
    Dataset

    Raises
    ------
    DataValidationError
        Listing every problem found (file, row, deal_id, column, rule).
    """
    directory = Path(path)
    if not directory.is_dir():
        raise DataValidationError(
            [Problem(str(directory), "not_a_directory",
                     "dataset directory not found; pass --data DIR holding deals.csv")],
            str(directory))
    problems: list[Problem] = []
    raw_cfg, cfg_problems = read_pipeline_yaml(directory / "pipeline.yaml")
    problems += [Problem("pipeline.yaml", "config", m) for m in cfg_problems]
    deals_raw, deals_file = read_table(directory, "deals")
    if deals_raw is None:
        problems.append(Problem(deals_file, "missing_file",
                                f"{deals_file} is required in {directory}"))
        raise DataValidationError(problems, str(directory))
    history_raw, _ = read_table(directory, "stage_history")
    quotas_raw, _ = read_table(directory, "quotas")

    stages, inferred, order_problems = _stage_order(raw_cfg, deals_raw, history_raw)
    problems += order_problems
    covariates = tuple((raw_cfg or {}).get("covariates") or ())
    deals, p = check_deals(deals_raw, stages, covariates)
    problems += p
    history = None
    if history_raw is not None:
        history, p = check_history(history_raw, deals, stages)
        problems += p
    quotas = None
    if quotas_raw is not None:
        owners = set(deals["owner"]) if "owner" in deals else set()
        teams = set(deals["team"]) if "team" in deals else set()
        quotas, p = check_quotas(quotas_raw, owners, teams)
        problems += p
    if problems:
        raise DataValidationError(problems, str(directory))

    deals = normalise_deals(deals)
    probs = dict((raw_cfg or {}).get("crm_probabilities") or {})
    defaults = default_crm_probabilities(stages)
    config = PipelineConfig(stages=stages,
                            crm_probabilities={s: float(probs.get(s, defaults[s])) for s in stages},
                            covariates=covariates, stages_inferred=inferred)
    return Dataset(deals=deals, config=config, stage_history=history, quotas=quotas,
                   source=str(directory))


def normalise_deals(deals: pd.DataFrame) -> pd.DataFrame:
    """Add the optional columns with their defaults (``segment`` and ``team``)."""
    out = deals.copy()
    if "segment" not in out:
        out["segment"] = "all"
    if "team" not in out:
        out["team"] = "all"
    return out.reset_index(drop=True)


def dataset_from_frames(
    deals: pd.DataFrame,
    stages: tuple[str, ...],
    stage_history: pd.DataFrame | None = None,
    quotas: pd.DataFrame | None = None,
    crm_probabilities: dict[str, float] | None = None,
    covariates: tuple[str, ...] = (),
) -> Dataset:
    """Build a :class:`Dataset` from typed frames in memory, with the same validation.

    Dates may be ``datetime64`` or ISO text. Raises :class:`DataValidationError`.
    """
    def as_text(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for c in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[c]):
                out[c] = out[c].dt.strftime("%Y-%m-%d").fillna("")
            else:
                out[c] = out[c].astype("string").fillna("").astype(object)
        return out

    problems: list[Problem] = []
    checked, p = check_deals(as_text(deals), stages, covariates)
    problems += p
    history = None
    if stage_history is not None:
        history, p = check_history(as_text(stage_history), checked, stages)
        problems += p
    q = None
    if quotas is not None:
        q, p = check_quotas(as_text(quotas), set(checked["owner"]),
                            set(checked["team"]) if "team" in checked else set())
        problems += p
    if problems:
        raise DataValidationError(problems, "<memory>")
    defaults = default_crm_probabilities(stages)
    probs = crm_probabilities or {}
    config = PipelineConfig(stages=tuple(stages),
                            crm_probabilities={s: float(probs.get(s, defaults[s])) for s in stages},
                            covariates=tuple(covariates))
    return Dataset(deals=normalise_deals(checked), config=config, stage_history=history,
                   quotas=q)
