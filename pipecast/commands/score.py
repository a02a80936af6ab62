"""``pipecast score``: each open deal's win probability and what drives it, into ``--out``.

Writes ``deal_scores.csv`` (one row per deal open at ``--as-of``; empty when none is),
``drivers.csv`` (effects on the win odds) and ``score_summary.json`` (fit diagnostics and
the definitions). Column definitions: ``docs/scoring_deals.md``.
"""

from __future__ import annotations

import argparse
import json

from forecast.seeds import child_seeds
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
    sampler_from_args,
    sampler_or_file,
    staged_outputs,
)

OUTPUTS = ["deal_scores.csv", "drivers.csv", "score_summary.json"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    add_as_of(parser)
    add_out(parser)
    add_seed(parser)
    add_model_options(parser)
    add_fit_reuse(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from forecast.data.problems import UsageError
    from forecast.data.snapshot import build_snapshot
    from simulations.engine.horizon import make_horizon
    from simulations.evaluation.deal_scores import driver_table, score_deals, write_scores
    from simulations.forecaster import PipelineForecaster

    as_of = parse_date(args.as_of)
    check_sizes(args)
    check_outputs_free(args.out, OUTPUTS, args.force)
    reuse = fit_reuse_from_args(args)
    dataset = load_data(args)
    try:
        snapshot = build_snapshot(dataset, as_of)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    # the same child seed as `pipecast forecast`: the same data and seed give the same fit
    fc = PipelineForecaster(sampler_config=sampler_or_file(args, sampler_from_args)).fit(
        snapshot, seed=child_seeds(args.seed, 2)[0], **reuse)
    horizon = make_horizon(snapshot.as_of, args.horizon)
    scores = score_deals(snapshot, fc.posterior, horizon)
    drivers = driver_table(snapshot, fc.posterior)
    summary = {
        "as_of": str(snapshot.as_of.date()), "horizon_months": list(horizon.months),
        "horizon_end": str((snapshot.as_of + np.timedelta64(horizon.days, "D")).date()),
        "seed": int(args.seed), "n_open_deals": int(len(scores)),
        "n_deals_fitted": int(len(snapshot.deals)),
        "covariates": list(fc.posterior.index.covariates.columns),
        "diagnostics": fc.posterior.diagnostics,
        "definitions": "docs/scoring_deals.md",
    }
    with staged_outputs(args.out, OUTPUTS) as tmp:
        write_scores(tmp, scores, drivers)
        (tmp / "score_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    d = fc.posterior.diagnostics
    progress(f"wrote {args.out}/deal_scores.csv ({len(scores)} open deals), drivers.csv "
             f"({len(drivers)} effects); R-hat max {d.get('rhat_max')}, divergences "
             f"{d.get('divergences')}")
    return 0
