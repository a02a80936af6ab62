"""``pipecast changes``: what changed in the pipeline between two as-of dates, into ``--out``.

Writes ``changes.json`` (the pipeline waterfall: start, one bar per kind of change, end, in
deals, amount and weighted amount; the definitions) and ``changes_deals.csv`` (the deals
behind each bar). No model is fitted. Definitions: ``docs/changes.md`` and
:mod:`forecast.data.changes`.
"""

from __future__ import annotations

import argparse
import json

from pipecast.commands.common import (
    add_data,
    add_out,
    check_outputs_free,
    load_data,
    parse_date,
    progress,
    staged_outputs,
)

OUTPUTS = ["changes.json", "changes_deals.csv"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    parser.add_argument("--from", dest="from_date", required=True, metavar="DATE",
                        help="the earlier as-of date YYYY-MM-DD (e.g. the last report's)")
    parser.add_argument("--to", dest="to_date", required=True, metavar="DATE",
                        help="the later as-of date YYYY-MM-DD")
    parser.add_argument("--period", default=None, metavar="YYYY-Qn|YYYY-MM",
                        help="only the pipeline expected to close in this period (deals "
                        "leaving it while open are 'pushed'); default: every open deal")
    add_out(parser)


def run(args: argparse.Namespace) -> int:
    from forecast.data.changes import pipeline_changes, write_deals_csv
    from forecast.data.problems import UsageError

    from_date = parse_date(args.from_date, "--from")
    to_date = parse_date(args.to_date, "--to")
    if from_date >= to_date:
        raise UsageError(f"--from {from_date.date()} must be before --to {to_date.date()}")
    check_outputs_free(args.out, OUTPUTS, args.force)
    dataset = load_data(args)
    changes = pipeline_changes(dataset, from_date, to_date, args.period)
    with staged_outputs(args.out, OUTPUTS) as tmp:
        (tmp / "changes.json").write_text(json.dumps(changes.to_dict(), indent=2))
        write_deals_csv(changes, tmp / "changes_deals.csv")
    s, e = changes.start, changes.end
    scope = f"period {args.period}" if args.period else "all open deals"
    progress(f"pipeline ({scope}): {s['deals']} deals, {s['amount']:,.0f} on "
             f"{from_date.date()} → {e['deals']} deals, {e['amount']:,.0f} on "
             f"{to_date.date()}; wrote {args.out}/changes.json and changes_deals.csv "
             f"({len(changes.deals)} deals)")
    return 0
