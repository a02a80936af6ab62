"""``pipecast fit``: fit once at ``--as-of`` and save the posterior to ``--out FILE``.

The file is ArviZ netCDF (``arviz.from_netcdf(FILE)`` opens it) holding the posterior, the
simulator's arrays, the fingerprint of every input file, the model and sampler
configuration, the seed, the version and the diagnostics (:mod:`forecast.models.store`).
Every command that fits takes it back with ``--posterior FILE``; the fit runs with the same
child seed as ``pipecast forecast --seed N``, so a command given the file prints the numbers
it would have printed fitting itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from forecast.data.problems import UsageError
from forecast.seeds import child_seeds
from pipecast.commands.common import (
    add_as_of,
    add_data,
    add_fit_reuse,
    add_sampler_options,
    add_seed,
    fit_line,
    fit_reuse_from_args,
    load_data,
    parse_date,
    progress,
    sampler_from_args,
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    add_as_of(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="posterior file to write (netCDF, e.g. fit-2026-10-31.nc)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out FILE")
    add_seed(parser)
    add_sampler_options(parser)
    add_fit_reuse(parser, posterior=False)


def run(args: argparse.Namespace) -> int:
    from forecast.data.snapshot import build_snapshot
    from forecast.models.store import obtain_fit, save_result

    as_of = parse_date(args.as_of)
    for name in ("chains", "samples", "advi_iterations"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.tune is not None and args.tune < 0:
        raise UsageError("--tune must not be negative")
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name (e.g. fit.nc)")
    if args.out.exists() and not args.force:
        raise UsageError(f"{args.out} exists; pass --force to overwrite it")
    reuse = fit_reuse_from_args(args)
    dataset = load_data(args)
    try:
        snapshot = build_snapshot(dataset, as_of)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    # the fit child of the run's seed, as `pipecast forecast --seed N` (forecast.seeds)
    result = obtain_fit(snapshot, seed=child_seeds(args.seed, 2)[0],
                        sampler_config=sampler_from_args(args), cache=reuse["cache"])
    save_result(result, args.out)
    d = result.posterior.diagnostics
    how = "fitted" if result.source == "fit" else "taken from the fit cache"
    progress(f"wrote {args.out} ({how}; as of {as_of.date()}, seed {args.seed}, "
             f"{result.sampler_config.method}); {fit_line(d)}")
    return 0
