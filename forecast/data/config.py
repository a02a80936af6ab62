"""``pipeline.yaml``: the ordered stages, CRM stage probabilities, covariates, fiscal year,
quarter-calendar switch and number format of a dataset, checked against a schema (:func:`check_pipeline`: types and
ranges, every problem at once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

#: Stage names pipecast recognises without a ``pipeline.yaml`` (in this order).
DEFAULT_STAGES: tuple[str, ...] = (
    "contact",
    "qualification",
    "meeting",
    "proposal",
    "negotiation",
)


def default_crm_probabilities(stages: tuple[str, ...]) -> dict[str, float]:
    """Common CRM defaults: stage probabilities rising evenly from 10% to 80%.

    Salesforce and HubSpot ship hand-set stage probabilities of this shape; they
    are used only for the weighted-pipeline comparison when ``pipeline.yaml``
    gives none.
    """
    n = len(stages)
    if n == 1:
        return {stages[0]: 0.5}
    return {s: round(0.1 + 0.7 * i / (n - 1), 4) for i, s in enumerate(stages)}


@dataclass(frozen=True)
class NumberFormat:
    """How the amounts of a dataset's CSV files are written.

    The default is plain numbers (``1234.56``); ``pipeline.yaml`` may declare another,
    e.g. ``number_format: {decimal: ",", thousands: "."}`` for ``1.234,56``. Nothing else
    is guessed.
    """

    decimal: str = "."
    thousands: str = ""

    def describe(self) -> str:
        if self == NumberFormat(".", ""):
            return ("plain numbers such as 1234.56; for another format declare "
                    "number_format in pipeline.yaml")
        example = "1" + (self.thousands or "") + "234" + self.decimal + "56"
        return f"numbers such as {example} (number_format in pipeline.yaml)"


#: Plain numbers (``1234.56``): the format of a dataset that declares none.
PLAIN = NumberFormat()


@dataclass(frozen=True)
class PipelineConfig:
    """What ``pipeline.yaml`` says about a dataset.

    Attributes
    ----------
    stages
        Open stages in pipeline order (won and lost are statuses, not stages).
    crm_probabilities
        Hand-set win probability per stage, as a CRM would use it.
    covariates
        Columns of ``deals.csv`` used as covariates of the win model.
    stages_inferred
        True when the stage order was not given in a ``pipeline.yaml``.
    fiscal_year_start
        Month the fiscal year starts in (1: calendar quarters).
    calendar
        Whether the deal-flow model has quarter-calendar effects (``calendar: true``): the
        weekly odds of each outcome depend on the slot of the fiscal quarter the week
        starts in (month 1, 2, 3, last two weeks; :data:`forecast.data.periods.QUARTER_SLOTS`).
    drift
        Whether the stage intercepts move from fiscal quarter to fiscal quarter
        (``drift: true``): a random walk over the history's quarters, the forecast starting
        from the latest quarter's level.
    seasonal
        Whether the won and lost odds also depend on the month of the year (``seasonal:
        true``; needs ``calendar: true``): learned once the history holds every month of
        the year at least twice (``forecast.models.seasonal``).
    number_format
        How the amounts of the dataset's CSV files are written.
    """

    stages: tuple[str, ...]
    crm_probabilities: dict[str, float] = field(default_factory=dict)
    covariates: tuple[str, ...] = ()
    stages_inferred: bool = False
    fiscal_year_start: int = 1
    number_format: NumberFormat = PLAIN
    calendar: bool = False
    drift: bool = False
    seasonal: bool = False

    def to_dict(self) -> dict:
        return {
            "stages": list(self.stages),
            "crm_probabilities": dict(self.crm_probabilities),
            "covariates": list(self.covariates),
        }


#: The keys ``pipeline.yaml`` may hold (``name`` and ``currency`` are descriptive).
KEYS: tuple[str, ...] = ("stages", "crm_probabilities", "covariates", "fiscal_year_start",
                         "number_format", "calendar", "drift", "seasonal", "currency", "name")
#: Thousands separators a ``number_format`` may declare (``""``: none).
THOUSANDS: tuple[str, ...] = ("", ",", ".", " ", "'", "_")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_stages(stages: object) -> list[str]:
    if not isinstance(stages, list):
        return [f"stages must be a list of stage names in pipeline order (got "
                f"{type(stages).__name__} {stages!r}); write e.g. 'stages: [contact, "
                "proposal]'"]
    if not stages:
        return ["stages must not be empty"]
    bad = [s for s in stages if not isinstance(s, str) or not s.strip()]
    if bad:
        return [f"stages must be a list of non-empty names; not names: {bad[:5]}"]
    dup = sorted({s for s in stages if stages.count(s) > 1})
    return [f"stages must not repeat a name: {dup}"] if dup else []


def _check_probabilities(probs: object, stages: object) -> list[str]:
    if not isinstance(probs, dict):
        return [f"crm_probabilities must map stage name to a probability (got "
                f"{type(probs).__name__})"]
    problems = []
    for k, v in probs.items():
        if isinstance(stages, list) and k not in stages:
            problems.append(f"crm_probabilities names stage {k!r}, which is not in stages")
        if not _is_number(v) or not 0 <= v <= 1:
            problems.append(f"crm_probabilities[{k!r}] = {v!r} must be a number in [0, 1]")
    return problems


def _check_covariates(covs: object) -> list[str]:
    if not isinstance(covs, list):
        return [f"covariates must be a list of column names of deals.csv (got "
                f"{type(covs).__name__} {covs!r})"]
    bad = [c for c in covs if not isinstance(c, str) or not c.strip()]
    return [f"covariates must be column names of deals.csv; not names: {bad[:5]}"] if bad \
        else []


def _check_fiscal(value: object) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 12:
        return [f"fiscal_year_start must be a month number 1..12 (got {value!r})"]
    return []


def _check_calendar(value: object, key: str = "calendar") -> list[str]:
    if not isinstance(value, bool):
        return [f"{key} must be true or false (got {value!r})"]
    return []


def _check_drift(value: object) -> list[str]:
    return _check_calendar(value, "drift")


def _check_seasonal(value: object) -> list[str]:
    return _check_calendar(value, "seasonal")


def _number_format(value: object) -> tuple[NumberFormat | None, list[str]]:
    if not isinstance(value, dict):
        return None, ["number_format must be a mapping such as {decimal: \",\", thousands: "
                      "\".\"}"]
    problems = []
    unknown = sorted(set(value) - {"decimal", "thousands"})
    if unknown:
        problems.append(f"number_format has unknown keys {unknown}; allowed: decimal, thousands")
    decimal = value.get("decimal", ".")
    thousands = value.get("thousands", "")
    thousands = "" if thousands is None else thousands
    if decimal not in (".", ","):
        problems.append(f"number_format.decimal must be \".\" or \",\" (got {decimal!r})")
    if thousands not in THOUSANDS:
        problems.append(f"number_format.thousands must be one of {list(THOUSANDS)} (got "
                        f"{thousands!r})")
    elif thousands == decimal:
        problems.append("number_format.thousands must differ from number_format.decimal")
    if problems:
        return None, problems
    return NumberFormat(decimal=decimal, thousands=thousands), []


@dataclass(frozen=True)
class PipelineFile:
    """``pipeline.yaml`` read and checked against its schema.

    Attributes
    ----------
    raw
        The mapping as written (``{}`` when the file is absent or empty).
    problems
        Every broken rule of the schema, as text (the file is named by the caller).
    number_format
        The declared number format (plain numbers when none is declared).
    encoding
        How the file was decoded (``None`` when there is no file).
    """

    raw: dict
    problems: list[str]
    number_format: NumberFormat = PLAIN
    encoding: str | None = None

    @property
    def stages(self) -> tuple[str, ...] | None:
        s = self.raw.get("stages")
        return tuple(s) if s is not None and not _check_stages(s) else None

    @property
    def covariates(self) -> tuple[str, ...]:
        c = self.raw.get("covariates")
        return tuple(c) if isinstance(c, list) and not _check_covariates(c) else ()

    @property
    def crm_probabilities(self) -> dict:
        p = self.raw.get("crm_probabilities")
        return dict(p) if isinstance(p, dict) else {}

    @property
    def fiscal_year_start(self) -> int:
        v = self.raw.get("fiscal_year_start", 1)
        return v if not _check_fiscal(v) else 1

    @property
    def calendar(self) -> bool:
        v = self.raw.get("calendar", False)
        return v if not _check_calendar(v) else False

    @property
    def drift(self) -> bool:
        v = self.raw.get("drift", False)
        return v if not _check_drift(v) else False

    @property
    def seasonal(self) -> bool:
        v = self.raw.get("seasonal", False)
        return v if not _check_seasonal(v) else False


def check_pipeline(raw: object) -> tuple[dict, list[str], NumberFormat]:
    """Check a parsed ``pipeline.yaml`` against its schema; every problem at once.

    Returns the mapping (``{}`` when unusable), the problems and the number format.
    """
    if raw is None:
        return {}, [], PLAIN
    if not isinstance(raw, dict):
        return {}, [f"must be a mapping with keys {', '.join(KEYS[:5])} (got "
                    f"{type(raw).__name__})"], PLAIN
    problems: list[str] = []
    unknown = sorted(str(k) for k in set(raw) - set(KEYS))
    if unknown:
        problems.append(f"unknown keys {unknown}; allowed: {', '.join(KEYS)}")
    stages = raw.get("stages")
    checks = [("stages", _check_stages), ("covariates", _check_covariates),
              ("fiscal_year_start", _check_fiscal), ("calendar", _check_calendar),
              ("drift", _check_drift), ("seasonal", _check_seasonal)]
    for key, check in checks:
        if raw.get(key) is not None:
            problems += check(raw[key])
    if raw.get("seasonal") is True and raw.get("calendar") is not True:
        problems.append("seasonal: true needs calendar: true (the month-of-year effects are "
                        "learned beside the quarter calendar's, from the months' counts); "
                        "add 'calendar: true' or remove 'seasonal'")
    if raw.get("crm_probabilities") is not None:
        problems += _check_probabilities(raw["crm_probabilities"], stages)
    fmt = PLAIN
    if raw.get("number_format") is not None:
        declared, p = _number_format(raw["number_format"])
        problems += p
        fmt = declared or fmt
    return raw, problems, fmt


def read_pipeline_yaml(path: Path) -> PipelineFile:
    """Read and check ``pipeline.yaml`` (absent → an empty, valid file).

    The bytes are decoded like every other input (UTF-8 with or without BOM, UTF-16 with
    BOM, else Windows-1252; the encoding is reported).
    """
    from forecast.data.importers.reading import decode_bytes
    from forecast.data.problems import DataValidationError

    if not path.exists():
        return PipelineFile({}, [])
    if not path.is_file():
        return PipelineFile({}, [f"{path} is not a file"])
    try:
        text, encoding, _ = decode_bytes(path.read_bytes(), path.name)
    except DataValidationError as exc:
        return PipelineFile({}, [p.message for p in exc.problems])
    except OSError as exc:
        return PipelineFile({}, [f"cannot read {path}: {exc.strerror or exc}"])
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return PipelineFile({}, [f"not valid YAML: {' '.join(str(exc).split())}"], encoding=encoding)
    checked, problems, fmt = check_pipeline(raw)
    return PipelineFile(checked, problems, fmt, encoding)
