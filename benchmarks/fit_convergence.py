"""Convergence of the default fit on the issue-14 datasets (prints one JSON line per fit).

    python benchmarks/fit_convergence.py sample gen4 winloss maven --maven /tmp/mvn

Cases: ``sample`` (data/sample as of 2026-10-31), ``gen4`` (generated: 4 stages, 12 reps,
3 segments, seed 7), ``winloss`` (:meth:`GeneratorConfig.win_loss_table`: one stage,
~450 deals, 20 categorical covariates, 18 reps, seed 7) and ``maven`` (a dataset folder
written by ``pipecast import maven``, as of 2017-06-30). Each fit runs with the product's
default settings (``--fit-budget`` to change the budget) and seed 1; reported are the
deals, cells, wall and CPU seconds (this process and its chain processes), the worst
R-hat and bulk ESS over the parameters the simulation uses, over all variables, and the
divergences. The diagnostics are computed here from the draws, so that the script gives
comparable figures for older versions of the fit (run it from their checkout).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import arviz as az
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

USED = ("a", "dur", "owner_eff", "segment_eff", "sigma_owner", "arr_b0", "arr_owner_eff",
        "arr_season", "arr_alpha")


def generated(config, seed: int = 7):
    from simulations.synthetic.generator import generate

    return generate(config, seed).to_dataset(), config.end


def four_stage():
    from simulations.synthetic.generator import GeneratorConfig

    c = GeneratorConfig()
    keep = [0, 1, 3, 4]  # contact, qualification, proposal, negotiation
    return replace(c, stages=tuple(c.stages[i] for i in keep),
                   a=tuple(tuple(row[i] for i in keep) for row in c.a),
                   crm_probabilities=tuple(c.crm_probabilities[i] for i in keep))


def case(name: str, maven: Path | None):
    from forecast.data.dataset import load_dataset
    from simulations.synthetic.generator import GeneratorConfig

    if name == "sample":
        return load_dataset(ROOT / "data" / "sample"), "2026-10-31"
    if name == "gen4":
        return generated(four_stage())
    if name == "winloss":
        return generated(GeneratorConfig.win_loss_table())
    if name == "maven":
        if maven is None:
            raise SystemExit("maven needs --maven DIR (written by pipecast import maven)")
        return load_dataset(maven), "2017-06-30"
    raise SystemExit(f"unknown case {name}")


def extremes(idata, names):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(idata, var_names=names)
        ess = az.ess(idata, var_names=names, method="bulk")
    r = {v: float(np.nanmax(rhat[v].values, initial=-np.inf)) for v in rhat.data_vars}
    e = {v: float(np.nanmin(ess[v].values, initial=np.inf)) for v in ess.data_vars}
    rw, ew = max(r, key=r.get), min(e, key=e.get)
    return {"rhat_max": round(r[rw], 4), "rhat_worst": rw, "ess_bulk_min": round(e[ew], 1),
            "ess_worst": ew}


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--maven", type=Path, default=None)
    ap.add_argument("--fit-budget", type=float, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target-accept", type=float, default=None,
                    help="NUTS target acceptance (default: the product's)")
    ap.add_argument("--nuts-sampler", default=None,
                    help="pymc or nutpie (default: the product's)")
    ap.add_argument("--out", type=Path, default=None,
                    help="also write the lines, with the command and date, to this JSON file")
    ap.add_argument("--merge", action="store_true",
                    help="with --out: replace that file's fits of these cases, keep the others "
                    "(each fit keeps the command and date it was measured by)")
    args = ap.parse_args()
    lines = []
    from forecast.models.config import SamplerConfig
    from forecast.models.fit import ModelFitter

    for name in args.cases:
        dataset, as_of = case(name, args.maven)
        opts = {"progressbar": False}
        if args.fit_budget is not None:
            opts["fit_budget"] = args.fit_budget
        if args.nuts_sampler is not None:
            opts["nuts_sampler"] = args.nuts_sampler
        if args.target_accept is not None:
            opts["target_accept"] = args.target_accept
        c0, t0 = cpu_seconds(), time.perf_counter()
        fitter = ModelFitter(sampler_config=SamplerConfig(**opts)).fit(dataset, as_of,
                                                                        seed=args.seed)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        post = fitter.idata.posterior
        used = [v for v in post.data_vars
                if v in USED or (str(v).startswith("beta[") and str(v).endswith("]"))]
        out = {"case": name, "deals": int(len(fitter.snapshot.deals)),
               "cells": int(fitter.cells.n_cells), "wall_s": round(wall, 1),
               "cpu_s": round(cpu, 1), **extremes(fitter.idata, used),
               "rhat_max_all": extremes(fitter.idata, list(post.data_vars))["rhat_max"],
               "rhat_worst_all": extremes(fitter.idata, list(post.data_vars))["rhat_worst"],
               "divergences": int(fitter.idata.sample_stats["diverging"].sum()),
               "draws": int(post.sizes["chain"] * post.sizes["draw"]),
               "steps_per_draw": round(float(fitter.idata.sample_stats["n_steps"].mean()), 1),
               "target_accept": fitter.sampler_config.target_accept,
               "nuts_sampler": fitter.sampler_config.nuts_sampler,
               "rounds": fitter.posterior.diagnostics.get("rounds")}
        print(json.dumps(out), flush=True)
        lines.append(out)
    if args.out:
        command = "python benchmarks/fit_convergence.py " + " ".join(sys.argv[1:])
        record = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M"), "fits": lines}
        if args.merge and args.out.exists():
            old = json.loads(args.out.read_text())
            kept = [dict(f, measured_by=f.get("measured_by") or {
                "command": old["command"], "date": old["date"]})
                for f in old["fits"] if f["case"] not in args.cases]
            for f in lines:
                f["measured_by"] = {"command": command, "date": record["date"]}
            order = [f["case"] for f in old["fits"]]
            record["fits"] = sorted(kept + lines, key=lambda f: order.index(f["case"])
                                    if f["case"] in order else len(order))
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
