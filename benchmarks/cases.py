"""One benchmark case per process: ``python benchmarks/cases.py CASE JSON_ARGS``.

Prints one JSON line with the measurements. Each case runs in a fresh process so that
its peak memory (``ru_maxrss``) and its compile times are its own; the driver is
:mod:`benchmarks.run_benchmarks`.

Cases
-----
``engine``
    ``simulate`` on hand-built inputs (:func:`benchmarks.engine_inputs.realistic_inputs`):
    ``n_open`` open deals × ``draws`` paths × ``months``, 1,000 posterior draws.
``fit``
    A synthetic dataset of ``n_deals`` deals (:mod:`simulations.synthetic.generator`), its snapshot
    and exposure cells, then :meth:`forecast.models.fit.ModelFitter.fit` with ``sampler``.
``report``
    ``pipecast report`` on the bundled sample, end to end.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        return float("nan")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (compilers, chain processes)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def engine_case(n_open: int, draws: int, months: int = 3, n_posterior: int = 1000,
                threads: int | None = None, seed: int = 1) -> dict:
    """Time ``simulate`` (kernels already compiled: the compile/cache load is timed apart)."""
    import numpy as np

    from benchmarks.engine_inputs import realistic_inputs
    from simulations.engine.simulate import simulate

    inputs = realistic_inputs(n_open, n_posterior=n_posterior, months=months, seed=seed)
    t0 = time.perf_counter()
    simulate(realistic_inputs(50, n_posterior=2, months=months), 2, seed=0)
    warmup = time.perf_counter() - t0
    base = _current_rss_mb()
    cpu0, t0 = _cpu(), time.perf_counter()
    res = simulate(inputs, draws, seed=seed, threads=threads)
    seconds = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    peak = _rss_mb()
    return {"case": "engine", "n_open": n_open, "draws": draws, "months": months,
            "n_posterior": n_posterior, "threads": threads, "seconds": seconds,
            "cpu_seconds": cpu, "warmup_seconds": warmup, "peak_rss_mb": peak,
            "rss_before_mb": base, "deal_draws_per_s": n_open * draws / seconds,
            "mean_total": float(np.mean(res.total().sum(axis=1)))}


def fit_case(n_deals: int, sampler: str = "pymc", seed: int = 1, draws: int | None = None,
             tune: int | None = None, chains: int | None = None) -> dict:
    """Generate, snapshot, build cells and fit; every phase timed."""
    from forecast.data.snapshot import build_snapshot
    from forecast.models.config import SamplerConfig
    from forecast.models.fit import ModelFitter
    from simulations.synthetic.generator import GeneratorConfig, generate

    warnings.simplefilter("ignore")
    out: dict = {"case": "fit", "n_deals_target": n_deals, "sampler": sampler}
    t0 = time.perf_counter()
    data = generate(GeneratorConfig(n_deals=float(n_deals)), seed)
    dataset = data.to_dataset()
    out["generate_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    snapshot = build_snapshot(dataset, data.truth["end"])
    out["snapshot_seconds"] = time.perf_counter() - t0
    out["n_deals"] = int(len(snapshot.deals))
    kwargs: dict = {k: v for k, v in dict(draws=draws, tune=tune, chains=chains).items()
                    if v is not None}  # None: the product's defaults
    kwargs["progressbar"] = False
    if sampler == "advi":
        kwargs["method"] = "advi"
    else:
        kwargs["nuts_sampler"] = sampler
    fc = ModelFitter(sampler_config=SamplerConfig(**kwargs))
    t0 = time.perf_counter()
    models = fc.build_models(snapshot)
    out["cells_seconds"] = time.perf_counter() - t0
    # compile both models' log density and gradient first (C code into the compile cache,
    # which the fit then reuses), so that compiling and sampling are timed apart; the
    # children's CPU (the C compiler) is counted too
    cpu0, t0 = _cpu(), time.perf_counter()
    for model in models:
        model.logp_dlogp_function(ravel_inputs=True)
    out["compile_seconds"] = time.perf_counter() - t0
    fc.fit(snapshot, seed=seed)
    out["fit_seconds"] = time.perf_counter() - t0
    out["sample_seconds"] = out["fit_seconds"] - out["compile_seconds"]
    out["fit_cpu_seconds"] = _cpu() - cpu0
    diag = fc.posterior.diagnostics
    for key in ("n_cells", "rhat_max", "ess_bulk_min", "divergences", "draws", "converged"):
        out[key] = diag.get(key)
    out["rounds"] = len(diag.get("rounds") or [])
    out["peak_rss_mb"] = _rss_mb()
    return out


def report_case(draws: int = 2000, seed: int = 20261031) -> dict:
    """``pipecast report`` on ``data/sample`` twice, with an empty fit cache of its own: the
    first run fits (as after a fresh install), the second reads the first's fit."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pipecast.cli", "report", "--data", str(ROOT / "data/sample"),
               "--as-of", "2026-10-31", "--draws", str(draws), "--seed", str(seed),
               "--out", tmp, "--force"]
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "PIPECAST_CACHE_DIR": str(Path(tmp) / "fit-cache")}
        out = {"case": "report", "draws": draws}
        for key in ("seconds", "seconds_cached"):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
            out[key] = time.perf_counter() - t0
            out["returncode"] = proc.returncode
            if proc.returncode:
                out["stderr_tail"] = proc.stderr[-2000:]
                break
    return out


CASES = {"engine": engine_case, "fit": fit_case, "report": report_case}


def main(argv: list[str]) -> int:
    case, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    print(json.dumps(CASES[case](**args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
