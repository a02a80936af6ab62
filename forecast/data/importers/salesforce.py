"""Salesforce: an Opportunity export plus, optionally, OpportunityHistory stage changes.

Columns are found by their API names (Data Loader, Workbench: ``Id``, ``StageName``,
``CreatedDate``...) or their report labels (``Opportunity ID``, ``Stage``,
``Created Date``...), ignoring case, spaces and punctuation.

- ``deal_id`` ← ``Id``; ``owner`` ← ``Owner.Name`` (else ``OwnerId``); ``team`` ←
  ``Owner.UserRole.Name`` when exported;
- ``status`` ← ``IsClosed``/``IsWon`` (else the stage names ``Closed Won``/``Closed
  Lost``); ``created_at`` ← ``CreatedDate``; ``closed_at`` ← ``CloseDate`` for closed
  deals; on open deals ``CloseDate`` is the expected close date;
- ``stage`` ← ``StageName``; for a closed deal, the last open stage in its
  OpportunityHistory, else the last stage of the pipeline (repair);
- extra columns: ``deal_name``, ``deal_type`` (``Type``), ``lead_source``,
  ``forecast_category``, ``probability``, ``account``;
- stage order: Salesforce's standard stages when the data uses only those, else the
  median ``Probability`` per stage (which also becomes ``crm_probabilities``), else the
  history's timing.
"""

from __future__ import annotations

import re
from pathlib import Path
from statistics import median

import pandas as pd

from forecast.data.importers.numbers import parse_flag, parse_percent
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
    "id": ("Id", "Opportunity ID", "Opportunity Id", "OpportunityId", "Opportunity ID 18",
           "18 Digit Opportunity ID"),
    "name": ("Name", "Opportunity Name"),
    "stage": ("StageName", "Stage", "Stage Name", "Opportunity Stage"),
    "amount": ("Amount", "Opportunity Amount"),
    "close": ("CloseDate", "Close Date"),
    "created": ("CreatedDate", "Created Date", "Create Date"),
    "owner_name": ("Owner.Name", "Opportunity Owner", "Owner Name", "Owner Full Name",
                   "Owner"),
    "owner_id": ("OwnerId", "Owner ID"),
    "is_closed": ("IsClosed", "Closed", "Is Closed"),
    "is_won": ("IsWon", "Won", "Is Won"),
    "type": ("Type", "Opportunity Type"),
    "lead_source": ("LeadSource", "Lead Source"),
    "forecast_category": ("ForecastCategoryName", "Forecast Category", "ForecastCategory"),
    "probability": ("Probability", "Probability (%)", "Probability %"),
    "currency": ("CurrencyIsoCode", "Opportunity Currency", "Amount Currency", "Currency"),
    "account": ("Account.Name", "Account Name", "AccountId", "Account ID"),
    "team": ("Owner.UserRole.Name", "Owner Role", "Owner.UserRole", "Role"),
}
REQUIRED = ("id", "stage", "amount", "close", "created")
HISTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("OpportunityId", "Opportunity ID", "Opportunity Id", "Opportunity.Id"),
    "stage": ("StageName", "To Stage", "Stage", "Stage Name"),
    "date": ("CreatedDate", "Created Date", "Last Modified", "Edit Date", "Date"),
    "probability": ("Probability", "Probability (%)"),
}
#: Salesforce's standard opportunity stages (open ones), in pipeline order.
STANDARD_STAGES: tuple[str, ...] = (
    "Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
    "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review",
)
EXTRAS = {"name": "deal_name", "type": "deal_type", "lead_source": "lead_source",
          "forecast_category": "forecast_category", "probability": "probability",
          "account": "account"}
_HINT = ("Export Opportunity with API names (Id, StageName, Amount, CloseDate, CreatedDate, "
         "IsClosed, IsWon, Owner.Name) or report labels; for other layouts use --mapping FILE.")
_HISTORY_NAME = re.compile(r"history", re.IGNORECASE)


def _files(src: Path, history: Path | None) -> tuple[Path, Path | None]:
    """The Opportunity file and the OpportunityHistory file (if any) of ``--src``."""
    if src.is_file():
        return src, history
    csvs = sorted(p for p in src.iterdir() if p.suffix.lower() == ".csv")
    hist = [p for p in csvs if _HISTORY_NAME.search(p.stem)]
    opps = [p for p in csvs if p not in hist]
    preferred = [p for p in opps if "opportunit" in p.stem.lower()]
    opps = preferred or opps
    if len(opps) != 1:
        raise DataValidationError([Problem(
            str(src), "ambiguous_src",
            f"expected one Opportunity CSV in {src}, found {[p.name for p in opps]}: pass the "
            "file itself as --src (and the history file as --history)")], str(src))
    if history is None and len(hist) == 1:
        history = hist[0]
    elif history is None and len(hist) > 1:
        raise DataValidationError([Problem(
            str(src), "ambiguous_src", f"several history files in {src}: "
            f"{[p.name for p in hist]}; pass one with --history")], str(src))
    return opps[0], history


def _status(table: RawTable, cols: dict[str, str], stages: list[str],
            report) -> tuple[list[str], str]:
    closed_raw = column_or_blank(table, cols.get("is_closed")).tolist()
    won_raw = column_or_blank(table, cols.get("is_won")).tolist()
    status: list[str] = []
    for i, stage in enumerate(stages):
        key = norm_key(stage)
        if "is_closed" in cols:
            closed = parse_flag(closed_raw[i])
            won = parse_flag(won_raw[i]) if "is_won" in cols else ("won" in key)
            if closed is None or won is None:
                bad = closed_raw[i] if closed is None else won_raw[i]
                report.reject(i, "status", "bad_flag",
                              f"IsClosed/IsWon value {bad!r} is not true or false")
                status.append("")
                continue
            status.append(("won" if won else "lost") if closed else "open")
        elif key.startswith("closedwon"):
            status.append("won")
        elif key.startswith("closedlost"):
            status.append("lost")
        else:
            status.append("open")
    how = ("IsClosed/IsWon" if "is_closed" in cols else
           "stage names 'Closed Won'/'Closed Lost' (no IsClosed/IsWon columns)")
    return status, how


def _probabilities(values: list[tuple[str, str]]) -> dict[str, float] | None:
    by_stage: dict[str, list[float]] = {}
    for stage, text in values:
        p = parse_percent(text)
        if stage and p is not None and 0 <= p <= 100:
            by_stage.setdefault(stage, []).append(p)
    if not by_stage:
        return None
    scale = 100.0 if max(max(v) for v in by_stage.values()) > 1 else 1.0
    return {s: median(v) / scale for s, v in by_stage.items()}


def _history(path: Path, report) -> tuple[StagedHistory, list[tuple[str, str]]]:
    table = read_csv_file(path)
    cols = resolve_columns(table, HISTORY_COLUMNS, ("id", "stage", "date"),
                           "OpportunityHistory needs OpportunityId, StageName, CreatedDate.")
    report.files[table.file] = table.info()
    frame = pd.DataFrame({
        "deal_id": table.frame[cols["id"]].to_numpy(),
        "stage": table.frame[cols["stage"]].to_numpy(),
        "entered_at": table.frame[cols["date"]].to_numpy(),
        "line": table.lines,
    })
    probs = list(zip(frame["stage"], column_or_blank(table, cols.get("probability")),
                     strict=True))
    hist = StagedHistory(frame=frame, file=table.file, derived=False,
                         source=f"OpportunityHistory {table.file}: a stage entry on each "
                         "change of StageName", input_rows=len(table))
    return hist, probs


def stage_salesforce(src: Path, options: ImportOptions) -> Staged:
    """Translate a Salesforce Opportunity (+ OpportunityHistory) export."""
    opp_path, hist_path = _files(src, options.history)
    table = read_csv_file(opp_path)
    cols = resolve_columns(table, COLUMNS, REQUIRED, _HINT)
    owner_col = cols.get("owner_name") or cols.get("owner_id")
    if owner_col is None:
        raise DataValidationError([Problem(
            table.file, "missing_column",
            "no owner column: export Owner.Name (or OwnerId / 'Opportunity Owner'); columns "
            f"present: {list(table.frame.columns)}", column="owner")], table.file)
    n = len(table)
    text = {k: column_or_blank(table, cols.get(k)).tolist() for k in COLUMNS}
    out: dict[str, list[str]] = {c: [""] * n for c in STAGED_COLUMNS}
    out["deal_id"] = text["id"]
    report = new_report("salesforce", str(src), table, pd.Series(out["deal_id"]))
    status, how = _status(table, cols, text["stage"], report)
    report.decide("status", how, "won/lost/open from " + how)
    out.update(status=status, stage=text["stage"], amount=text["amount"],
               created_at=text["created"], closed_at=text["close"],
               owner=column_or_blank(table, owner_col).tolist(), team=text["team"],
               currency=text["currency"])
    if owner_col == cols.get("owner_id"):
        report.decide("owner", "OwnerId", "no Owner.Name column: owners are user ids")
    extras = []
    for key, name in EXTRAS.items():
        if key in cols:
            out[name] = text[key]
            extras.append(name)
    closed_names = {s for s, st in zip(text["stage"], status, strict=True) if st in ("won", "lost")}
    open_names = {s for s, st in zip(text["stage"], status, strict=True) if st == "open"}
    closed_names = {s for s in closed_names - open_names if s}
    closed_names |= {s for s in text["stage"] if norm_key(s) in ("closedwon", "closedlost")}

    history = None
    prob_values = [(s, p) for s, p, st in zip(text["stage"], text["probability"], status,
                                               strict=True) if st == "open"]
    if hist_path is not None:
        history, hist_probs = _history(hist_path, report)
        prob_values += hist_probs
        closed_names |= {s for s in history.frame["stage"]
                         if norm_key(s).startswith(("closedwon", "closedlost"))}
    else:
        report.note("no OpportunityHistory file: stage timelines are imputed, and closed deals "
                    "are taken to have closed from the last pipeline stage")
    probs = _probabilities(prob_values) if "probability" in cols or hist_path else None
    return Staged(format="salesforce", table=table, deals=pd.DataFrame(out, dtype=object),
                  report=report, extras=extras, history=history,
                  default_orders=(STANDARD_STAGES,), stage_probability=probs,
                  closed_stages=frozenset(closed_names),
                  covariates=tuple(c for c in ("deal_type", "lead_source") if c in extras),
                  name="salesforce")
