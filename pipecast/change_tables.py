"""The report's "what changed since the last report" section: the pipeline waterfall and
the forecast bridge, as one-liners and tables for people.

The numbers come from :mod:`forecast.data.changes` (the waterfall) and
:mod:`simulations.evaluation.bridge` (the bridge); this module picks the dates, writes
``changes.json`` with the deals behind both, and words and tabulates them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipecast.report_tables import money


def previous_month_end(as_of: str | pd.Timestamp) -> pd.Timestamp:
    """The as-of date one month earlier: the previous month's end when ``as_of`` is a month
    end (the usual report date), else the same day a month earlier."""
    as_of = pd.Timestamp(as_of).normalize()
    if as_of.is_month_end:
        return as_of.to_period("M").start_time - pd.Timedelta(days=1)
    return as_of - pd.DateOffset(months=1)


def changes_since_last_month(snapshot, out_dir: str | Path | None = None,
                             bridge=None) -> dict | None:
    """The pipeline waterfall to the snapshot from the ``bridge``'s start (the last
    report's date), else from a month before (``changes.json`` form, the bridge under
    ``bridge``), written with the deals behind both into ``out_dir``; ``None`` when the
    data does not reach back that far."""
    import json

    from forecast.data.changes import changes_between, write_deals_csv
    from forecast.data.snapshot import build_snapshot

    start = bridge.from_date if bridge is not None else previous_month_end(snapshot.as_of)
    if start < snapshot.dataset.deals["created_at"].min():
        return None
    changes = changes_between(build_snapshot(snapshot.dataset, start), snapshot)
    doc = {**changes.to_dict(), "bridge": bridge.to_dict() if bridge is not None else None}
    if out_dir:
        (Path(out_dir) / "changes.json").write_text(json.dumps(doc, indent=2))
        write_deals_csv(changes, Path(out_dir) / "changes_deals.csv")
        if bridge is not None:
            bridge.write_deals_csv(Path(out_dir) / "bridge_deals.csv")
    return doc


def changes_table(changes: dict) -> pd.DataFrame:
    """The waterfall's bars (``changes.json`` form) as rows: start, bars with deals, end."""
    rows = [{"Step": f"Pipeline on {changes['from']}", "Deals": changes["start"]["deals"],
             "Amount": changes["start"]["amount"],
             "Weighted change": changes["start"]["weighted"]}]
    for b in changes["bars"]:
        if b["deals"]:
            rows.append({"Step": b["label"], "Deals": b["deals"], "Amount": b["amount"],
                         "Weighted change": b["change"]["weighted"]})
    rows.append({"Step": f"Pipeline on {changes['to']}", "Deals": changes["end"]["deals"],
                 "Amount": changes["end"]["amount"],
                 "Weighted change": changes["end"]["weighted"]})
    out = pd.DataFrame(rows)
    return out.rename(columns={"Weighted change": "Weighted pipeline / change"})


def bridge_table(bridge: dict) -> pd.DataFrame:
    """The forecast bridge (``changes.json``'s ``bridge``) as rows: start, bars that moved, end."""
    start, end = bridge["start"], bridge["end"]
    rows = [{"Step": f"Forecast on {bridge['from']}", "Deals": start.get("deals"),
             "Expected revenue / change": start["expected"], "P50": start.get("p50")}]
    rows += [{"Step": b["label"], "Deals": b["deals"] if b["bar"] != "model" else None,
              "Expected revenue / change": b["change"]["expected"], "P50": None}
             for b in bridge["bars"] if b["change"]["expected"] != 0]
    rows.append({"Step": f"Forecast on {bridge['to']}", "Deals": end.get("deals"),
                 "Expected revenue / change": end["expected"], "P50": end["p50"]})
    return pd.DataFrame(rows)


def bridge_sentence(bridge: dict) -> str:
    """One line for the first screen: how the period's forecast moved, the largest move."""
    start, end = bridge["start"], bridge["end"]
    moves = [b for b in bridge["bars"] if b["change"]["expected"] != 0]
    biggest = max(moves, key=lambda b: abs(b["change"]["expected"]), default=None)
    p50 = (f" (P50 {money(start['p50'])} → {money(end['p50'])})"
           if start.get("p50") is not None else "")
    most = ""
    if biggest is not None:
        v = biggest["change"]["expected"]
        most = f" Largest move: {biggest['label'].lower()}, {'+' if v > 0 else ''}{money(v)}."
    return (f"**{bridge['period']} since {bridge['from']}**: expected revenue "
            f"{money(start['expected'])} → {money(end['expected'])}{p50}.{most} "
            f"Start: {start['source']}.")
