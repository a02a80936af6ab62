"""Any other CSV export, described by a YAML mapping file (``--mapping FILE``).

Example (every key but ``columns`` is optional; ``docs/importing.md`` explains each)::

    columns:                 # our column: their column header
      deal_id: Opportunity Number
      created_at: Opened
      stage: Phase
      status: Outcome        # without it, the status comes from the stage (status_values)
      closed_at: Closed On
      amount: Value
      owner: Salesperson
      team: Region           # optional: team, segment, expected_close_at, currency, pipeline
    extra_columns:           # kept as extra columns of deals.csv (our name: their header)
      product: Product Line
    status_values:           # their values (case-insensitive) meaning won / lost / open
      won: [Won, Closed Won]
      lost: [Lost, Dead]
    date_format: auto        # auto, dmy, mdy, or a strptime format such as "%d/%m/%Y"
    stages: [Lead, Qualified, Proposal]   # open stages in pipeline order
    covariates: [product]
    history:                 # a stage-history file, relative to the mapping file
      file: phase_changes.csv
      columns: {deal_id: Opportunity Number, stage: Phase, entered_at: Changed On}
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml

from forecast.data.importers.hubspot import keep_one_pipeline
from forecast.data.importers.reading import RawTable, norm_key, read_csv_file
from forecast.data.importers.staging import (
    STAGED_COLUMNS,
    ImportOptions,
    Staged,
    StagedHistory,
    new_report,
)
from forecast.data.problems import DataValidationError, Problem

KEYS = ("columns", "extra_columns", "status_values", "date_format", "stages", "covariates",
        "history", "name")
OUR_COLUMNS = ("deal_id", "created_at", "stage", "status", "closed_at", "amount", "owner",
               "team", "segment", "expected_close_at", "currency", "pipeline")
REQUIRED = ("deal_id", "created_at", "stage", "closed_at", "amount", "owner")
DEFAULT_STATUS: dict[str, tuple[str, ...]] = {
    "won": ("won", "closed won", "closedwon", "win"),
    "lost": ("lost", "closed lost", "closedlost", "loss"),
    "open": ("open", "active", "in progress", "pending"),
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]*$")


def _problem(file: str, message: str) -> Problem:
    return Problem(file, "mapping", message)


def _str_map(value: object, key: str, file: str, problems: list[Problem]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str | int) and str(v).strip()
            for k, v in value.items()):
        problems.append(_problem(file, f"{key} must map our column names to the export's "
                                 "column headers (text)"))
        return {}
    return {k.strip(): str(v).strip() for k, v in value.items()}


def read_mapping(path: Path) -> dict:
    """Parse and check a mapping file; raise :class:`DataValidationError` listing every
    problem in it."""
    file = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataValidationError([_problem(file, f"not valid YAML: {exc}")], file) from exc
    except OSError as exc:
        raise DataValidationError([_problem(file, f"cannot read it: {exc}")], file) from exc
    if not isinstance(raw, dict):
        raise DataValidationError([_problem(file, "must be a YAML mapping with at least "
                                            "'columns:' (our column: their header)")], file)
    problems: list[Problem] = []
    unknown = sorted(str(k) for k in set(raw) - set(KEYS))
    if unknown:
        problems.append(_problem(file, f"unknown keys {unknown}; allowed: {list(KEYS)}"))
    columns = _str_map(raw.get("columns"), "columns", file, problems)
    bad = sorted(set(columns) - set(OUR_COLUMNS))
    if bad:
        problems.append(_problem(file, f"columns names {bad}, which are not ours; ours are "
                                 f"{list(OUR_COLUMNS)} (put other columns under "
                                 "extra_columns)"))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        problems.append(_problem(file, f"columns must map {missing} (required: "
                                 f"{list(REQUIRED)})"))
    extra = _str_map(raw.get("extra_columns"), "extra_columns", file, problems)
    clash = sorted(set(extra) & set(OUR_COLUMNS))
    if clash or any(not _NAME.match(k) for k in extra):
        problems.append(_problem(file, "extra_columns names must be new column names "
                                 "(letters, digits, _ . - and spaces, not one of ours)"))
    status_values: dict[str, tuple[str, ...]] = {}
    sv = raw.get("status_values")
    if sv is not None:
        if not isinstance(sv, dict) or set(sv) - {"won", "lost", "open"}:
            problems.append(_problem(file, "status_values must map won, lost and/or open to "
                                     "a list of the export's values"))
        else:
            for k, v in sv.items():
                vals = [v] if isinstance(v, str | int) else v
                if not isinstance(vals, list) or not all(isinstance(x, str | int) for x in vals):
                    problems.append(_problem(file, f"status_values.{k} must be a list of values"))
                    continue
                status_values[k] = tuple(str(x).strip().casefold() for x in vals)
    fmt = raw.get("date_format", "auto")
    if not isinstance(fmt, str) or (fmt not in ("auto", "iso", "dmy", "mdy") and "%" not in fmt):
        problems.append(_problem(file, "date_format must be auto, iso, dmy, mdy or a strptime "
                                 "format such as '%d/%m/%Y'"))
        fmt = "auto"
    stages = raw.get("stages")
    if stages is not None and (not isinstance(stages, list) or not stages or not all(
            isinstance(s, str | int) and str(s).strip() for s in stages)):
        problems.append(_problem(file, "stages must be a list of the open stages in "
                                 "pipeline order"))
        stages = None
    covariates = raw.get("covariates") or []
    if not isinstance(covariates, list) or not all(c in extra for c in covariates):
        problems.append(_problem(file, "covariates must be a list of extra_columns names"))
        covariates = []
    history = raw.get("history")
    hist_cols: dict[str, str] = {}
    if history is not None:
        if not isinstance(history, dict) or set(history) - {"file", "columns"}:
            problems.append(_problem(file, "history must have 'file' and 'columns' "
                                     "(deal_id, stage, entered_at)"))
            history = None
        else:
            hist_cols = _str_map(history.get("columns"), "history.columns", file, problems)
            if set(hist_cols) != {"deal_id", "stage", "entered_at"}:
                problems.append(_problem(file, "history.columns must map exactly deal_id, "
                                         "stage and entered_at"))
    if problems:
        raise DataValidationError(problems, file)
    hist_file = None
    if history is not None and history.get("file"):
        hist_file = (path.parent / str(history["file"])).resolve()
    return {"columns": columns, "extra_columns": extra, "status_values": status_values,
            "date_format": fmt, "stages": tuple(str(s).strip() for s in stages) if stages
            else None, "covariates": tuple(covariates), "history_file": hist_file,
            "history_columns": hist_cols, "name": str(raw.get("name") or "")}


def _locate(table: RawTable, wanted: dict[str, str], what: str) -> dict[str, str]:
    """Our name → the header in ``table`` (exact, else ignoring case/spaces/punctuation)."""
    headers = [str(c) for c in table.frame.columns]
    by_key = {}
    for h in headers:
        by_key.setdefault(norm_key(h), h)
    found, problems = {}, []
    for ours, theirs in wanted.items():
        if theirs in headers:
            found[ours] = theirs
        elif norm_key(theirs) in by_key:
            found[ours] = by_key[norm_key(theirs)]
        else:
            problems.append(Problem(
                table.file, "missing_column",
                f"the mapping's {what} {ours!r} → {theirs!r}, but {table.file} has no column "
                f"{theirs!r}; columns present: {headers}", column=ours))
    if problems:
        raise DataValidationError(problems, table.file)
    return found


def _status(values: list[str], from_stage: bool, mapping: dict) -> list[str | None]:
    lists = {k: set(mapping["status_values"].get(k, ())) for k in ("won", "lost", "open")}
    out: list[str | None] = []
    for v in values:
        key = v.strip().casefold()
        hit = next((k for k in ("won", "lost", "open") if key in lists[k]), None)
        if hit is None:
            hit = next((k for k in ("won", "lost", "open") if key in DEFAULT_STATUS[k]
                        and not mapping["status_values"].get(k)), None)
        if hit is None and from_stage:
            hit = "open"
        out.append(hit)
    return out


def stage_mapping(src: Path, mapping_path: Path, options: ImportOptions) -> Staged:
    """Translate any CSV described by the mapping file ``mapping_path``."""
    mapping = read_mapping(mapping_path)
    if src.is_dir():
        raise DataValidationError([Problem(str(src), "not_a_file", "with --mapping, --src "
                                           "must be the CSV file itself")], str(src))
    table = read_csv_file(src)
    cols = _locate(table, mapping["columns"], "column")
    extra = _locate(table, mapping["extra_columns"], "extra column")
    n = len(table)
    out: dict[str, list[str]] = {c: [""] * n for c in STAGED_COLUMNS}
    for ours, theirs in cols.items():
        if ours in out:
            out[ours] = table.frame[theirs].tolist()
    for ours, theirs in extra.items():
        out[ours] = table.frame[theirs].tolist()
    report = new_report("mapping", str(src), table, pd.Series(out["deal_id"]))
    if "pipeline" in cols:
        out["pipeline"] = table.frame[cols["pipeline"]].tolist()
        keep_one_pipeline(out["pipeline"], options, report, table.file)

    from_stage = "status" not in cols
    raw_status = out["stage"] if from_stage else out["status"]
    status = _status(raw_status, from_stage, mapping)
    for i, st in enumerate(status):
        if st is None:
            report.reject(i, "status", "unknown_status",
                          f"status {raw_status[i]!r} is not one of the won/lost/open values "
                          "of the mapping's status_values")
    out["status"] = [st or "" for st in status]
    closed_names = {s for s, st in zip(out["stage"], status, strict=True) if st in ("won", "lost")}
    if from_stage:
        report.decide("status", "from stage", "no status column: won/lost from the stage "
                      "values in status_values (or Won/Closed Won, Lost/Closed Lost)")
    else:
        open_names = {s for s, st in zip(out["stage"], status, strict=True) if st == "open"}
        listed = set(mapping["stages"] or ())
        closed_names = {s for s in closed_names - open_names - listed
                        if re.search(r"won|lost|closed", s, re.IGNORECASE)}

    history = None
    hist_path = options.history or mapping["history_file"]
    if hist_path is not None:
        htable = read_csv_file(Path(hist_path))
        hc = _locate(htable, mapping["history_columns"] or
                     {"deal_id": "deal_id", "stage": "stage", "entered_at": "entered_at"},
                     "history column")
        report.files[htable.file] = htable.info()
        history = StagedHistory(
            frame=pd.DataFrame({"deal_id": htable.frame[hc["deal_id"]].to_numpy(),
                                "stage": htable.frame[hc["stage"]].to_numpy(),
                                "entered_at": htable.frame[hc["entered_at"]].to_numpy(),
                                "line": htable.lines}),
            file=htable.file, derived=False, source=f"stage history file {htable.file}",
            input_rows=len(htable))
    fmt = mapping["date_format"]
    return Staged(format="mapping", table=table, deals=pd.DataFrame(out, dtype=object),
                  report=report, extras=list(extra) + (["pipeline"] if "pipeline" in cols
                                                       else []),
                  history=history, closed_stages=frozenset(closed_names),
                  covariates=mapping["covariates"], covariates_explicit=True,
                  stages=mapping["stages"], date_order=fmt if fmt in ("dmy", "mdy") else None,
                  date_format=fmt if "%" in fmt else None,
                  name=mapping["name"] or mapping_path.stem)
