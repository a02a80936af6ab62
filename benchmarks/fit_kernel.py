"""The deal-flow likelihood and the sampler: the fused numba kernel against the PyTensor
expression it replaced and a JAX version; PyMC's NUTS against nutpie and numpyro.

    python benchmarks/fit_kernel.py sample gen4 winloss maven --maven /tmp/mvn --sample \
        --nutpie --jax --cold --write docs/fit-kernel

Per case (see ``benchmarks/fit_convergence.py``), for the flow model built with the fused
kernel (``kernel``, today's code) and with the replaced expression (``expression``, from
``tests/flow_reference.py``), in the same process:

* ``compile_s``: PyMC's ``logp_dlogp_function`` (graph rewrites and C code, warm caches);
* ``grad_ms``: one value-and-gradient call, the median of 7 timings of 100 calls (one
  BLAS thread, as in the fit);
* with ``--sample``: the kernel's flow model sampled once by PyMC's NUTS at the product's
  defaults (:func:`settings`: ``SamplerConfig()``'s draws, tuning steps, chains and
  ``target_accept``; seed 1): wall seconds, leapfrog steps per draw, divergences, worst
  R-hat and bulk ESS over the flow's parameters, and ESS per second; with
  ``--sample-expression`` the expression's model too;
* with ``--nutpie`` (when nutpie is installed): the kernel model by nutpie's numba backend
  at the same settings, its compile time apart;
* with ``--jax`` (when jax and numpyro are installed): the likelihood written in JAX
  (``benchmarks/jax_density.py``): one jitted value and gradient of the whole model's
  log density (variant ``jax``; its compile is the first call), and the model sampled by
  ``pm.sample(nuts_sampler="numpyro")`` at the same settings.

``--cold`` times the first fit's compile on a fresh machine: a child process builds and
compiles the bundled sample's flow model with empty PyTensor and numba caches, then again
with the caches it filled. ``--write PREFIX`` writes ``PREFIX.json`` (every result) and
``PREFIX.md`` (the page, generated from the JSON). ``--merge PREFIX`` replaces the rows
of the cases run in ``PREFIX.json`` by this run's and keeps the rest (its date and command
are listed on the page), then writes it back with the page::

    python benchmarks/fit_kernel.py maven --maven /tmp/mvn --sample --nutpie --jax \
        --merge docs/fit-kernel
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from fit_convergence import case, extremes  # noqa: E402

FLOW_PARAMS = ("a", "dur", "owner_eff", "segment_eff", "sigma_owner")


SAMPLER_NAMES = {"pymc": "PyMC's NUTS", "nutpie": "nutpie", "numpyro": "numpyro (JAX)"}


def settings() -> dict:
    """One round of NUTS as the product's first round runs it (``SamplerConfig()``)."""
    from forecast.models.config import SamplerConfig

    sc = SamplerConfig()
    return {"draws": sc.draws, "tune": sc.tune, "chains": sc.chains,
            "target_accept": sc.target_accept}


def build_flow(dataset, as_of, variant: str):
    """The flow model with the kernel or the replaced expression."""
    import forecast.models.flow as flow
    from forecast.data.snapshot import build_snapshot
    from forecast.models.fit import ModelFitter

    original = flow.flow_loglik
    if variant == "expression":
        from tests.flow_reference import reference_loglik

        flow.flow_loglik = reference_loglik
    try:
        fitter = ModelFitter()
        model, _ = fitter.build_models(build_snapshot(dataset, as_of))
    finally:
        flow.flow_loglik = original
    return model, fitter


def time_gradient(model) -> tuple[float, float]:
    from forecast.models.fit import single_threaded_blas

    with single_threaded_blas():
        return _time_gradient(model)


def _time_gradient(model) -> tuple[float, float]:
    t = time.perf_counter()
    fn = model.logp_dlogp_function(ravel_inputs=True)
    fn.set_extra_values({})
    compile_s = time.perf_counter() - t
    x = np.concatenate([v.ravel() for v in model.initial_point().values()]) + 0.05
    fn(x)
    return compile_s, median_ms(lambda: fn(x))


def median_ms(call) -> float:
    """Milliseconds per ``call()``: the median of 7 timings of 100 calls."""
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(100):
            call()
        runs.append((time.perf_counter() - t) / 100)
    return statistics.median(runs) * 1e3


def time_jax_gradient(model) -> tuple[float, float]:
    """``(compile_s, grad_ms)`` of the whole model's log density and gradient, jitted by
    JAX (the flow likelihood from :mod:`jax_density`); compile is the first call."""
    import jax
    import pymc.sampling.jax as pmjax  # sets XLA's host device count before jax loads

    ip = model.initial_point()
    x = [np.asarray(ip[v.name], dtype=np.float64) + 0.05 for v in model.value_vars]
    fn = jax.jit(jax.value_and_grad(pmjax.get_jaxified_logp(model)))
    t = time.perf_counter()
    jax.block_until_ready(fn(x))
    compile_s = time.perf_counter() - t
    return compile_s, median_ms(lambda: jax.block_until_ready(fn(x)))


def sample(model, sampler: str) -> dict:
    import pymc as pm

    from forecast.models.config import SamplerConfig
    from forecast.models.fit import single_threaded_blas

    sc = SamplerConfig(**settings())
    out: dict = {}
    with single_threaded_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        if sampler in ("pymc", "numpyro"):
            with model:
                idata = pm.sample(sc.draws, tune=sc.tune, chains=sc.chains, cores=sc.n_cores,
                                  target_accept=sc.target_accept, random_seed=1,
                                  progressbar=False, compute_convergence_checks=False,
                                  nuts_sampler=sampler)
        else:
            import nutpie

            compiled = nutpie.compile_pymc_model(model, backend="numba")
            out["compile_s"] = round(time.perf_counter() - t, 1)
            idata = nutpie.sample(compiled, draws=sc.draws, tune=sc.tune, chains=sc.chains,
                                  cores=sc.n_cores, seed=1, progress_bar=False,
                                  target_accept=sc.target_accept)
        wall = time.perf_counter() - t
    names = [v for v in idata.posterior.data_vars if v in FLOW_PARAMS or str(v).startswith("beta[")]
    stats = idata.sample_stats
    steps = stats["n_steps"] if "n_steps" in stats else stats["tree_size"]
    out.update(sampler=sampler, wall_s=round(wall, 1), **extremes(idata, names),
               steps_per_draw=round(float(steps.mean()), 1),
               divergences=int(stats["diverging"].sum()))
    out["ess_per_s"] = round(out["ess_bulk_min"] / wall, 1)
    return out


def has_nutpie() -> bool:
    try:
        import nutpie  # noqa: F401
    except ImportError:
        print("nutpie is not installed: skipped (pip install nutpie)", file=sys.stderr)
        return False
    return True


def has_jax() -> bool:
    try:
        import jax_density
        import pymc.sampling.jax  # noqa: F401

        jax_density.register()
    except ImportError:
        print("jax or numpyro is not installed: skipped (pip install numpyro)",
              file=sys.stderr)
        return False
    return True


COLD_CHILD = """
import time, warnings; warnings.simplefilter("ignore")
t0 = time.perf_counter()
from forecast.data.dataset import load_dataset
from forecast.data.snapshot import build_snapshot
from forecast.models.fit import ModelFitter
t1 = time.perf_counter()
model, _ = ModelFitter().build_models(build_snapshot(load_dataset("data/sample"), "2026-10-31"))
fn = model.logp_dlogp_function(ravel_inputs=True)
t2 = time.perf_counter()
print(round(t1 - t0, 1), round(t2 - t1, 1))
"""


def cold_start() -> list[dict]:
    """Import and build+compile seconds with empty caches, then with the filled ones."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=f"{tmp}/numba",
                   PYTENSOR_FLAGS=f"compiledir={tmp}/pytensor")
        for state in ("cold", "warm"):
            t = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", COLD_CHILD], cwd=ROOT, env=env,
                                 capture_output=True, text=True, check=True)
            total = time.perf_counter() - t
            imports, build = (float(x) for x in res.stdout.split()[-2:])
            out.append({"caches": state, "import_s": imports, "build_compile_s": build,
                        "process_s": round(total, 1)})
            print(json.dumps(out[-1]), flush=True)
    return out


def reading(results: dict) -> list[str]:
    """Sentences generated from the results (no figure typed in by hand)."""
    out = ["## Reading", ""]
    st = results.get("settings") or settings()
    by = {(r["case"], r["variant"], r["sampler"]): r for r in results.get("sampling", [])}
    grads = {(r["case"], r["variant"]): r for r in results["gradient"]}
    for name in dict.fromkeys(r["case"] for r in results["gradient"]):
        g_old, g_new = grads[(name, "expression")], grads[(name, "kernel")]
        line = (f"- **{name}** ({g_new['cells']:,} cells): one value and gradient "
                f"{g_old['grad_ms']:.2f} ms (expression) → {g_new['grad_ms']:.2f} ms (kernel)")
        if (name, "jax") in grads:
            line += f", {grads[(name, 'jax')]['grad_ms']:.2f} ms in JAX"
        old, new = by.get((name, "expression", "pymc")), by.get((name, "kernel", "pymc"))
        if old and new:
            line += (f"; the flow model sampled with PyMC in {old['wall_s']} → "
                     f"{new['wall_s']} s ({old['wall_s'] / new['wall_s']:.1f}× faster), "
                     f"bulk ESS per second {old['ess_per_s']} → {new['ess_per_s']}")
        elif new:
            line += (f"; PyMC's NUTS sampled the flow model in {new['wall_s']} s "
                     f"({new['ess_per_s']} bulk ESS per second)")
        for other in ("nutpie", "numpyro"):
            r = by.get((name, "kernel", other))
            if r and new:
                spent = (f", of which {r['compile_s']} s compiling" if "compile_s" in r
                         else "")
                line += (f"; {other} {r['wall_s']} s{spent} "
                         f"({'faster' if r['wall_s'] < new['wall_s'] else 'slower'} than "
                         "PyMC's NUTS)")
        out.append(line + ".")
    wins = {}
    for other in ("nutpie", "numpyro"):
        pairs = [(by[(c, "kernel", other)], by[(c, "kernel", "pymc")]) for c, v, smp in by
                 if smp == other and (c, "kernel", "pymc") in by]
        if pairs:
            wins[other] = (sum(o["wall_s"] < p["wall_s"] for o, p in pairs), len(pairs))
    if wins:
        said = "; ".join(f"{k} ended first in {w} of {n} cases" for k, (w, n) in wins.items())
        out.append(f"- **The sampler.** Against PyMC's NUTS on the fused kernel: {said}. "
                   "nutpie's numba compile is paid again in every process (it is not cached "
                   "on disk as PyTensor's C code is) and once more for the arrival model; "
                   "numpyro runs the whole sampler under XLA, whose gathers and scatter-adds "
                   "on a CPU cost more per gradient than the numba kernel (the JAX rows of "
                   "the first table). PyMC's NUTS stays the default; `--nuts-sampler nutpie` "
                   "(with `pip install 'pipecast[nutpie]'`) is there for those who want it, "
                   "and the JAX samplers are not offered.")
    rhats = [r["rhat_max"] for r in results.get("sampling", [])]
    if rhats:
        above = sum(r >= 1.01 for r in rhats)
        divs = sum(r["divergences"] > 0 for r in results["sampling"])
        out.append(f"- **One round at the defaults** ({st['draws']:,} draws after "
                   f"{st['tune']} tuning steps per chain, target_accept "
                   f"{st['target_accept']}) ended with R-hat {min(rhats)}–{max(rhats)} over "
                   f"the flow's parameters: at or above the bar of 1.01 in {above} of "
                   f"{len(rhats)} runs, divergences in {divs}; the product's adaptive fit "
                   "samples a second round when the first misses the bar.")
    cold = {r["caches"]: r for r in results.get("cold", [])}
    if cold:
        out.append(f"- **A fresh machine** compiles the bundled sample's flow model in "
                   f"{cold['cold']['build_compile_s']} s; with the caches that run filled "
                   f"(PyTensor's compiledir, numba's `cache=True`), "
                   f"{cold['warm']['build_compile_s']} s.")
    out += [""] + [f"Note: {n}" for n in results.get("notes", [])]
    return out


def page(results: dict) -> str:
    rows = ["| case | deals | cells | variant | compile (s) | value+gradient (ms) |",
            "|---|---|---|---|---|---|"]
    for r in results["gradient"]:
        rows.append(f"| {r['case']} | {r['deals']:,} | {r['cells']:,} | {r['variant']} | "
                    f"{r['compile_s']:.1f} | {r['grad_ms']:.3f} |")
    lines = ["# The deal-flow likelihood and the sampler: fused kernel, expression, JAX; "
             "PyMC's NUTS, nutpie, numpyro", "",
             "Generated by `python benchmarks/fit_kernel.py "
             + " ".join(results["argv"]) + "` from `docs/fit-kernel.json` "
             f"({results['date']}, {results['machine']}).", "",
             *[f"Re-measured {m['date']}: {', '.join(m['cases'])}, by `python "
               f"benchmarks/fit_kernel.py {' '.join(m['argv'])}` (those cases' rows below "
               f"are from it)." for m in results.get("remeasured", [])],
             "", "## One value and gradient", "", *rows, ""]
    if results.get("sampling"):
        st = results.get("settings") or settings()
        names = ", ".join(dict.fromkeys(SAMPLER_NAMES[r["sampler"]]
                                        for r in results["sampling"]))
        lines += ["## The flow model sampled once", "",
                  f"{names}; {st['chains']} chains × ({st['tune']} tune + "
                  f"{st['draws']} draws), target_accept {st['target_accept']}, seed 1: one "
                  "round, as the product's first round runs at its defaults.", "",
                  "| case | variant | sampler | wall (s) | of it compile (s) | steps/draw | "
                  "divergences | R-hat max | bulk ESS min | ESS/s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in results["sampling"]:
            lines.append(f"| {r['case']} | {r['variant']} | {r['sampler']} | {r['wall_s']} | "
                         f"{r.get('compile_s', '—')} | {r['steps_per_draw']} | "
                         f"{r['divergences']} | {r['rhat_max']} | {r['ess_bulk_min']} | "
                         f"{r['ess_per_s']} |")
        lines.append("")
    if results.get("cold"):
        lines += ["## First fit on a fresh machine (bundled sample's flow model)", "",
                  "| caches | imports (s) | build + compile (s) | process (s) |",
                  "|---|---|---|---|"]
        for r in results["cold"]:
            lines.append(f"| {r['caches']} | {r['import_s']} | {r['build_compile_s']} | "
                         f"{r['process_s']} |")
        lines.append("")
    return "\n".join(lines + reading(results)) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--maven", type=Path, default=None)
    ap.add_argument("--sample", action="store_true", help="also sample each variant")
    ap.add_argument("--sample-expression", action="store_true",
                    help="with --sample, also sample the expression's model")
    ap.add_argument("--nutpie", action="store_true", help="also sample with nutpie")
    ap.add_argument("--jax", action="store_true",
                    help="also time the JAX density and sample with numpyro")
    ap.add_argument("--cold", action="store_true", help="time a cold-cache compile")
    ap.add_argument("--write", default=None, help="write PREFIX.json and PREFIX.md")
    ap.add_argument("--note", action="append", default=[],
                    help="a remark on the run, kept in the JSON and shown on the page")
    ap.add_argument("--merge", default=None, metavar="PREFIX",
                    help="replace the rows of this run's cases in PREFIX.json, keep the rest, "
                    "and write PREFIX.json and PREFIX.md")
    ap.add_argument("--page-only", default=None, metavar="PREFIX",
                    help="regenerate PREFIX.md from PREFIX.json (and --note) and stop")
    args = ap.parse_args()
    if args.page_only:
        results = json.loads(Path(f"{args.page_only}.json").read_text())
        results["notes"] = results.get("notes", []) + args.note
        Path(f"{args.page_only}.json").write_text(json.dumps(results, indent=1) + "\n")
        Path(f"{args.page_only}.md").write_text(page(results))
        return
    warnings.simplefilter("ignore")
    results: dict = {"argv": sys.argv[1:], "date": time.strftime("%Y-%m-%d"),
                     "machine": f"{os.cpu_count()} CPUs", "gradient": [], "sampling": [],
                     "notes": args.note, "settings": settings()}
    jax = args.jax and has_jax()
    for name in args.cases:
        dataset, as_of = case(name, args.maven)
        for variant in ("expression", "kernel"):
            model, fitter = build_flow(dataset, as_of, variant)
            row = {"case": name, "deals": int(len(fitter.snapshot.deals)),
                   "cells": int(fitter.cells.n_cells)}
            timings = [(variant, time_gradient)] + (
                [("jax", time_jax_gradient)] if jax and variant == "kernel" else [])
            for label, timer in timings:
                compile_s, grad_ms = timer(model)
                results["gradient"].append({**row, "variant": label,
                                            "compile_s": round(compile_s, 2),
                                            "grad_ms": round(grad_ms, 4)})
                print(json.dumps(results["gradient"][-1]), flush=True)
            if variant == "expression":
                samplers = ["pymc"] if args.sample and args.sample_expression else []
            else:
                samplers = (["pymc"] if args.sample else []) + (
                    ["nutpie"] if args.nutpie and has_nutpie() else []) + (
                    ["numpyro"] if jax else [])
            for sampler in samplers:
                res = {"case": name, "variant": variant, **sample(model, sampler)}
                results["sampling"].append(res)
                print(json.dumps(res), flush=True)
    if args.cold:
        results["cold"] = cold_start()
    if args.merge:
        results = merged(json.loads(Path(f"{args.merge}.json").read_text()), results,
                         args.cases)
        args.write = args.merge
    if args.write:
        Path(f"{args.write}.json").write_text(json.dumps(results, indent=1) + "\n")
        Path(f"{args.write}.md").write_text(page(results))


def merged(old: dict, new: dict, cases: list[str]) -> dict:
    """``old`` with its rows of ``cases`` replaced by ``new``'s, in ``old``'s case order, and
    the re-measurement recorded (date, command, cases)."""
    out = dict(old)
    order = list(dict.fromkeys(r["case"] for r in old["gradient"]))
    order += [c for c in cases if c not in order]
    for key in ("gradient", "sampling"):
        rows = [r for r in old.get(key, []) if r["case"] not in cases] + new.get(key, [])
        out[key] = sorted(rows, key=lambda r: order.index(r["case"]))
    out["remeasured"] = [m for m in old.get("remeasured", [])
                         if not set(m["cases"]) <= set(cases)] + [
        {"date": new["date"], "argv": new["argv"], "cases": cases}]
    return out


if __name__ == "__main__":
    main()
