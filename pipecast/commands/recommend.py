"""``pipecast recommend``: qualified deals and leads needed to reach a revenue target.

Fits the model at ``--as-of``, simulates the months up to the target's period and searches
for the fewest added qualified deals that make P(revenue ≥ ``--target``) reach
``--confidence`` (:mod:`simulations.planning.recommend`); writes ``recommendation.json`` into
``--out`` with the classic formula values beside the simulated ones.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from forecast.data.problems import UsageError
from forecast.seeds import child_sequence
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
    parse_date,
    progress,
    sampler_or_file,
    staged_outputs,
)

OUTPUTS = ["recommendation.json"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    add_as_of(parser)
    parser.add_argument("--target", required=True, type=float, metavar="AMOUNT",
                        help="revenue to reach in the period (already booked revenue counts)")
    parser.add_argument("--confidence", type=float, default=0.8, metavar="P",
                        help="wanted probability of reaching the target, in (0, 1) "
                        "(default 0.8)")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--owner", default=None, metavar="NAME",
                     help="the target is this rep's (default: the company total)")
    who.add_argument("--team", default=None, metavar="NAME",
                     help="the target is this team's (deals spread over its reps)")
    parser.add_argument("--period", default=None, metavar="YYYY-MM|YYYY-Qn",
                        help="period of the target (default: the --horizon months after "
                        "--as-of); with it, the simulation runs to the period's end")
    parser.add_argument("--stage", default=None, metavar="NAME",
                        help="stage where a 'qualified' deal enters (default: the second "
                        "pipeline stage)")
    parser.add_argument("--max-deals", type=int, default=5000, metavar="N",
                        help="give up above this many added deals (default 5000)")
    add_out(parser)
    add_seed(parser)
    add_model_options(parser)
    add_fit_reuse(parser)


def horizon_for(as_of: pd.Timestamp, period: str | None, horizon: int) -> int:
    """Months to simulate: ``horizon``, or up to the end of ``period`` when given."""
    if period is None:
        return horizon
    from forecast.data.periods import month_periods, months_of

    try:
        last = months_of(period)[-1]
    except ValueError as exc:
        raise UsageError(f"--period: {exc}") from exc
    first = month_periods(as_of, 1)[0]
    n = (pd.Period(last, "M") - pd.Period(first, "M")).n + 1
    if n < 1:
        raise UsageError(f"--period {period} is over by --as-of {as_of.date()}")
    if n > 36:
        raise UsageError(f"--period {period} ends more than 36 months after --as-of")
    return n


def _check(args: argparse.Namespace) -> None:
    if not 0 < args.confidence < 1:
        raise UsageError(f"--confidence {args.confidence} must be strictly between 0 and 1")
    if not args.target > 0:
        raise UsageError(f"--target {args.target} must be a positive amount")
    if args.max_deals < 1:
        raise UsageError("--max-deals must be at least 1")


def _forecast(dataset, as_of: pd.Timestamp, horizon: int, args: argparse.Namespace):
    """The fitted forecast the recommendation starts from (a seam for tests)."""
    from simulations.forecaster import run_forecast

    return run_forecast(dataset, as_of, horizon=horizon, draws=args.draws, seed=args.seed,
                        sampler_config=sampler_or_file(args), chunk_size=args.chunk_size,
                        progress=not args.quiet, **fit_reuse_from_args(args))


def _stage_index(stages: tuple[str, ...], name: str | None) -> int | None:
    if name is None:
        return None
    if name not in stages:
        raise UsageError(f"--stage {name!r} is not a pipeline stage ({', '.join(stages)})")
    return stages.index(name)


def print_summary(rec: dict) -> None:
    """A short table of the recommendation on stdout: simulated beside classic."""
    c = rec["classic"] or {}
    print(f"target {rec['target']:,.0f} for {rec['owner']} in {rec['period']} at "
          f"{rec['confidence']:.0%} confidence (P now {rec['p_attain_now']:.0%})")
    stage = rec["stage"]
    rows = [("won deals", None, c.get("deals_needed")),
            ("qualified deals", rec["deals_needed"], c.get("qualified_deals_needed")),
            ("leads", rec["leads_needed"], c.get("leads_needed")),
            ("coverage ratio", rec["coverage_ratio"], c.get("coverage_ratio"))]
    print(f"{'':18}{'simulated':>12}{'classic':>12}")
    for name, sim, cl in rows:
        print(f"{name:18}{_fmt(sim):>12}{_fmt(cl):>12}")
    if c:
        print(f"classic inputs: avg won deal size {_fmt(c.get('avg_deal_size'), 0)}, win rate "
              f"{_pct(c.get('win_rate'))} ({stage} {_pct(c.get('win_rate_from_stage'))}), "
              f"cycle {_fmt(c.get('cycle_days'), 0)} days, {c.get('n_reps')} reps")
        print(f"  won deals = target ÷ avg size; leads = won deals ÷ win rate; per rep: "
              f"{_fmt(c.get('deals_per_rep'))} won deals, {_fmt(c.get('leads_per_rep'))} leads")
        print(f"  velocity = won deals × win rate × avg size ÷ cycle = "
              f"{_fmt(c.get('pipeline_velocity_per_month'), 0)} per month; coverage = "
              f"pipeline {_fmt(c.get('pipeline_amount'), 0)} ÷ remaining "
              f"{_fmt(c.get('remaining_target'), 0)}")
    if rec["by_when"]:
        print(f"qualify between {rec['qualify_from']} and {rec['by_when']}")
    for line in rec["explanation"]:
        print(f"- {line}")


def _pct(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def _fmt(x, digits: int = 2) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}" if isinstance(x, float) else f"{x:,}"


def run(args: argparse.Namespace) -> int:
    from pipecast.commands.common import load_data
    from simulations.engine.inputs import booked_to_date
    from simulations.planning.recommend import recommend
    from simulations.planning.targets import resolve_target

    as_of = parse_date(args.as_of)
    check_sizes(args)
    _check(args)
    check_outputs_free(args.out, OUTPUTS, args.force)
    horizon = horizon_for(as_of, args.period, args.horizon)
    dataset = load_data(args)
    stage = _stage_index(dataset.stages, args.stage)
    known = set(dataset.deals["owner"])
    if args.owner is not None and args.owner not in known:
        raise UsageError(f"--owner {args.owner!r} owns no deal in {args.data}")
    if args.team is not None and args.team not in set(dataset.deals["team"]):
        raise UsageError(f"--team {args.team!r} is not a team in {args.data}")
    fc = _forecast(dataset, as_of, horizon, args)
    try:
        target = resolve_target(fc.inputs, args.target, owner=args.owner, team=args.team,
                                period=args.period, booked=booked_to_date(fc.snapshot))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    # the added deals get their own child of the run's seed (the fit and the simulation
    # use children 0 and 1, see run_forecast)
    seed = child_sequence(args.seed, 2)
    rec = recommend(fc.inputs, fc.result, target, args.confidence, seed=seed, stage=stage,
                    max_deals=args.max_deals, snapshot=fc.snapshot).to_dict()
    rec["seed"] = int(args.seed)
    with staged_outputs(args.out, OUTPUTS) as tmp:
        (tmp / OUTPUTS[0]).write_text(json.dumps(rec, indent=2))
    print_summary(rec)
    progress(f"wrote {args.out}/recommendation.json")
    return 0
