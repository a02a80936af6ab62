"""Calibration of pipecast's intervals across forecast dates and generated datasets.

For each generator seed, a synthetic dataset is generated (``simulations.synthetic.generator``) and
backtested at every month end from ``--start`` to ``--end``; each (seed, as-of) pair is a
case. The script prints, per month ahead, how often the 80% (and 50%) interval of the
company's monthly revenue held the revenue that then happened, and the median absolute
error of pipecast's median against the CRM weighted pipeline's, then writes
``docs/calibration.md``, ``docs/img/backtest_calibration.png`` and, beside the page, the raw
results it is generated from: ``calibration-scores.csv`` (every method's company-total
score per case and month) and ``calibration-runs.json`` (the command, the settings and
each pipecast fit's diagnostics). ``--page-only`` regenerates the page and the figure from
those two files.

    python benchmarks/calibration.py --seeds 11 12 --deals 3000 --start 2025-06-30 \\
        --end 2026-07-31 --workers 2

pipecast is fitted as the product fits by default (NUTS, ``SamplerConfig()``'s draws,
tuning steps, chains and target_accept, the adaptive rounds); ``--method advi`` and the
sampler options change that.

Finished backtests can be reused instead of fitted again (``--from DIR ...``, folders
written by ``pipecast backtest``), and every backtest this script runs is kept under
``--keep DIR`` for reuse.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast import __version__  # noqa: E402
from forecast.models.config import SamplerConfig  # noqa: E402
from forecast.models.fit import MAX_ROUNDS  # noqa: E402
from simulations.evaluation.backtest import backtest  # noqa: E402
from simulations.evaluation.backtest_result import read_backtest, write_backtest  # noqa: E402
from simulations.synthetic.generator import GeneratorConfig, generate  # noqa: E402


def synthetic(seed: int, deals: int):
    """A generated dataset (default generator, ``deals`` deals) as a Dataset."""
    return generate(replace(GeneratorConfig(), n_deals=float(deals)), seed).to_dataset()


def run_cases(args: argparse.Namespace) -> tuple[pd.DataFrame, list[dict]]:
    """Scores of every case (reused backtests, then fresh ones per seed) and the
    diagnostics of each case's fit."""
    frames, fits = [], []
    for directory in args.from_dirs:
        result = read_backtest(directory)
        name = Path(directory).name  # `--keep` writes seed<N>/
        label = f"generator seed {name[4:]}" if name.startswith("seed") else name
        frames.append(result.scores.assign(dataset=label))
        fits += fit_records(result, label)
    sampler = sampler_config(args)
    for seed in args.seeds:
        ds = synthetic(seed, args.deals)
        result = backtest(ds, args.start, args.end, horizon=args.horizon, draws=args.draws,
                          seed=args.seed, sampler_config=sampler, workers=args.workers)
        if args.keep:
            write_backtest(result, Path(args.keep) / f"seed{seed}")
        frames.append(result.scores.assign(dataset=f"generator seed {seed}"))
        fits += fit_records(result, f"generator seed {seed}")
        print(f"seed {seed}: done", flush=True)
    if not frames:
        raise SystemExit("nothing to measure: give --seeds and/or --from")
    return pd.concat(frames, ignore_index=True), fits


def fit_records(result, label: str) -> list[dict]:
    """Each as-of date's pipecast fit diagnostics of a backtest (:data:`FIT_KEYS`)."""
    out = []
    for run in result.runs:
        info = run.get("pipecast", {})
        out.append({"dataset": label, "as_of": run["as_of"], "seconds": run.get("seconds"),
                    **{k: info[k] for k in FIT_KEYS if k in info}})
    return out


#: the fit diagnostics kept per case in ``calibration-runs.json``
FIT_KEYS = ("method", "fit_seconds", "rhat_max", "rhat_worst", "ess_bulk_min", "divergences",
            "converged", "rounds")


def sampler_config(args: argparse.Namespace) -> SamplerConfig:
    """The fit's settings: the product's defaults, less what the options change."""
    return SamplerConfig.from_options(method=args.method, draws=args.samples, tune=args.tune,
                                      chains=args.chains,
                                      advi_iterations=args.advi_iterations,
                                      progressbar=False)


def calibration_table(scores: pd.DataFrame, baseline: str = "weighted_pipeline") -> pd.DataFrame:
    """Per month ahead (and all together): coverage and median absolute errors, total level."""
    t = scores[scores["level"] == "total"]
    p = t[t["method"] == "pipecast"]
    b = t[t["method"] == baseline]
    keys = ["dataset", "as_of", "month"]
    rows = []
    for k in [*sorted(p["month_ahead"].unique()), "all"]:
        pk = p if k == "all" else p[p["month_ahead"] == k]
        bk = b if k == "all" else b[b["month_ahead"] == k]
        pe = pk.set_index(keys)["abs_error"]
        be = bk.set_index(keys)["abs_error"].reindex(pe.index)
        n = len(pk)
        cov80 = pk["coverage_80"].mean()
        rows.append({
            "month_ahead": str(k), "cases": n,
            "coverage_80": cov80, "coverage_80_se": math.sqrt(0.8 * 0.2 / n) if n else np.nan,
            "coverage_50": pk["coverage_50"].mean(),
            "median_ae_pipecast": pe.median(), f"median_ae_{baseline}": be.median(),
            "ae_ratio": pe.median() / be.median() if be.median() > 0 else np.nan,
            "pipecast_closer_share": float((pe < be).mean()),
            "crps_pipecast": pk["crps"].mean(), f"crps_{baseline}": bk["crps"].mean(),
        })
    return pd.DataFrame(rows)


def methods_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Every method on the same company-total cases: CRPS, coverage, errors, pipecast's skill.

    ``crps_skill`` = 1 − CRPS(pipecast) ÷ CRPS(method): positive when pipecast is better;
    ``pipecast_better_share``: the share of paired cases in which pipecast's CRPS is lower.
    """
    t = scores[scores["level"] == "total"]
    keys = ["dataset", "as_of", "month"]
    p = t[t["method"] == "pipecast"].set_index(keys)
    rows = []
    for method, g in t.groupby("method", sort=False):
        g = g.set_index(keys)
        pc = p["crps"].reindex(g.index)
        rows.append({
            "method": method, "cases": len(g), "crps": g["crps"].mean(),
            "coverage_80": g["coverage_80"].mean(), "coverage_50": g["coverage_50"].mean(),
            "mae": g["abs_error"].mean(), "median_ae": g["abs_error"].median(),
            "crps_skill": 1 - pc.mean() / g["crps"].mean() if g["crps"].mean() > 0 else np.nan,
            "pipecast_better_share": float((pc < g["crps"]).mean()),
        })
    return pd.DataFrame(rows).sort_values("crps").reset_index(drop=True)


def plot(table: pd.DataFrame, path: Path) -> None:
    t = table[table["month_ahead"] != "all"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    x = np.arange(len(t))
    ax.axhspan(0.7, 0.9, color="tab:blue", alpha=0.1, lw=0, label="target 0.7–0.9")
    ax.errorbar(x, t["coverage_80"], yerr=1.96 * t["coverage_80_se"], fmt="o", color="tab:blue",
                capsize=4, label="80% interval: share covered (±2 se)")
    ax.plot(x, t["coverage_50"], "s", color="tab:cyan", label="50% interval: share covered")
    ax.axhline(0.8, color="tab:blue", ls="--", lw=1)
    ax.axhline(0.5, color="tab:cyan", ls="--", lw=1)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{k} month(s) ahead" for k in t["month_ahead"]])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of cases")
    ax.set_title(f"Interval coverage, company revenue ({int(t['cases'].iloc[0])} cases each)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(table: pd.DataFrame, scores: pd.DataFrame, meta: dict,
             methods: pd.DataFrame | None = None) -> str:
    cases = scores[(scores["level"] == "total") & (scores["method"] == "pipecast")]
    datasets = sorted(cases["dataset"].unique())
    lines = [
        "# Calibration: how often the intervals hold what happened",
        "",
        "Measured by `benchmarks/calibration.py` (this page is written by it, from the raw "
        "results beside it: [`calibration-scores.csv`](calibration-scores.csv), every "
        "method's score per case and month, and [`calibration-runs.json`]"
        "(calibration-runs.json), the settings and each fit's diagnostics; "
        f"pipecast {meta.get('pipecast', 'unknown')}, {meta.get('date', '')}, "
        f"{meta.get('machine', '')}):",
        "",
        f"    {meta['command']}",
        "",
        f"Cases: {cases[['dataset', 'as_of']].drop_duplicates().shape[0]} (dataset, as-of) "
        f"pairs — {len(datasets)} generated dataset(s) "
        f"({', '.join(datasets)}) × the month ends from "
        f"{cases['as_of'].min()} to {cases['as_of'].max()}. At each as-of date pipecast is "
        "fitted on what was known then and forecasts the company's booked revenue in "
        "each of the next 3 months; a case counts as covered when the revenue that then "
        "happened lies within the forecast's P10–P90 (80%) interval.",
        "",
        "| months ahead | cases | 80% coverage (±1 se) | 50% coverage | median abs. error, "
        "pipecast median | median abs. error, weighted pipeline | ratio | pipecast closer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples(index=False):
        lines.append(
            f"| {r.month_ahead} | {r.cases} | {r.coverage_80:.2f} ± {r.coverage_80_se:.2f} | "
            f"{r.coverage_50:.2f} | {r.median_ae_pipecast:,.0f} | "
            f"{r.median_ae_weighted_pipeline:,.0f} | {r.ae_ratio:.2f} | "
            f"{r.pipecast_closer_share:.0%} |")
    allrow = table[table["month_ahead"] == "all"].iloc[0]
    ok = 0.7 <= allrow["coverage_80"] <= 0.9
    if methods is not None:
        lines += [
            "",
            "Every method on the same cases (company total, all months ahead; CRPS and "
            "errors in revenue units, lower is better; a point forecast's CRPS is its "
            "absolute error, and its intervals have no width, so its coverage is ~0):",
            "",
            "| method | cases | mean CRPS | 80% coverage | 50% coverage | mean abs. error | "
            "pipecast's CRPS is lower by | pipecast better in |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in methods.itertuples(index=False):
            skill = "–" if r.method == "pipecast" else f"{r.crps_skill:.0%}"
            share = "–" if r.method == "pipecast" else f"{r.pipecast_better_share:.0%}"
            lines.append(f"| {r.method} | {r.cases} | {r.crps:,.0f} | {r.coverage_80:.2f} | "
                         f"{r.coverage_50:.2f} | {r.mae:,.0f} | {skill} | {share} |")
    lines += [
        "",
        "![coverage per month ahead](img/backtest_calibration.png)",
        "",
        "Reading it:",
        "",
        f"- **Coverage.** Over all months ahead the 80% interval held the realised revenue "
        f"in {allrow['coverage_80']:.0%} of cases (target 70–90%: "
        f"{'met' if ok else 'not met'}). With n cases the standard error of a coverage "
        "near 0.8 is √(0.16/n), so a per-month-ahead figure from ~20 cases is only good to "
        "about ±0.09; cases of the same dataset are also correlated.",
        f"- **Error of the median.** The median absolute error of pipecast's median is "
        f"{allrow['ae_ratio']:.2f}× the weighted pipeline's (placed by expected close "
        f"date), and pipecast's median was closer in {allrow['pipecast_closer_share']:.0%} "
        "of cases.",
        fits_sentence(meta),
        "- **Synthetic data.** The data are generated from the model pipecast fits, so "
        "this checks the fitting and simulation machinery (priors, point-in-time views, "
        "new-deal arrivals, amounts), not whether the model suits a real sales team; "
        "run `pipecast backtest` on your own data for that.",
        "",
        "Every backtest run here is kept whole with `--keep DIR` (`backtest_scores.csv` at "
        "every level, the deals' probabilities); `docs/backtest.md` describes the "
        "backtest itself.",
        "",
    ]
    return "\n".join(lines)


def fits_sentence(meta: dict) -> str:
    """What the fits were and how many met the convergence bar (from the runs file)."""
    sc, fits = meta["sampler"], meta.get("fits", [])
    if sc["method"] != "nuts":
        return (f"- **Fits.** pipecast was fitted with `{sc['method']}`, the variational "
                "approximation, not the product's default NUTS; its mean-field "
                "approximation understates posterior uncertainty.")
    met = [f for f in fits if f.get("converged")]
    rhat = [f["rhat_max"] for f in fits if f.get("rhat_max") is not None]
    div = sum(f.get("divergences") or 0 for f in fits)
    seconds = [f["fit_seconds"] for f in fits if f.get("fit_seconds") is not None]
    out = (f"- **Fits.** pipecast was fitted as the product fits by default: NUTS, "
           f"{sc['chains']} chains × ({sc['tune']} tuning + {sc['draws']:,} draws), "
           f"target_accept {sc['target_accept']}, sampling on while the bar is missed.")
    if fits:
        out += (f" {len(met)} of {len(fits)} fits met the bar (R-hat < 1.01, no divergence, "
                f"bulk ESS ≥ 400); R-hat max {min(rhat):.4f}–{max(rhat):.4f}, "
                f"{div} divergences in all; {np.median(seconds):.0f} s per fit (median).")
        for f in fits:
            if not f.get("converged"):
                flow = [r for r in f.get("rounds", []) if r["model"] == "flow"]
                out += (f" {f['dataset']} missed it: R-hat {f['rhat_max']:.4f}, "
                        f"bulk ESS {f['ess_bulk_min']:.0f}, {f['divergences']} divergences "
                        f"after {len(flow)} round(s) of the flow model in "
                        f"{f['fit_seconds']:.0f} s ("
                        + ("the rounds' limit" if len(flow) >= MAX_ROUNDS else
                           "the next round would not have ended within the fit budget")
                        + ").")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[],
                        help="generator seeds: one synthetic dataset each")
    parser.add_argument("--from", dest="from_dirs", nargs="*", default=[], type=Path,
                        help="reuse finished backtest folders")
    parser.add_argument("--deals", type=int, default=3000)
    parser.add_argument("--start", default="2025-06-30")
    parser.add_argument("--end", default="2026-07-31")
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1, help="seed of each backtest")
    parser.add_argument("--method", choices=["nuts", "advi"], default=None,
                        help="default: the product's (nuts)")
    parser.add_argument("--advi-iterations", type=int, default=None)
    parser.add_argument("--chains", type=int, default=None)
    parser.add_argument("--tune", type=int, default=None)
    parser.add_argument("--samples", type=int, default=None,
                        help="draws kept per chain (default: the product's)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None,
                        help="write each fresh backtest under DIR/seed<N>/")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "calibration.md")
    parser.add_argument("--command", default=None,
                        help="the command line shown in the doc (default: this one)")
    parser.add_argument("--page-only", action="store_true",
                        help="regenerate the page and figure from the raw files beside --doc")
    args = parser.parse_args(argv)
    scores_path, runs_path = raw_paths(args.doc)
    if args.page_only:
        scores = pd.read_csv(scores_path, dtype={"as_of": str, "month": str})
        meta = json.loads(runs_path.read_text())
    else:
        scores, fits = run_cases(args)
        scores = scores[scores["level"] == "total"].reset_index(drop=True)
        sc = sampler_config(args)
        meta = {"command": args.command or "python benchmarks/calibration.py " + " ".join(
                    sys.argv[1:] if argv is None else argv),
                "date": time.strftime("%Y-%m-%d"), "pipecast": __version__,
                "machine": f"{os.cpu_count()} CPUs",
                "sampler": {"method": sc.method, "draws": sc.draws, "tune": sc.tune,
                            "chains": sc.chains, "target_accept": sc.target_accept},
                "fits": fits}
        scores.to_csv(scores_path, index=False, float_format="%.6g")
        runs_path.write_text(json.dumps(meta, indent=1) + "\n")
    table = calibration_table(scores)
    methods = methods_table(scores)
    with pd.option_context("display.width", 160, "display.float_format", "{:,.3f}".format):
        print(table.to_string(index=False))
        print()
        print(methods.to_string(index=False))
    plot(table, args.doc.parent / "img" / "backtest_calibration.png")
    args.doc.write_text(markdown(table, scores, meta, methods), encoding="utf-8")
    print(f"wrote {args.doc}, {scores_path.name}, {runs_path.name}")
    return 0


def raw_paths(doc: Path) -> tuple[Path, Path]:
    """The raw results beside the page: ``<stem>-scores.csv`` and ``<stem>-runs.json``."""
    return doc.with_name(f"{doc.stem}-scores.csv"), doc.with_name(f"{doc.stem}-runs.json")


if __name__ == "__main__":
    sys.exit(main())
