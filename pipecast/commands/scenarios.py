"""``pipecast scenarios``: the forecast under named what-if scenarios, side by side.

The scenario file is read and checked against the data before the model is fitted, so a
typo fails in seconds (exit 2, every problem listed). Every scenario is then simulated
with the same seed as the baseline (common random numbers); ``scenarios.json`` and
``scenario_draws.parquet`` are written into ``--out`` (see ``docs/scenarios.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from forecast.data.problems import UsageError
from pipecast.commands.common import (
    add_as_of,
    add_data,
    add_fit_reuse,
    add_model_options,
    add_out,
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

OUTPUTS = ["scenarios.json", "scenario_draws.parquet"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    add_as_of(parser)
    parser.add_argument("--scenarios", required=True, type=Path, metavar="FILE.yaml",
                        help="scenario file: named scenarios, each a list of changes (see "
                        "data/scenarios/example.yaml and docs/scenarios.md)")
    add_out(parser)
    add_seed(parser)
    add_model_options(parser)
    add_fit_reuse(parser)


def run(args: argparse.Namespace) -> int:
    from forecast.data.snapshot import build_snapshot
    from simulations.engine.horizon import make_horizon
    from simulations.forecaster import run_forecast
    from simulations.scenarios.results import catalog_for, run_scenarios
    from simulations.scenarios.spec import ScenarioSet

    as_of = parse_date(args.as_of)
    check_sizes(args)
    check_outputs_free(args.out, OUTPUTS, args.force)
    reuse = fit_reuse_from_args(args)
    if not args.scenarios.is_file():
        raise UsageError(f"--scenarios {args.scenarios} is not a file")
    scenarios = ScenarioSet.from_yaml(args.scenarios)  # DataValidationError → exit 2
    dataset = load_data(args)
    snapshot = build_snapshot(dataset, as_of)
    scenarios.check(catalog_for(snapshot, make_horizon(snapshot.as_of, args.horizon)))
    if not args.quiet:
        progress(f"{len(scenarios)} scenarios: {', '.join(scenarios.names)}")
    forecast = run_forecast(dataset, as_of, horizon=args.horizon, draws=args.draws,
                            seed=args.seed, sampler_config=sampler_or_file(args),
                            chunk_size=args.chunk_size, progress=not args.quiet, **reuse)
    results = run_scenarios(forecast, scenarios, chunk_size=args.chunk_size,
                            progress=not args.quiet)
    with staged_outputs(args.out, OUTPUTS) as tmp:
        results.write(tmp)
    print(f"Revenue {results.months[0]} – {results.months[-1]} per scenario; Δ = per-path "
          f"difference from {results.baseline} (same random numbers):")
    print(results.to_text())
    for name, notes in results.notes.items():
        for note in notes:
            progress(f"{name}: {note}")
    progress(f"wrote {args.out}/scenarios.json and scenario_draws.parquet")
    return 0
