"""Track record from earlier reports, checked by hand."""

from __future__ import annotations

import json

from forecast.data.dataset import load_dataset
from simulations.evaluation.report_history import past_forecasts


def test_past_forecasts_are_scored_once_their_month_ended(tiny_dir, tmp_path):
    ds = load_dataset(tiny_dir)  # won: D1 1000 in 2024-03, D5 1500 in 2024-05
    root = tmp_path / "reports"
    for month, as_of, total in [
        ("2024-02", "2024-02-29", [("2024-03", 500, 900, 1200), ("2024-04", 0, 100, 300)]),
        ("2024-04", "2024-04-30", [("2024-05", 100, 400, 1400), ("2024-06", 0, 50, 90)]),
    ]:
        (root / month).mkdir(parents=True)
        (root / month / "summary.json").write_text(json.dumps({
            "as_of": as_of, "total": [{"month": m, "p10": a, "p50": b, "p90": c}
                                      for m, a, b, c in total]}))
    frame = past_forecasts(root, ds, "2024-05-31")
    assert frame["month"].tolist() == ["2024-03", "2024-04", "2024-05"]
    assert frame["actual"].tolist() == [1000.0, 0.0, 1500.0]
    assert frame["inside_80"].tolist() == [True, True, False]
    assert frame["abs_error"].tolist() == [100.0, 100.0, 1100.0]
    assert frame["months_ahead"].tolist() == [1, 2, 1]
    assert past_forecasts(tmp_path / "none", ds, "2024-05-31").empty
