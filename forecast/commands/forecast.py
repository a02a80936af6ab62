"""``pipecast forecast``: fit at ``--as-of`` and simulate ``--horizon`` months into ``--out``."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from forecast.commands.common import (
    add_as_of,
    add_data,
    add_out,
    add_seed,
    check_outputs_free,
    parse_date,
    progress,
)
from forecast.dataset import load_dataset

OUTPUTS = ["summary.json", "draws.parquet"]


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Simulation size and sampler options shared by the forecasting commands."""
    parser.add_argument("--horizon", type=int, default=3, metavar="MONTHS",
                        help="months to forecast after --as-of (default 3)")
    parser.add_argument("--draws", type=int, default=2000,
                        help="simulated revenue paths (default 2000)")
    parser.add_argument("--method", choices=["nuts", "advi"], default="nuts",
                        help="nuts: full MCMC (default); advi: fast approximate fit")
    parser.add_argument("--chains", type=int, default=2, help="MCMC chains (default 2)")
    parser.add_argument("--tune", type=int, default=500, help="tuning steps per chain")
    parser.add_argument("--samples", type=int, default=500,
                        help="posterior draws kept per chain (default 500)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="paths simulated at once (memory bound; results unchanged)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def sampler_from_args(args: argparse.Namespace):
    from forecast.model_config import SamplerConfig

    return SamplerConfig(method=args.method, chains=args.chains, tune=args.tune,
                         draws=args.samples, progressbar=not args.quiet)


def check_sizes(args: argparse.Namespace) -> None:
    from forecast.problems import UsageError

    if args.horizon < 1 or args.horizon > 36:
        raise UsageError(f"--horizon {args.horizon} must be between 1 and 36 months")
    for name in ("draws", "samples", "chains"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    if args.tune < 0:
        raise UsageError("--tune must not be negative")


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    add_as_of(parser)
    add_out(parser)
    add_seed(parser)
    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    from simulations.forecast_run import run_forecast

    as_of = parse_date(args.as_of)
    check_sizes(args)
    check_outputs_free(args.out, OUTPUTS, args.force)
    dataset = load_dataset(args.data)
    result = run_forecast(dataset, as_of, horizon=args.horizon, draws=args.draws,
                          seed=args.seed, sampler_config=sampler_from_args(args),
                          chunk_size=args.chunk_size, progress=not args.quiet)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".forecast-", dir=args.out))
    try:
        result.write(tmp)
        for name in OUTPUTS:
            (tmp / name).replace(args.out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(result.total.round(0).to_string(index=False))
    d = result.summary["diagnostics"]
    progress(f"wrote {args.out}/summary.json and draws.parquet; R-hat max {d.get('rhat_max')}, "
             f"divergences {d.get('divergences')}")
    return 0
