"""``pipecast report``: the monthly forecast notebook, executed into ``reports/<YYYY-MM>/``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from pipecast.commands.common import (
    add_as_of,
    add_data,
    add_model_options,
    add_seed,
    check_sizes,
    load_data,
    parse_date,
    progress,
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    add_as_of(parser, required=False)
    parser.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                        help="reports folder; the report goes to DIR/<YYYY-MM>/ "
                        "(default reports)")
    parser.add_argument("--force", action="store_true",
                        help="replace the month's finished report")
    add_seed(parser)
    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    from forecast.data.problems import UsageError
    from pipecast.reporting import last_month_end, run_report

    if args.as_of is None:
        as_of = last_month_end(dt.date.today())
        progress(f"--as-of not given: using the last month end, {as_of.date()}")
    else:
        as_of = parse_date(args.as_of)
    check_sizes(args)
    dataset = load_data(args)  # bad input → exit 2 before any notebook runs
    params = {"horizon": args.horizon, "draws": args.draws, "seed": args.seed,
              "method": args.method, "chains": args.chains, "tune": args.tune,
              "samples": args.samples, "advi_iterations": args.advi_iterations}
    from forecast.data.snapshot import build_snapshot

    build_snapshot(dataset, as_of)  # an --as-of before any deal → exit 2 here
    try:
        final = run_report(args.data, as_of, args.out, params, force=args.force,
                           progress=not args.quiet)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the notebook's own error, reported plainly
        from papermill.exceptions import PapermillExecutionError

        if not isinstance(exc, PapermillExecutionError):
            raise
        print(f"error: the report notebook failed ({exc.ename}: {exc.evalue}); nothing was "
              f"written to {args.out}", file=sys.stderr)
        return 1
    progress(f"report written to {final}/")
    return 0
