"""``pipecast validate``: check a dataset directory and list every problem."""

from __future__ import annotations

import argparse

from pipecast.commands.common import add_data, load_data


def configure(parser: argparse.ArgumentParser) -> None:
    add_data(parser)


def run(args: argparse.Namespace) -> int:
    ds = load_data(args)  # raises DataValidationError → exit 2
    d = ds.deals
    counts = d["status"].value_counts().to_dict()
    hist = 0 if ds.stage_history is None else len(ds.stage_history)
    quotas = 0 if ds.quotas is None else len(ds.quotas)
    print(f"{ds.source}: OK — {len(d)} deals ({counts.get('open', 0)} open, "
          f"{counts.get('won', 0)} won, {counts.get('lost', 0)} lost), {hist} stage-history rows, "
          f"{quotas} quota rows; stages: {' → '.join(ds.stages)}"
          + (" (order inferred)" if ds.config.stages_inferred else ""))
    print(f"dates {d['created_at'].min().date()} .. {ds.last_date.date()}; "
          f"{d['owner'].nunique()} owners, {d['segment'].nunique()} segments, "
          f"{d['team'].nunique()} teams")
    return 0
