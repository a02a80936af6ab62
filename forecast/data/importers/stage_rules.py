"""The stages of an import (rules 9–11 of :mod:`forecast.data.importers.assemble`): which
stage history rows are usable, the pipeline's stage order, and each deal's stage.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from forecast.data.importers.reading import norm_key
from forecast.data.importers.report import ImportReport
from forecast.data.importers.row_rules import Rows, clean_cell
from forecast.data.importers.staging import ImportOptions, Staged
from forecast.data.problems import DataValidationError, Problem


def usable_history(staged: Staged, created: pd.Series, closed: pd.Series, entered,
                   entered_why, report: ImportReport, rows: Rows) -> pd.DataFrame:
    """Usable stage entries: ``deal_id``, ``stage``, ``entered_at``, ``pos`` (deal row)."""
    empty = pd.DataFrame({"deal_id": [], "stage": [], "entered_at": pd.Series([], dtype=
                         "datetime64[ns]"), "pos": []})
    h = staged.history
    if h is None:
        return empty
    skipped: Counter = Counter(h.skipped)
    problems: list[dict] = []
    alive = rows.alive()
    pos_of: dict[str, int] = {}
    for i, ident in enumerate(staged.deals["deal_id"]):
        pos_of.setdefault(ident, i)
    keep_rows = []
    frame = h.frame.reset_index(drop=True)
    h_ids = [clean_cell(str(v)) for v in frame["deal_id"].tolist()]
    h_stages = [clean_cell(str(v)) for v in frame["stage"].tolist()]
    h_lines = [int(v) for v in frame["line"].tolist()]
    h_raw = frame["entered_at"].tolist()
    ent = entered.tolist() if entered is not None else []
    ent_why = entered_why.tolist() if entered_why is not None else []
    created_l, closed_l = created.tolist(), closed.tolist()
    for j in range(len(frame)):
        ident, stage = h_ids[j], h_stages[j]
        pos = pos_of.get(ident)
        verdict: tuple[str, str] | None = None
        if pos is None:
            verdict = ("unknown_deal", f"deal id {ident!r} is not in {staged.table.file}")
        elif not alive[pos]:
            verdict = ("deal_rejected", "")
        elif not stage:
            verdict = ("missing_stage", "stage is empty")
        elif stage in staged.closed_stages:
            verdict = ("closed_stage", "")
        elif pd.isna(ent[j]):
            verdict = ("bad_date", f"entered date {h_raw[j]!r}: {ent_why[j] or 'empty'}")
        elif ent[j] < created_l[pos]:
            verdict = ("entered_before_created", f"entered {ent[j].date()}, before the deal "
                       f"was created {created_l[pos].date()}")
        elif pd.notna(closed_l[pos]) and ent[j] > closed_l[pos]:
            verdict = ("entered_after_closed", f"entered {ent[j].date()}, after the deal "
                       f"closed {closed_l[pos].date()}")
        if verdict is None:
            keep_rows.append((ident, stage, ent[j], pos, j))
            continue
        rule, reason = verdict
        skipped[rule] += 1
        if reason and len(problems) < 200:  # benign skips (closed stage, rejected deal) unlisted
            problems.append({"row": h_lines[j], "id": ident or None, "column": None,
                             "rule": rule, "reason": reason})
    report.history = {"source": h.source, "file": h.file,
                      "input_rows": h.input_rows if h.input_rows is not None else len(frame),
                      "skipped_by_rule": dict(skipped.most_common()), "problems": problems}
    if not keep_rows:
        return empty
    out = pd.DataFrame(keep_rows, columns=["deal_id", "stage", "entered_at", "pos", "j"])
    out = out.sort_values(["pos", "entered_at", "j"], kind="stable")
    # consecutive entries of the same stage are one stay in it
    same = (out["pos"] == out["pos"].shift()) & (out["stage"] == out["stage"].shift())
    report.history["skipped_by_rule"]["no_stage_change"] = int(same.sum())
    return out[~same.to_numpy()].drop(columns="j").reset_index(drop=True)


def stage_order(staged: Staged, options: ImportOptions, history: pd.DataFrame,
                 report: ImportReport, rows: Rows) -> tuple[str, ...]:
    """Rule 10: the open stages in pipeline order (given, standard, probability, timing)."""
    d = staged.deals
    alive = rows.alive()
    closed_names = staged.closed_stages
    observed: list[str] = []

    def see(values) -> None:
        for s in values:
            if s and s not in closed_names and s not in observed:
                observed.append(s)

    see(d["stage"][alive & (d["status"] == "open").to_numpy()])
    see(history["stage"])
    see(d["stage"][alive & (d["status"] != "open").to_numpy()])
    given = options.stages or staged.stages
    if given:
        order = tuple(dict.fromkeys(s.strip() for s in given if s.strip()))
        report.decide("stage order", " → ".join(order),
                      "given by --stages" if options.stages else "given in the mapping file")
        return order
    if not observed:
        report.decide("stage order", "(unknown)", "no deal names an open stage and there is "
                      "no stage history: every deal gets the single stage '(unknown)'")
        return ("(unknown)",)
    keys = {norm_key(s) for s in observed}
    for default in staged.default_orders:
        index = {norm_key(s): k for k, s in enumerate(default)}
        if keys <= set(index):
            order = tuple(sorted(observed, key=lambda s: index[norm_key(s)]))
            report.decide("stage order", " → ".join(order),
                          f"the {staged.format} standard stage order")
            return order
    lag = median_lag(history)
    first_seen = {s: k for k, s in enumerate(observed)}
    probs = staged.stage_probability or {}
    if all(s in probs for s in observed):
        order = tuple(sorted(observed, key=lambda s: (probs[s], lag.get(s, np.inf),
                                                      first_seen[s])))
        report.decide("stage order", " → ".join(order),
                      "by the CRM's stage probability (median per stage), then stage history")
        return order
    if len(observed) == 1:
        report.decide("stage order", observed[0], "the only open stage in the data")
        return tuple(observed)
    if all(s in lag for s in observed):
        order = tuple(sorted(observed, key=lambda s: (lag[s], first_seen[s])))
        report.decide("stage order", " → ".join(order),
                      "by the median days from a deal's first stage entry to each stage "
                      "(stage history)")
        return order
    raise DataValidationError([Problem(
        staged.table.file, "stage_order_unknown",
        f"cannot tell the order of the stages {observed}: pass --stages with the open "
        "stages in pipeline order, e.g. --stages '" + ",".join(observed) + "' (or give "
        "'stages:' in a mapping file)", column="stage")], staged.table.file)


def median_lag(history: pd.DataFrame) -> dict[str, float]:
    """Median days from a deal's first stage entry to each stage."""
    if history.empty:
        return {}
    first = history.groupby("pos")["entered_at"].transform("min")
    lag = (history["entered_at"] - first).dt.days
    return lag.groupby(history["stage"]).median().to_dict()


def deal_stages(staged: Staged, order: tuple[str, ...], history: pd.DataFrame,
                report: ImportReport, rows: Rows) -> pd.Series:
    """Rule 11: each deal's stage (open: a known stage; closed: the last one held)."""
    d = staged.deals
    stage = d["stage"].tolist()
    status = d["status"].tolist()
    in_order = set(order)
    last_held = (history[history["stage"].isin(in_order)].groupby("pos")["stage"].last()
                 .to_dict() if not history.empty else {})
    for i in np.flatnonzero(rows.alive()).tolist():
        s = stage[i]
        if status[i] == "open":
            if not s:
                report.reject(i, "stage", "missing_stage", "an open deal needs its stage, "
                              "which is empty")
            elif s not in in_order:
                report.reject(i, "stage", "unknown_stage",
                              f"stage {s!r} is not one of the pipeline stages {list(order)}")
            continue
        if s in in_order:
            continue
        if i in last_held:
            stage[i] = last_held[i]
            continue
        stage[i] = order[-1]
        said = f"stage {s!r}" if s else "no stage"
        report.repair(i, "stage", "closed_stage_assumed",
                      f"{said}, and no stage history: the deal is taken to have closed from "
                      f"the last pipeline stage {order[-1]!r}")
    return pd.Series(stage, index=d.index, dtype=object)


