"""HubSpot: a deals export (the CRM's "Export" of the deals view, or the API's properties).

Columns are found by their export labels (``Record ID``, ``Deal Stage``, ``Create Date``...)
or internal names (``hs_object_id``, ``dealstage``, ``createdate``...).

- ``deal_id`` ← ``Record ID`` (``Deal ID``); ``owner`` ← ``Deal owner``; ``team`` ←
  ``HubSpot Team`` when exported;
- ``status`` ← the deal stage: ``closedwon`` / ``Closed Won`` → won, ``closedlost`` /
  ``Closed Lost`` → lost (also custom stages whose name starts so), anything else open;
- ``created_at`` ← ``Create Date``; ``closed_at`` ← ``Close Date`` on closed deals (on open
  deals it is the expected close date); a closed deal without a close date takes the date
  it entered its closed stage, when exported (repair ``close_date_from_stage_entry``);
- stage entries ← the ``Date entered "<stage> (<pipeline>)"`` columns (and
  ``hs_date_entered_<stage id>``); a closed deal's stage is the last open stage it
  entered, else the pipeline's last stage (repair);
- ``pipeline``: a file with several pipelines needs ``--pipeline NAME`` (deals of other
  pipelines are rejected), since each pipeline has its own stages;
- extra columns: ``deal_name``, ``deal_type``, ``pipeline``, ``company``;
- stage order: HubSpot's default sales pipeline when the data uses only its stages, else
  the timing of the ``Date entered`` columns.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from forecast.data.importers.numbers import parse_flag
from forecast.data.importers.reading import (
    RawTable,
    column_or_blank,
    norm_key,
    read_csv_file,
    resolve_columns,
)
from forecast.data.importers.staging import (
    STAGED_COLUMNS,
    ImportOptions,
    Staged,
    StagedHistory,
    new_report,
)
from forecast.data.problems import DataValidationError, Problem

COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("Record ID", "Deal ID", "hs_object_id", "dealId", "Record ID - Deal"),
    "name": ("Deal Name", "dealname"),
    "stage": ("Deal Stage", "dealstage", "Stage"),
    "amount": ("Amount", "amount", "Amount in company currency"),
    "created": ("Create Date", "createdate", "Created Date", "Deal Create Date"),
    "close": ("Close Date", "closedate"),
    "owner": ("Deal owner", "Deal Owner", "HubSpot Owner", "hubspot_owner_id", "Owner"),
    "pipeline": ("Pipeline", "pipeline", "Deal Pipeline"),
    "type": ("Deal Type", "dealtype"),
    "currency": ("Currency", "Deal currency code", "deal_currency_code"),
    "team": ("HubSpot Team", "hubspot_team_id", "Team"),
    "company": ("Associated Company", "Associated Company (Primary)", "Company name"),
    "is_closed": ("Is Closed", "hs_is_closed", "Is deal closed?"),
    "is_won": ("Is Closed Won", "hs_is_closed_won"),
}
REQUIRED = ("id", "stage", "amount", "created", "owner")
#: HubSpot's default sales pipeline: open stages in order (labels and internal ids).
DEFAULT_STAGES: tuple[str, ...] = (
    "Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
    "Decision Maker Bought-In", "Contract Sent",
)
EXTRAS = {"name": "deal_name", "type": "deal_type", "pipeline": "pipeline",
          "company": "company"}
_ENTERED = re.compile(r"^date entered\s*[\"'“”‘’]?(.+?)[\"'“”‘’]?\s*$", re.IGNORECASE)
_ENTERED_ID = re.compile(r"^hs_date_entered_(.+)$", re.IGNORECASE)
_SUFFIX = re.compile(r"^(.*\S)\s*\(([^()]*)\)$")
_HINT = ("Export deals from HubSpot with Record ID, Deal Stage, Amount, Create Date, Close "
         "Date and Deal owner; for other layouts use --mapping FILE.")


def _csv(src: Path) -> Path:
    if src.is_file():
        return src
    csvs = sorted(p for p in src.iterdir() if p.suffix.lower() == ".csv")
    if len(csvs) != 1:
        raise DataValidationError([Problem(
            str(src), "ambiguous_src", f"expected one deals CSV in {src}, found "
            f"{[p.name for p in csvs]}: pass the file itself as --src")], str(src))
    return csvs[0]


def _strip_pipeline(name: str, pipelines: set[str]) -> str:
    """``Closed Won (Sales Pipeline)`` → ``Closed Won`` when the parenthesis names a pipeline."""
    m = _SUFFIX.match(name.strip())
    if m and (norm_key(m.group(2)) in pipelines or "pipeline" in m.group(2).casefold()):
        return m.group(1).strip()
    return name.strip()


def deal_status(stage: str) -> str:
    """``won``, ``lost`` or ``open`` from a HubSpot deal stage (label or internal id)."""
    key = norm_key(stage)
    if key.startswith("closedwon"):
        return "won"
    if key.startswith("closedlost"):
        return "lost"
    return "open"


def _entered_columns(table: RawTable, pipelines: set[str]) -> dict[str, str]:
    """Header → stage name of every ``Date entered <stage>`` column."""
    out = {}
    for col in table.frame.columns:
        m = _ENTERED.match(str(col)) or _ENTERED_ID.match(str(col))
        if m:
            out[col] = _strip_pipeline(m.group(1), pipelines)
    return out


def keep_one_pipeline(values: list[str], options: ImportOptions, report, file: str) -> None:
    """Reject deals of other pipelines under ``--pipeline``; several pipelines without it
    stop the import (each pipeline has its own stages)."""
    seen = sorted({v for v in values if v})
    if options.pipeline:
        keep = options.pipeline
        for i, v in enumerate(values):
            if v and v != keep and norm_key(v) != norm_key(keep):
                report.reject(i, "pipeline", "other_pipeline",
                              f"pipeline {v!r} is not the one kept (--pipeline {keep})")
        report.decide("pipeline", keep, f"--pipeline given; pipelines in the file: {seen}")
    elif len(seen) > 1:
        raise DataValidationError([Problem(
            file, "several_pipelines",
            f"the deals belong to {len(seen)} pipelines {seen}, each with its own stages: pass "
            f"--pipeline NAME to import one of them (e.g. --pipeline '{seen[0]}')",
            column="pipeline")], file)


def stage_hubspot(src: Path, options: ImportOptions) -> Staged:
    """Translate a HubSpot deals export."""
    table = read_csv_file(_csv(src))
    cols = resolve_columns(table, COLUMNS, REQUIRED, _HINT)
    n = len(table)
    text = {k: column_or_blank(table, cols.get(k)).tolist() for k in COLUMNS}
    pipelines = {norm_key(v) for v in text["pipeline"] if v}
    stages = [_strip_pipeline(s, pipelines) for s in text["stage"]]
    out: dict[str, list[str]] = {c: [""] * n for c in STAGED_COLUMNS}
    out["deal_id"] = text["id"]
    report = new_report("hubspot", str(src), table, pd.Series(out["deal_id"]))
    keep_one_pipeline(text["pipeline"], options, report, table.file)

    status = [deal_status(s) for s in stages]
    if "is_closed" in cols:
        for i in range(n):
            closed, won = parse_flag(text["is_closed"][i]), parse_flag(text["is_won"][i])
            if text["is_closed"][i] and closed is not None:
                status[i] = ("won" if won else "lost") if closed else "open"
    out.update(status=status, stage=stages, amount=text["amount"], created_at=text["created"],
               closed_at=text["close"], owner=text["owner"], team=text["team"],
               currency=text["currency"])
    extras = []
    for key, name in EXTRAS.items():
        if key in cols:
            out[name] = text[key]
            extras.append(name)

    # stage spelling of the deals wins: map each entered-column stage onto it
    spelled = {norm_key(s): s for s in stages if s}
    entered = _entered_columns(table, pipelines)
    closed_names = {s for s, st in zip(stages, status, strict=True) if st != "open" and s}
    closed_names -= {s for s, st in zip(stages, status, strict=True) if st == "open"}
    rows: list[tuple[str, str, str, int]] = []
    for col, stage_name in entered.items():
        name = spelled.get(norm_key(stage_name), stage_name)
        if deal_status(name) != "open":
            closed_names.add(name)
        values = table.frame[col].tolist()
        for i, v in enumerate(values):
            if v:
                rows.append((out["deal_id"][i], name, v, int(table.lines[i])))
                if (status[i] != "open" and not out["closed_at"][i] and name == stages[i]):
                    out["closed_at"][i] = v
                    report.repair(i, "closed_at", "close_date_from_stage_entry",
                                  f"Close Date empty; the date the deal entered {name!r} "
                                  "is used")
    history = None
    if entered:
        history = StagedHistory(
            frame=pd.DataFrame(rows, columns=["deal_id", "stage", "entered_at", "line"]),
            file=table.file, derived=True,
            source=f"{len(entered)} 'Date entered <stage>' columns of {table.file}")
    else:
        report.note("no 'Date entered <stage>' columns: stage timelines are imputed, and "
                    "closed deals are taken to have closed from the last pipeline stage")
    return Staged(format="hubspot", table=table, deals=pd.DataFrame(out, dtype=object),
                  report=report, extras=extras, history=history,
                  default_orders=(DEFAULT_STAGES,), closed_stages=frozenset(closed_names),
                  covariates=tuple(c for c in ("deal_type",) if c in extras), name="hubspot")
