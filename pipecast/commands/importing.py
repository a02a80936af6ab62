"""``pipecast import``: convert a CRM export into a dataset directory.

``pipecast import FORMAT --src PATH --out DIR`` with FORMAT one of ``maven``,
``salesforce``, ``hubspot``, or ``--mapping FILE`` for any other CSV. Writes
``deals.csv``, ``stage_history.csv`` (when the export has stage dates), ``pipeline.yaml``
and ``import_report.json`` (every input row: loaded, repaired or rejected, and why)
atomically, refuses a non-empty ``--out`` without ``--force``, and prints a short summary.
See ``docs/importing.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from forecast.data.importers import FORMATS, ImportOptions, import_export
from forecast.data.importers.dates import ORDERS
from forecast.data.importers.writing import check_out_dir, write_import
from forecast.data.problems import UsageError
from pipecast.commands.common import add_data_end, add_out, data_clock


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", nargs="?", choices=FORMATS, metavar="FORMAT",
                        help="export format: maven, salesforce, hubspot, or mapping (with "
                        "--mapping FILE; the format may then be left out)")
    parser.add_argument("--src", required=True, type=Path, metavar="PATH",
                        help="the export: a folder (maven; salesforce with Opportunity and "
                        "OpportunityHistory CSVs) or a CSV file")
    add_out(parser)
    add_data_end(parser)
    parser.add_argument("--mapping", type=Path, metavar="FILE",
                        help="YAML mapping of our columns to the export's (any other CSV)")
    parser.add_argument("--history", type=Path, metavar="FILE",
                        help="stage-history CSV (salesforce OpportunityHistory, or a "
                        "mapping's history file)")
    parser.add_argument("--currency", metavar="CODE",
                        help="keep only deals in this currency; the others are rejected")
    parser.add_argument("--pipeline", metavar="NAME",
                        help="keep only deals of this CRM pipeline (hubspot, mapping)")
    parser.add_argument("--stages", metavar="A,B,C",
                        help="open stages in pipeline order, comma-separated (overrides the "
                        "inferred order)")
    parser.add_argument("--date-order", choices=ORDERS, default="auto",
                        help="how a/b/yyyy dates are read: dmy, mdy, or auto (decided per "
                        "file from the data; default)")


def _format(args: argparse.Namespace) -> str:
    fmt = args.format
    if args.mapping is not None:
        if fmt not in (None, "mapping"):
            raise UsageError(f"--mapping is for other CSV files; leave it out for {fmt}, or "
                             "use 'pipecast import mapping --mapping FILE'")
        return "mapping"
    if fmt is None:
        raise UsageError("give the export format (maven, salesforce, hubspot) or "
                         "--mapping FILE")
    if fmt == "mapping":
        raise UsageError("the mapping format needs --mapping FILE")
    return fmt


def _options(args: argparse.Namespace, fmt: str) -> ImportOptions:
    if args.history is not None and fmt not in ("salesforce", "mapping"):
        raise UsageError(f"--history is for salesforce and mapping imports; {fmt} exports "
                         "carry their stage dates in the deals file")
    if args.pipeline is not None and fmt not in ("hubspot", "mapping"):
        raise UsageError("--pipeline is for hubspot and mapping imports")
    for flag, path in (("--src", args.src), ("--history", args.history),
                       ("--mapping", args.mapping)):
        if path is not None and not path.exists():
            raise UsageError(f"{flag} {path} does not exist")
    currency = (args.currency or "").strip().upper() or None
    if args.currency is not None and not currency:
        raise UsageError("--currency needs a currency code, e.g. --currency USD")
    stages = None
    if args.stages is not None:
        stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
        if not stages:
            raise UsageError("--stages needs stage names, e.g. --stages 'Lead,Demo,Proposal'")
    return ImportOptions(currency=currency, pipeline=(args.pipeline or "").strip() or None,
                         stages=stages, date_order=args.date_order, history=args.history,
                         data_end=data_clock(args))


def run(args: argparse.Namespace) -> int:
    fmt = _format(args)
    options = _options(args, fmt)
    sources = [p for p in (args.src, args.history, args.mapping) if p is not None]
    check_out_dir(args.out, args.force, sources)  # fail before the work, not after
    result = import_export(fmt, args.src, options, mapping=args.mapping)
    out = write_import(result, args.out, force=args.force, sources=sources)
    for line in result.report.summary_lines():
        print(line)
    hist = 0 if result.history is None else len(result.history)
    files = ["deals.csv"] + (["stage_history.csv"] if hist else []) + [
        "pipeline.yaml", "import_report.json"]
    print(f"wrote {out}: {len(result.deals)} deals, {hist} stage-history rows "
          f"({', '.join(files)})")
    return 0
