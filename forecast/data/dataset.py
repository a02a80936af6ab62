"""A dataset directory (see CONTRACT.md): ``deals``, ``stage_history``, ``quotas``, ``pipeline.yaml``.

:func:`load_dataset` reads and validates it in one pass and raises
:class:`~forecast.data.problems.DataValidationError` listing every problem; a dataset that
loads has every row of every file in it. Every table is read by the one reader the
importers use too (:func:`forecast.data.importers.reading.read_table`: encodings,
delimiters, real line numbers, CSV or Parquet).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from forecast.data.config import (
    DEFAULT_STAGES,
    PLAIN,
    PipelineConfig,
    default_crm_probabilities,
    read_pipeline_yaml,
)
from forecast.data.importers.reading import RawTable, read_table
from forecast.data.problems import DataValidationError, Problem
from forecast.data.validation import check_deals, check_history, check_quotas, parse_dates


def current_teams(deals: pd.DataFrame) -> dict[str, str]:
    """Each rep's team: the team on the rep's most recently created deal (ties by
    ``deal_id``). The one definition of "a rep's team": pass the deals known at a date for
    the team at that date."""
    d = deals[["created_at", "deal_id", "owner", "team"]].sort_values(["created_at", "deal_id"])
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
    extras
        Anything a caller attaches.
    notes
        What reading noticed, one line per file read otherwise than plain UTF-8 with
        commas (``deals.csv: read as cp1252 ...``).
    """

    deals: pd.DataFrame
    config: PipelineConfig
    stage_history: pd.DataFrame | None = None
    quotas: pd.DataFrame | None = None
    source: str = "<memory>"
    extras: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

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


def _reading_notes(table: RawTable) -> list[str]:
    """What a user should know about how ``table`` was read (empty when unremarkable)."""
    said = []
    if table.encoding not in ("utf-8", "utf-8-sig", "parquet"):
        said.append(f"encoding {table.encoding}")
    if table.delimiter not in (",", ""):
        said.append(f"delimiter {table.delimiter!r}")
    said += table.notes
    return [f"{table.file}: read with {'; '.join(said)}"] if said else []


def _read(directory: Path, name: str, problems: list[Problem]) -> RawTable | None:
    try:
        return read_table(directory, name)
    except DataValidationError as exc:
        problems += exc.problems
        return None


def _stage_order(
    declared: tuple[str, ...] | None, deals: pd.DataFrame, history: pd.DataFrame | None
) -> tuple[tuple[str, ...] | None, bool, list[Problem]]:
    if declared:
        return declared, False, []
    if "stage" not in deals:
        return None, True, []
    names = [s for s in pd.unique(deals["stage"].astype(str).str.strip()) if s]
    lower = {s.lower(): s for s in names}
    if set(lower) <= set(DEFAULT_STAGES):
        return tuple(lower[s] for s in DEFAULT_STAGES if s in lower), True, []
    if history is not None and {"deal_id", "stage", "entered_at"} <= set(history.columns):
        h = history.assign(t=parse_dates(history["entered_at"]))
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


def load_dataset(path: str | Path, data_end: object | None = None) -> Dataset:
    """Load and validate a dataset directory.

    Parameters
    ----------
    path
        Folder holding ``deals.csv`` (or ``.parquet``) and the optional files.
    data_end
        The data's end, i.e. the run's clock: a ``created_at``, ``closed_at`` or
        ``entered_at`` after it is an error (a dataset cannot hold the future). The
        command line passes today's date or ``--data-end``; ``None`` skips the check
        (there is no hidden "today" here).

    Returns
    -------
    Dataset

    Raises
    ------
    DataValidationError
        Listing every problem found (file, line, deal_id, column, rule), the files that
        cannot be read at all included.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise DataValidationError(
            [Problem(str(directory), "not_a_directory",
                     "dataset directory not found; pass --data DIR holding deals.csv")],
            str(directory))
    end = None if data_end is None else pd.Timestamp(data_end).normalize()
    problems: list[Problem] = []
    cfg = read_pipeline_yaml(directory / "pipeline.yaml")
    problems += [Problem("pipeline.yaml", "config", m) for m in cfg.problems]
    deals_raw = _read(directory, "deals", problems)
    if deals_raw is None:
        if not any(p.file.startswith("deals.") for p in problems):
            problems.append(Problem("deals.csv", "missing_file",
                                    f"deals.csv (or deals.parquet) is required in {directory}"))
        history_raw, quotas_raw = None, None
        for name in ("stage_history", "quotas"):  # report their problems too
            _read(directory, name, problems)
        raise DataValidationError(problems, str(directory))
    history_raw = _read(directory, "stage_history", problems)
    quotas_raw = _read(directory, "quotas", problems)
    notes = [n for t in (deals_raw, history_raw, quotas_raw) if t is not None
             for n in _reading_notes(t)]
    if cfg.encoding not in (None, "utf-8", "utf-8-sig"):
        notes.append(f"pipeline.yaml: read with encoding {cfg.encoding}")

    def fmt(table: RawTable):
        return cfg.number_format if table.encoding != "parquet" else PLAIN

    stages, inferred, order_problems = _stage_order(
        cfg.stages, deals_raw.frame, None if history_raw is None else history_raw.frame)
    if cfg.problems and cfg.raw.get("stages") is not None:
        order_problems = []  # the declared stages are wrong: that is the problem to name
    problems += order_problems
    covariates = cfg.covariates
    deals, p = check_deals(deals_raw.frame, stages, covariates, lines=deals_raw.lines,
                           data_end=end, number_format=fmt(deals_raw), file=deals_raw.file)
    problems += p
    history = None
    if history_raw is not None:
        history, p = check_history(history_raw.frame, deals, stages, lines=history_raw.lines,
                                   data_end=end, file=history_raw.file)
        problems += p
    quotas = None
    if quotas_raw is not None:
        owners = set(deals["owner"]) if "owner" in deals else set()
        teams = set(deals["team"]) if "team" in deals else set()
        quotas, p = check_quotas(quotas_raw.frame, owners, teams, lines=quotas_raw.lines,
                                 number_format=fmt(quotas_raw), file=quotas_raw.file)
        problems += p
    if problems:
        raise DataValidationError(problems, str(directory))

    deals = normalise_deals(deals)
    probs = cfg.crm_probabilities
    defaults = default_crm_probabilities(stages)
    config = PipelineConfig(stages=stages,
                            crm_probabilities={s: float(probs.get(s, defaults[s])) for s in stages},
                            covariates=covariates, stages_inferred=inferred,
                            fiscal_year_start=cfg.fiscal_year_start,
                            number_format=cfg.number_format, calendar=cfg.calendar,
                            drift=cfg.drift, seasonal=cfg.seasonal)
    return Dataset(deals=deals, config=config, stage_history=history, quotas=quotas,
                   source=str(directory), notes=tuple(notes))


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
    fiscal_year_start: int = 1,
    calendar: bool = False,
    drift: bool = False,
    seasonal: bool = False,
) -> Dataset:
    """Build a :class:`Dataset` from typed frames in memory, with the same validation.

    Dates may be ``datetime64`` or ISO text; ``fiscal_year_start``, ``calendar``,
    ``drift`` and ``seasonal`` are those of ``pipeline.yaml``. Raises
    :class:`DataValidationError`, and ``ValueError`` for ``seasonal`` without ``calendar``.
    """
    if seasonal and not calendar:
        raise ValueError("seasonal=True needs calendar=True (the month-of-year effects are "
                         "learned beside the quarter calendar's)")

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
                            covariates=tuple(covariates),
                            fiscal_year_start=int(fiscal_year_start), calendar=bool(calendar),
                            drift=bool(drift), seasonal=bool(seasonal))
    return Dataset(deals=normalise_deals(checked), config=config, stage_history=history,
                   quotas=q)
