"""``pipeline.yaml``: the ordered stages, CRM stage probabilities and covariates of a dataset."""

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
    """

    stages: tuple[str, ...]
    crm_probabilities: dict[str, float] = field(default_factory=dict)
    covariates: tuple[str, ...] = ()
    stages_inferred: bool = False

    def to_dict(self) -> dict:
        return {
            "stages": list(self.stages),
            "crm_probabilities": dict(self.crm_probabilities),
            "covariates": list(self.covariates),
        }


def read_pipeline_yaml(path: Path) -> tuple[dict | None, list[str]]:
    """Parse ``pipeline.yaml``; return its mapping (or ``None``) and the problems found."""
    if not path.exists():
        return None, []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        return None, [f"not valid YAML: {exc}"]
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return None, ["must be a mapping with keys stages, crm_probabilities, covariates"]
    problems: list[str] = []
    unknown = set(raw) - {"stages", "crm_probabilities", "covariates", "currency", "name"}
    if unknown:
        problems.append(
            f"unknown keys {sorted(unknown)}; allowed: stages, crm_probabilities, covariates, "
            "currency, name"
        )
    stages = raw.get("stages")
    if stages is not None:
        if not isinstance(stages, list) or not stages or not all(
            isinstance(s, str) and s.strip() for s in stages
        ):
            problems.append("stages must be a non-empty list of stage names")
        elif len(set(stages)) != len(stages):
            problems.append("stages must not repeat a name")
    probs = raw.get("crm_probabilities")
    if probs is not None:
        if not isinstance(probs, dict):
            problems.append("crm_probabilities must map stage name to a probability")
        else:
            for k, v in probs.items():
                if isinstance(stages, list) and k not in stages:
                    problems.append(f"crm_probabilities names stage {k!r}, which is not in stages")
                if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1:
                    problems.append(f"crm_probabilities[{k!r}] = {v!r} must be a number in [0, 1]")
    covs = raw.get("covariates")
    if covs is not None and (
        not isinstance(covs, list) or not all(isinstance(c, str) and c for c in covs)
    ):
        problems.append("covariates must be a list of column names of deals.csv")
    return raw, problems
