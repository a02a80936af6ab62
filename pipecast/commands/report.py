"""``pipecast report``: the monthly forecast notebook, executed into ``reports/<YYYY-MM>/``.

The model is fitted once here (or read from ``--posterior`` or the fit cache) and the
notebook is given the fit as its ``posterior`` parameter, so the report and the notebooks
it links to (run with the same data, ``as_of``, seed and settings, they hit the cache)
share one fit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

from pipecast.commands.common import (
    add_as_of,
    add_data,
    add_fit_reuse,
    add_model_options,
    add_seed,
    check_sizes,
    fit_reuse_from_args,
    load_data,
    parse_date,
    progress,
    sampler_or_file,
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
    add_fit_reuse(parser)


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

    snapshot = build_snapshot(dataset, as_of)  # an --as-of before any deal → exit 2 here
    final = args.out / as_of.strftime("%Y-%m")
    if final.exists() and not args.force:  # before fitting (run_report checks it again)
        raise UsageError(f"{final} already holds a finished report; pass --force to "
                         "replace it")
    reuse = fit_reuse_from_args(args)
    try:
        with tempfile.TemporaryDirectory(prefix="pipecast-report-") as scratch:
            def fit_once() -> dict:  # holding the month's lock: one fit for every notebook
                return {"posterior": str(_one_fit(snapshot, args, reuse, Path(scratch))),
                        "cache": False}

            final = run_report(args.data, as_of, args.out, params, force=args.force,
                               progress=not args.quiet, prepare=fit_once)
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


def _one_fit(snapshot, args: argparse.Namespace, reuse: dict, scratch: Path) -> Path:
    """The posterior file the notebook reads: ``--posterior`` (checked here, so that a
    mismatch exits 2 before any notebook runs), else the fit of this run (fitted, or read
    from the cache): its cache entry, or with ``--no-cache`` a file in ``scratch``."""
    from forecast.models.store import obtain_fit, save_result
    from forecast.seeds import child_seeds

    # the fit child of the run's seed, as in run_forecast (forecast.seeds)
    result = obtain_fit(snapshot, seed=child_seeds(args.seed, 2)[0],
                        sampler_config=sampler_or_file(args), **reuse)
    if reuse["posterior"] is not None:
        return Path(reuse["posterior"]).resolve()
    if not args.quiet:
        progress("fitted the model" if result.source == "fit" else
                 "fit read from the cache (no sampling)")
    if result.path is not None:
        return Path(result.path).resolve()
    return save_result(result, scratch / "posterior.nc").resolve()
