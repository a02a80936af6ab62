"""Tables of the quota and scenario notebooks for people: readable headers, one row per
quantity.

The monthly report's tables live in :mod:`pipecast.report_tables`; both are shown with
:func:`pipecast.report_tables.people_table`.
"""

from __future__ import annotations

import pandas as pd

#: headers of the planning and scenario tables for people
HEADERS = {
    "owner": "Who", "kind": "Level", "period": "Period", "rank": "Rank", "deal_id": "Deal",
    "deal_owner": "Deal owner", "stage": "Stage", "amount": "Amount",
    "p_win_in_period": "P(won in period)", "p_attain": "P(quota)",
    "p_attain_if_won": "P(quota) if won", "p_attain_if_lost": "P(quota) if lost",
    "impact": "Impact", "swing": "Swing", "gain_if_won": "Gain if won",
    "loss_if_lost": "Loss if lost", "team": "Team", "share": "Share of new deals",
    "deals_needed": "Qualified deals needed", "leads_needed": "Leads needed",
    "pipeline_amount": "Open pipeline", "coverage_ratio": "Coverage",
    "p_qualify": "P(qualified in time)", "qualified_on": "Qualified by",
    "scenario": "Scenario", "description": "Description", "changes": "Changes",
    "quota": "Quota", "month": "Month", "mean": "Mean", "p10": "P10", "p50": "P50",
    "p90": "P90", "p_higher": "P(higher)", "p_lower": "P(lower)",
}
#: probability columns of those tables, by their new headers
PERCENT_HEADERS = ("P(won in period)", "P(quota)", "P(quota) if won", "P(quota) if lost",
                   "Impact", "Swing", "Gain if won", "Loss if lost", "Share of new deals",
                   "P(qualified in time)", "P(higher)", "P(lower)")


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :data:`HEADERS` for its columns and ``total`` spelt ``Company``."""
    out = frame.rename(columns=HEADERS)
    for col in ("Level", "Who"):
        if col in out:
            out[col] = out[col].replace({"total": "Company" if col == "Who" else "company"})
    return out


def recommendation_table(rec) -> pd.DataFrame:
    """The simulated recommendation beside the classic formulas, one row per quantity."""
    c = rec.classic
    return pd.DataFrame({
        "Quantity": ["Won deals", "Qualified deals", "Leads", "Coverage ratio", "Qualify by"],
        "Simulated": [None, rec.deals_needed, rec.leads_needed, rec.coverage_ratio,
                      rec.by_when],
        "Classic formula": [c["deals_needed"], c["qualified_deals_needed"], c["leads_needed"],
                            c["coverage_ratio"], c["qualify_by"]]}).astype(object)


def scenario_headline(results) -> str:
    """What the scenario run is: date, months, paths, seed (Markdown)."""
    return (f"**Scenarios as of {results.as_of}** · {results.months[0]} – "
            f"{results.months[-1]} · {results.draws:,} paths each, seed {results.seed}, the "
            "same random numbers in every scenario · Δ: the per-path difference from "
            f"{results.baseline}")


def scenario_table(results) -> pd.DataFrame:
    """One row per scenario: revenue over the horizon (P10, P50, P90), the per-path
    difference from the baseline (Δ P10, Δ P50, Δ P90) and the probability of reaching
    each company quota in the horizon (``P(quota) <period>``)."""
    t = results.table().reset_index()
    out = pd.DataFrame({"Scenario": t["scenario"], "P10": t["p10"], "P50": t["p50"],
                        "P90": t["p90"], "Δ P10": t["Δ p10"], "Δ P50": t["Δ p50"],
                        "Δ P90": t["Δ p90"]})
    for col in t.columns:
        if col.startswith("P(total ") and col.endswith(")"):
            out[f"P(quota) {col[len('P(total '):-1]}"] = t[col]
    return out


def scenario_attainment(results) -> pd.DataFrame:
    """P(quota) per quota row (company, then teams, then reps) and scenario, for people:
    scenario names as headers that can wrap (``_`` spelt as a space)."""
    frame = readable(results.attainment())
    if frame.empty:
        return frame
    order = {"company": 0, "team": 1, "rep": 2}
    frame = (frame.assign(_o=frame["Level"].map(order).fillna(3))
             .sort_values(["_o", "Who", "Period"], kind="stable").drop(columns="_o"))
    return frame.rename(columns={n: scenario_header(n) for n in results.names})


def scenario_header(name: str) -> str:
    """A scenario's name as a column header that can wrap."""
    return str(name).replace("_", " ")
