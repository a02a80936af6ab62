"""Snapshot and exposure cells at scale: ``build_snapshot`` + ``ModelIndex.from_snapshot`` +
``spell_cells`` on a generated dataset (default 1M deals).

    python benchmarks/snapshot_scale.py                       # 1M deals, this checkout
    python benchmarks/snapshot_scale.py --before c7206bd      # and the code of a revision
    python benchmarks/snapshot_scale.py --n-deals 100000 --repeat 3 --json out.json

The dataset is generated once (:mod:`simulations.synthetic.generator`, validated with
``dataset_from_frames``) and cached as a pickle under ``/tmp/pipecast-snapshot-scale`` (never
in git). Each measurement runs in a fresh process that loads the cached dataset, resets its
peak-memory mark (``/proc/self/clear_refs``), then times the three steps; it reports wall and
CPU seconds of each, the resident memory after loading the dataset, and the peak resident
memory (``VmHWM``) during the steps. ``--before REV`` exports that revision with
``git archive`` and runs the same measurement on its code, in the same run, alternating with
this checkout's, so that both see the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "pipecast-snapshot-scale"
#: targets of issue 14, item 4
TARGET_S = 10.0
TARGET_MB = 2048.0


def _status_mb(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    """Reset this process's peak resident memory mark to its current size (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def dataset_path(n_deals: int, seed: int) -> Path:
    return CACHE / f"dataset-{n_deals}-seed{seed}.pkl"


def ensure_dataset(n_deals: int, seed: int) -> tuple[Path, str]:
    """Generate (once) and cache the dataset; returns its path and as-of date."""
    path = dataset_path(n_deals, seed)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())["as_of"]
    sys.path.insert(0, str(ROOT))
    from simulations.synthetic.generator import GeneratorConfig, generate

    t0 = time.perf_counter()
    data = generate(GeneratorConfig(n_deals=float(n_deals)), seed)
    dataset = data.to_dataset()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(dataset, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    meta.write_text(json.dumps({"as_of": str(data.truth["end"]), "n_deals": len(dataset.deals),
                                "generate_seconds": time.perf_counter() - t0}))
    print(f"generated {len(dataset.deals):,} deals in {time.perf_counter() - t0:.0f} s "
          f"→ {path}", file=sys.stderr)
    return path, str(data.truth["end"])


def measure(path: str, as_of: str) -> dict:
    """One measurement (run in a fresh process whose code root is first on ``sys.path``)."""
    import warnings

    warnings.simplefilter("ignore")
    from forecast.data.snapshot import build_snapshot
    from forecast.models.fit import spell_cells
    from forecast.posterior import ModelIndex

    with open(path, "rb") as f:
        dataset = pickle.load(f)
    out: dict = {"n_deals_dataset": int(len(dataset.deals)),
                 "rss_after_load_mb": _status_mb("VmRSS"),
                 "peak_after_load_mb": _status_mb("VmHWM")}
    out["peak_reset"] = _reset_peak()
    steps = (("snapshot", lambda _: build_snapshot(dataset, as_of)),
             ("index", lambda s: (s, ModelIndex.from_snapshot(s))),
             ("cells", lambda si: spell_cells(*si)))
    value = None
    total_wall = total_cpu = 0.0
    for name, step in steps:
        c0, t0 = time.process_time(), time.perf_counter()
        value = step(value)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[f"{name}_seconds"], out[f"{name}_cpu_seconds"] = wall, cpu
        total_wall += wall
        total_cpu += cpu
        if name == "snapshot":
            out["n_deals"] = int(len(value.deals))
            out["n_spells"] = int(len(value.spells))
    out["n_cells"] = int(value.n_cells)
    out["total_seconds"], out["total_cpu_seconds"] = total_wall, total_cpu
    out["peak_rss_mb"] = _status_mb("VmHWM")
    out["peak_above_load_mb"] = out["peak_rss_mb"] - out["rss_after_load_mb"]
    return out


def _export(rev: str) -> Path:
    """The code of ``rev`` in a temporary folder (``git archive``)."""
    sha = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    dest = CACHE / f"code-{sha[:12]}"
    if not (dest / "forecast").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _run_child(code_root: Path, path: Path, as_of: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code_root), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                           str(code_root), str(path), as_of], capture_output=True, text=True,
                          env=env, cwd=code_root)
    if proc.returncode:
        raise RuntimeError(f"measurement on {code_root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _summary(label: str, runs: list[dict]) -> dict:
    keys = [k for k in runs[0] if k.endswith("seconds") or k.endswith("_mb")]
    out = {"code": label, "runs": runs}
    out["min"] = {k: min(r[k] for r in runs) for k in keys}
    out["median"] = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in keys}
    return out


def _print(label: str, r: dict) -> None:
    print(f"  {label:>8}: snapshot {r['snapshot_seconds']:6.2f} s (cpu {r['snapshot_cpu_seconds']:6.2f})"
          f"  index {r['index_seconds']:5.2f} s (cpu {r['index_cpu_seconds']:5.2f})"
          f"  cells {r['cells_seconds']:5.2f} s (cpu {r['cells_cpu_seconds']:5.2f})"
          f"  total {r['total_seconds']:6.2f} s (cpu {r['total_cpu_seconds']:6.2f})"
          f"  peak {r['peak_rss_mb']:6.0f} MiB (+{r['peak_above_load_mb']:.0f} over the "
          f"loaded dataset's {r['rss_after_load_mb']:.0f})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-deals", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", metavar="REV",
                        help="also measure the code of this git revision (e.g. c7206bd)")
    parser.add_argument("--json", type=Path, help="write the raw measurements here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        code_root, path, as_of = args.child
        sys.path.insert(0, code_root)
        print(json.dumps(measure(path, as_of)), flush=True)
        return 0

    path, as_of = ensure_dataset(args.n_deals, args.seed)
    codes = {"after": ROOT}
    if args.before:
        codes = {"before": _export(args.before), **codes}
    runs: dict[str, list[dict]] = {k: [] for k in codes}
    print(f"{args.n_deals:,} deals requested, as_of {as_of}, {args.repeat} repeats "
          f"({platform.node()}, {os.cpu_count()} cpus)")
    for i in range(args.repeat):
        for label, root in codes.items():
            r = _run_child(root, path, as_of)
            runs[label].append(r)
            print(f"run {i + 1}", end="")
            _print(label, r)
    results = {"n_deals_requested": args.n_deals, "seed": args.seed, "as_of": as_of,
               "n_deals": runs["after"][0]["n_deals"], "n_spells": runs["after"][0]["n_spells"],
               "n_cells": runs["after"][0]["n_cells"],
               "targets": {"seconds": TARGET_S, "peak_mb": TARGET_MB},
               "machine": {"node": platform.node(), "cpus": os.cpu_count(),
                           "python": platform.python_version()},
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
               "results": [_summary(k, v) for k, v in runs.items()]}
    print("best of runs (wall, cpu, peak):")
    for s in results["results"]:
        m = s["min"]
        verdict = {k: "met" if v else "missed" for k, v in (
            ("wall", m["total_seconds"] <= TARGET_S), ("cpu", m["total_cpu_seconds"] <= TARGET_S),
            ("memory", m["peak_rss_mb"] <= TARGET_MB))}
        print(f"  {s['code']:>8}: {m['total_seconds']:.2f} s wall, {m['total_cpu_seconds']:.2f} s "
              f"cpu, peak {m['peak_rss_mb']:.0f} MiB (+{m['peak_above_load_mb']:.0f} over the "
              f"dataset) — target ≤ {TARGET_S:.0f} s, ≤ {TARGET_MB:.0f} MiB: wall "
              f"{verdict['wall']}, cpu {verdict['cpu']}, memory {verdict['memory']} (wall "
              f"counts other processes' load: compare cpu on a shared machine)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
