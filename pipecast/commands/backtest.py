"""``pipecast backtest``: rolling monthly forecasts from ``--start`` to ``--end``, scored.

At every month end in the range pipecast and the baselines forecast the next
``--horizon`` months from what was known then; the forecasts are scored against the
revenue then booked. Writes ``backtest.json``, ``backtest_scores.csv`` and
``backtest_deals.csv`` into ``--out``; with ``--report``, also the executed
``backtest.ipynb`` and its HTML. See ``docs/backtest.md``.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from forecast.data.problems import UsageError
from pipecast.commands.common import (
    add_cluster_options,
    add_data,
    add_fit_reuse,
    add_model_options,
    add_out,
    add_seed,
    check_cluster_options,
    check_outputs_free,
    check_sizes,
    parse_date,
    progress,
    sampler_from_args,
    staged_outputs,
)

OUTPUTS = ["backtest.json", "backtest_scores.csv", "backtest_deals.csv"]
REPORT = ["backtest.ipynb", "backtest.html"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    parser.add_argument("--start", required=True, metavar="DATE",
                        help="first forecast date YYYY-MM-DD (every month end from here on "
                        "is an as-of date)")
    parser.add_argument("--end", required=True, metavar="DATE",
                        help="last forecast date YYYY-MM-DD")
    add_out(parser)
    add_seed(parser)
    add_model_options(parser)
    parser.add_argument("--data-end", default=None, metavar="DATE",
                        help="extract date: months ending after it are not scored (default: "
                        "the latest date in the data)")
    parser.add_argument("--workers", type=int, default=1,
                        help="months fitted in parallel processes (default 1); results are "
                        "identical to a serial run")
    add_cluster_options(parser, "the months (a local cluster has --workers processes)")
    parser.add_argument("--report", action="store_true",
                        help="also execute notebooks/backtest.ipynb into --out (with HTML)")
    parser.add_argument("--posterior", type=Path, action="append", default=None,
                        metavar="FILE", help="a saved fit (pipecast fit) of one of the as-of "
                        "dates, used instead of fitting that month (repeatable)")
    add_fit_reuse(parser, posterior=False)


def _workers(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """The ``workers`` argument of :func:`simulations.evaluation.backtest.backtest`: a process count, a
    scheduler address, or (``--dask``) the client of a local cluster closed on exit."""
    check_cluster_options(args)
    if args.dask:
        from simulations.engine.distributed import dask_client

        return dask_client(None, n_workers=args.workers)
    return contextlib.nullcontext(args.scheduler or args.workers)


def check_args(args: argparse.Namespace):
    """Parsed dates; raises :class:`UsageError` on bad values."""
    start = parse_date(args.start, "--start")
    end = parse_date(args.end, "--end")
    if end < start:
        raise UsageError(f"--end {end.date()} is before --start {start.date()}")
    data_end = parse_date(args.data_end, "--data-end") if args.data_end else None
    check_sizes(args)
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    return start, end, data_end


def run(args: argparse.Namespace) -> int:
    from pipecast.commands.common import load_data
    from simulations.evaluation.backtest import backtest, month_ends

    start, end, data_end = check_args(args)
    if not month_ends(start, end):
        raise UsageError(f"no month end between --start {start.date()} and --end {end.date()}")
    names = OUTPUTS + (REPORT if args.report else [])
    check_outputs_free(args.out, names, args.force)
    dataset = load_data(args)
    sampler = sampler_from_args(args)
    cache_dir, posteriors = _fit_reuse(args, month_ends(start, end))
    try:
        with _workers(args) as workers:
            result = backtest(dataset, start, end, horizon=args.horizon, draws=args.draws,
                              seed=args.seed, sampler_config=sampler, workers=workers,
                              progress=not args.quiet, data_end=data_end,
                              cache_dir=cache_dir, posteriors=posteriors)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    with staged_outputs(args.out, names) as tmp:
        result.write(tmp)
        if args.report:
            from pipecast.reporting import execute

            execute("backtest.ipynb", tmp, {"backtest_dir": str(tmp.resolve())},
                    progress=not args.quiet)
    print(headline(result.summary()))
    progress(f"wrote {', '.join(names)} into {args.out}")
    return 0


def _fit_reuse(args: argparse.Namespace, dates: list) -> tuple[str | None, dict[str, Path]]:
    """The fit cache folder (``None`` with ``--no-cache``) and the ``--posterior`` files by
    as-of date; a file of no as-of date in the range, or two of one date, exit 2."""
    from forecast.models.store import FitCache, read_meta

    cache_dir = None if args.no_cache else str(FitCache(args.cache_dir).directory)
    wanted = {str(d.date()) for d in dates}
    posteriors: dict[str, Path] = {}
    for path in args.posterior or []:
        if not path.is_file():
            raise UsageError(f"--posterior {path} is not a file")
        as_of = read_meta(path).get("as_of")
        if as_of not in wanted:
            raise UsageError(f"--posterior {path} was fitted as of {as_of}, which is not a "
                             f"month end between --start and --end ({', '.join(sorted(wanted))})")
        if as_of in posteriors:
            raise UsageError(f"--posterior {posteriors[as_of]} and {path} are both fits as of "
                             f"{as_of}; give one")
        posteriors[as_of] = path
    return cache_dir, posteriors


def headline(summary: dict) -> str:
    """The per-method table printed at the end: company total, all months ahead."""
    rows = ["method               crps        coverage_80  mae          pipecast CRPS vs it"]
    for m, s in summary["methods"].items():
        vs = ""
        if m != "pipecast":
            skill = summary["comparison"][m]["crps"]["skill"]
            vs = "" if skill is None else (f"{abs(skill):.0%} " + ("lower" if skill > 0
                                                                   else "higher"))
        cov = "" if s["coverage_80"] is None else f"{s['coverage_80']:.2f}"
        rows.append(f"{m:<20} {s['crps'] or 0:>11,.0f} {cov:>12} {s['mae'] or 0:>12,.0f}"
                    f"  {vs}")
    return "\n".join(rows)
