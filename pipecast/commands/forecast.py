"""``pipecast forecast``: fit at ``--as-of`` and simulate ``--horizon`` months into ``--out``."""

from __future__ import annotations

import argparse

from pipecast.commands.common import (
    add_as_of,
    add_cluster_options,
    add_data,
    add_fit_reuse,
    add_model_options,
    add_out,
    add_seed,
    check_cluster_options,
    check_outputs_free,
    check_sizes,
    fit_line,
    fit_reuse_from_args,
    load_data,
    parse_date,
    progress,
    sampler_or_file,
    staged_outputs,
)

OUTPUTS = ["summary.json", "draws.parquet"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    add_as_of(parser)
    add_out(parser)
    add_seed(parser)
    add_model_options(parser)
    add_cluster_options(parser, "the simulation")
    add_fit_reuse(parser)


def run(args: argparse.Namespace) -> int:
    from simulations.forecaster import run_forecast

    as_of = parse_date(args.as_of)
    check_sizes(args)
    check_cluster_options(args)
    check_outputs_free(args.out, OUTPUTS, args.force)
    reuse = fit_reuse_from_args(args)
    dataset = load_data(args)
    result = run_forecast(dataset, as_of, horizon=args.horizon, draws=args.draws,
                          seed=args.seed, sampler_config=sampler_or_file(args),
                          chunk_size=args.chunk_size, progress=not args.quiet,
                          scheduler="local" if args.dask else args.scheduler, **reuse)
    with staged_outputs(args.out, OUTPUTS) as tmp:
        result.write(tmp)
    print(result.total.round(0).to_string(index=False))
    d = result.summary["diagnostics"]
    progress(f"wrote {args.out}/summary.json and draws.parquet; {fit_line(d)}")
    return 0
