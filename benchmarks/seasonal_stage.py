"""Calibration of the month-of-year stage on counts drawn from its own model.

    python benchmarks/seasonal_stage.py --histories 60 --write docs/seasonal-stage.json

Each history: 30 months from 2023-03, twelve month-of-year effects per outcome drawn from
``Normal(0, 0.25)``, each month's own luck from ``Normal(0, 0.15)``, and
``Poisson(expected · exp(effect + luck))`` won and lost counts, ``expected`` uniform on
50–400 events a month (one value per history). The stage
(:func:`forecast.models.seasonal.season_draws`, 1,000 draws) is scored by the share of the
24 true effects inside its central 50%, 80% and 94% intervals; the JSON keeps every
history's shares (``histories``) and their means (``coverage``). Seed 7.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LEVELS = (0.5, 0.8, 0.94)


def one_history(rng: np.random.Generator) -> dict:
    from forecast.models.month_variation import MonthCounts
    from forecast.models.seasonal import month_of_year, season_draws

    start = np.datetime64("2023-03", "M")
    months = tuple(str(start + i) for i in range(30))
    moy = month_of_year(months)
    true = rng.normal(0.0, 0.25, (2, 12))
    expected = float(rng.uniform(50.0, 400.0))
    exp_ = np.full((len(months), 3), expected)
    obs = np.zeros_like(exp_)
    for k in (1, 2):
        obs[:, k] = rng.poisson(expected * np.exp(true[k - 1, moy]
                                                  + rng.normal(0.0, 0.15, len(months))))
    _, season, _ = season_draws(MonthCounts(months, obs, exp_), 1000, rng)
    out = {"expected_per_month": round(expected, 1)}
    for level in LEVELS:
        lo, hi = np.quantile(season[:, 1:], [(1 - level) / 2, (1 + level) / 2], axis=0)
        out[f"coverage_{int(level * 100)}"] = float(((true >= lo) & (true <= hi)).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--write", type=Path, default=None, metavar="FILE.json")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    rows = [one_history(rng) for _ in range(args.histories)]
    coverage = {f"{int(lv * 100)}%": round(float(np.mean([r[f"coverage_{int(lv * 100)}"]
                                                         for r in rows])), 3)
                for lv in LEVELS}
    result = {"command": "python benchmarks/seasonal_stage.py " + " ".join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.perf_counter()
                                                                        - t0, 1),
              "coverage": coverage, "histories": rows}
    print(json.dumps({k: result[k] for k in ("command", "coverage", "seconds")}))
    if args.write:
        args.write.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
