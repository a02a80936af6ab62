"""Shared test helpers: hand-written datasets, generated datasets, fast fit settings.

Fixtures live in ``conftest.py`` and use these; test modules import from here
(``from helpers import write_dataset``) — never from ``conftest``.
"""

from __future__ import annotations

from pathlib import Path

STAGES = ("contact", "qualification", "proposal")

DEALS_CSV = """deal_id,created_at,stage,status,closed_at,amount,owner,segment,team
D1,2024-01-05,proposal,won,2024-03-01,1000,ann,smb,east
D2,2024-01-10,qualification,lost,2024-02-15,500,ann,smb,east
D3,2024-02-01,proposal,open,,2000,bob,ent,west
D4,2024-02-20,contact,open,,300,bob,smb,west
D5,2024-03-05,qualification,won,2024-05-10,1500,bob,ent,west
"""

HISTORY_CSV = """deal_id,stage,entered_at
D1,contact,2024-01-05
D1,qualification,2024-01-20
D1,proposal,2024-02-10
D2,contact,2024-01-10
D2,qualification,2024-02-01
D3,contact,2024-02-01
D3,qualification,2024-02-15
D3,proposal,2024-04-01
D4,contact,2024-02-20
D5,contact,2024-03-05
D5,qualification,2024-04-01
"""

QUOTAS_CSV = """owner,period,quota
ann,2024-06,1000
west,2024-Q2,5000
total,2024-Q2,6000
"""

PIPELINE_YAML = """stages: [contact, qualification, proposal]
crm_probabilities: {contact: 0.1, qualification: 0.3, proposal: 0.6}
"""


def write_dataset(root: Path, deals: str = DEALS_CSV, history: str | None = HISTORY_CSV,
                  quotas: str | None = QUOTAS_CSV, pipeline: str | None = PIPELINE_YAML) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "deals.csv").write_text(deals)
    for name, text in (("stage_history.csv", history), ("quotas.csv", quotas),
                       ("pipeline.yaml", pipeline)):
        if text is not None:
            (root / name).write_text(text)
    return root


def synthetic_dataset(config=None, seed: int = 1):
    """A generated dataset (default ~1,500 deals) as a validated :class:`Dataset`."""
    from simulations.synthetic.generator import GeneratorConfig, generate

    data = generate(config or GeneratorConfig.small(), seed)
    return data.to_dataset(), data.truth


#: sampler settings for tests that need any fitted model quickly (not for recovery tests)
FAST_SAMPLER = dict(method="advi", advi_iterations=3000, draws=150, chains=2,
                    progressbar=False)


def fast_cli(draws: int | None = None) -> list[str]:
    """CLI options of a quick ADVI fit for tests that only need *a* fitted model."""
    args = ["--method", "advi", "--advi-iterations", "3000", "--samples", "100",
            "--chains", "1", "--quiet"]
    return args + (["--draws", str(draws)] if draws else [])


def assert_renders_for_people(ipynb: Path) -> dict | None:
    """Render an executed notebook as the reports do (offline HTML without code) and, where
    headless Chromium is installed, check it as the monthly report is checked: every image
    loads, nothing scrolls sideways or spills, no script errors, every figure has alt text.
    Returns Chromium's findings (``None`` without Chromium)."""
    from pipecast.render_check import check_html, find_chromium
    from pipecast.reporting import to_html

    html = ipynb.with_suffix(".html")
    to_html(ipynb, html)
    text = html.read_text(encoding="utf-8")
    assert "No description has been provided for this image" not in text  # alt text
    assert "require.js" not in text and "mathjax" not in text.lower()  # nothing remote
    chromium = find_chromium()
    if chromium is None:
        return None
    found = check_html(html, chromium, width=1280)
    for key in ("missing_images", "wide_tables", "text_overflow", "errors"):
        assert found[key] == [], (key, found)
    assert not found["page_overflow"], found
    return found


def random_spells(rng, n: int = 400):
    """Random stage spells (stage, start, end, outcome) over 2023–2025, for cell tests."""
    import numpy as np
    import pandas as pd

    start = np.datetime64("2023-01-01") + rng.integers(0, 900, n)
    length = np.where(rng.random(n) < 0.2, rng.integers(0, 21, n), rng.integers(0, 500, n))
    outcome = rng.choice(["advance", "won", "lost", "censored"], n, p=[0.3, 0.2, 0.2, 0.3])
    return pd.DataFrame({"stage_idx": rng.integers(0, 3, n), "start": pd.to_datetime(start),
                         "end": pd.to_datetime(start + length), "outcome": outcome})


def tiny_posterior(flow, p: int, fiscal_year_start: int = 1, diagnostics: dict | None = None):
    """A two-stage, one-owner ``PipelinePosterior`` around ``flow`` (``p`` draws)."""
    import numpy as np

    from forecast.posterior import (
        AmountPosterior,
        ArrivalPosterior,
        ModelIndex,
        PipelinePosterior,
    )

    return PipelinePosterior(
        index=ModelIndex(as_of="2026-10-31", stages=("a", "b"), owners=("o",),
                         segments=("all",), owner_team={"o": "t"},
                         fiscal_year_start=fiscal_year_start),
        flow=flow,
        arrivals=ArrivalPosterior(np.zeros(p), np.zeros((p, 1)), np.zeros((p, 12)),
                                  np.ones(p), np.ones(1, dtype=bool)),
        amounts=AmountPosterior(np.zeros((p, 1)), np.ones((p, 1)), np.zeros(p), np.zeros(p),
                                False, np.ones((p, 1, 1)), np.full((p, 2), 0.5)),
        diagnostics=diagnostics or {}, fingerprint="x", config={})
