"""``pipecast changes``: what changed in the pipeline between two as-of dates, into ``--out``.

Writes ``changes.json``: the pipeline waterfall (start, one bar per kind of change, end, in
deals, amount and weighted amount; the definitions; :mod:`forecast.data.changes`) and,
under ``bridge``, the forecast bridge of the period (default: the quarter being forecast
at ``--to``) — its expected revenue at ``--from`` → at ``--to``, one bar per cause, with
the P50s (:mod:`simulations.evaluation.bridge`); and the deals behind the bars,
``changes_deals.csv`` and ``bridge_deals.csv``. The bridge fits the model at ``--to`` (or
reuses ``--posterior`` or the fit cache); ``--no-bridge`` skips it (no fit: seconds, and
``bridge`` is ``null``). Definitions: ``docs/changes.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipecast.commands.common import (
    add_data,
    add_fit_reuse,
    add_out,
    add_sampler_options,
    add_seed,
    check_outputs_free,
    check_sizes,
    fit_reuse_from_args,
    load_data,
    parse_date,
    progress,
    sampler_or_file,
    staged_outputs,
)

OUTPUTS = ["changes.json", "changes_deals.csv"]
BRIDGE_OUTPUTS = ["bridge_deals.csv"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    parser.add_argument("--from", dest="from_date", required=True, metavar="DATE",
                        help="the earlier as-of date YYYY-MM-DD (e.g. the last report's)")
    parser.add_argument("--to", dest="to_date", required=True, metavar="DATE",
                        help="the later as-of date YYYY-MM-DD")
    parser.add_argument("--period", default=None, metavar="YYYY-Qn|YYYY-MM",
                        help="only the pipeline expected to close in this period (deals "
                        "leaving it while open are 'pushed'); default: every open deal "
                        "(the bridge: the quarter being forecast at --to)")
    add_out(parser)
    bridge = parser.add_argument_group(
        "forecast bridge (the period's forecast at --from → at --to, split into the model's "
        "update, won, lost, slipped, pulled in, amount changes and new deals; fits the "
        "model at --to)")
    bridge.add_argument("--no-bridge", dest="bridge", action="store_false",
                        help="the pipeline waterfall only: no fit, no bridge_deals.csv, and "
                        "changes.json's bridge is null")
    bridge.add_argument("--last-report", type=Path, default=None, metavar="DIR",
                        help="a report folder made on --from (summary.json, draws.parquet): "
                        "the bridge starts from its forecast, with a model-update bar")
    from forecast.models.config import SIMULATED_PATHS

    bridge.add_argument("--draws", type=int, default=SIMULATED_PATHS,
                        help=f"simulated paths per date (default {SIMULATED_PATHS})")
    add_seed(bridge)
    add_sampler_options(bridge)
    add_fit_reuse(bridge)


def run(args: argparse.Namespace) -> int:
    from forecast.data.changes import pipeline_changes, write_deals_csv
    from forecast.data.problems import UsageError

    from_date = parse_date(args.from_date, "--from")
    to_date = parse_date(args.to_date, "--to")
    if from_date >= to_date:
        raise UsageError(f"--from {from_date.date()} must be before --to {to_date.date()}")
    outputs = OUTPUTS + (BRIDGE_OUTPUTS if args.bridge else [])
    args.horizon = 1  # check_sizes' horizon: the bridge simulates to the period's end
    check_sizes(args)
    if args.last_report is not None and not args.bridge:
        raise UsageError("--last-report gives the bridge its start: drop --no-bridge, or it")
    if args.last_report is not None and not (args.last_report / "summary.json").is_file():
        raise UsageError(f"--last-report {args.last_report}: no summary.json there; give "
                         "a folder written by pipecast report or pipecast forecast")
    check_outputs_free(args.out, outputs, args.force)
    reuse = fit_reuse_from_args(args) if args.bridge else None
    dataset = load_data(args)
    changes = pipeline_changes(dataset, from_date, to_date, args.period)
    bridge = _bridge(dataset, from_date, to_date, args, reuse) if args.bridge else None
    doc = {**changes.to_dict(), "bridge": bridge.to_dict() if bridge is not None else None}
    with staged_outputs(args.out, outputs) as tmp:
        (tmp / "changes.json").write_text(json.dumps(doc, indent=2))
        write_deals_csv(changes, tmp / "changes_deals.csv")
        if bridge is not None:
            bridge.write_deals_csv(tmp / "bridge_deals.csv")
    s, e = changes.start, changes.end
    scope = f"period {args.period}" if args.period else "all open deals"
    progress(f"pipeline ({scope}): {s['deals']} deals, {s['amount']:,.0f} on "
             f"{from_date.date()} → {e['deals']} deals, {e['amount']:,.0f} on "
             f"{to_date.date()}; wrote {args.out}/changes.json and changes_deals.csv "
             f"({len(changes.deals)} deals)")
    if bridge is not None:
        b = bridge.to_dict()
        progress(f"forecast bridge of {b['period']}: expected {b['start']['expected']:,.0f} "
                 f"→ {b['end']['expected']:,.0f} (P50 {b['end']['p50']:,.0f}); in changes.json, "
                 "its deals in bridge_deals.csv")
    return 0


def _bridge(dataset, from_date, to_date, args: argparse.Namespace, reuse: dict):
    """The forecast bridge: the model fitted at ``--to`` (the fit child of ``--seed``, as
    in ``pipecast forecast``), applied at both dates (the bridge child, as in the report)."""
    from forecast.data.problems import UsageError
    from forecast.data.snapshot import build_snapshot
    from forecast.models.store import obtain_fit
    from forecast.seeds import child_seeds
    from simulations.evaluation.bridge import (
        default_period,
        forecast_bridge,
        read_last_report,
        report_date,
    )

    period = (args.period or default_period(to_date)).strip().upper()
    last = None
    if args.last_report is not None:
        made = report_date(args.last_report)  # unreadable: exit 2
        if made != from_date:
            raise UsageError(f"--last-report {args.last_report} was made on "
                             f"{made.date()}, not on --from {from_date.date()}")
        last = read_last_report(args.last_report, dataset, period)
        if last is None:
            raise UsageError(f"--last-report {args.last_report} did not forecast every "
                             f"remaining month of {period}")
    snapshot = build_snapshot(dataset, to_date)
    fit = obtain_fit(snapshot, seed=child_seeds(args.seed, 2)[0],  # a mismatch: exit 2
                     sampler_config=sampler_or_file(args), **reuse)
    return forecast_bridge(dataset, fit.posterior, from_date, to_date, period,
                           draws=args.draws, seed=child_seeds(args.seed, 3)[2], last=last)
