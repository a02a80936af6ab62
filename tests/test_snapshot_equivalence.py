"""The vectorised snapshot, model index codes and exposure cells give exactly what the code
before them gave (kept frozen in :mod:`tests.snapshot_reference`): same frames, dtypes,
row order, arrays; on the bundled sample and on generated data, with and without stage
history, with shuffled rows, unsorted ids, regressions, duplicates, unseen levels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.data.covariates import pattern_codes, pattern_index
from forecast.data.dataset import Dataset, dataset_from_frames, load_dataset
from forecast.data.snapshot import build_snapshot, positions, stage_entries
from forecast.models.fit import spell_cells
from forecast.posterior import ModelIndex
from simulations.synthetic.generator import GeneratorConfig, generate
from tests import snapshot_reference as ref

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
CELL_FIELDS = ("stage", "bucket", "owner", "segment", "pattern", "counts", "partial")


def _same_arrays(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    np.testing.assert_array_equal(a, b, err_msg=what)


def _perturbed(deals: pd.DataFrame, covariates: tuple[str, ...]) -> pd.DataFrame:
    """Deals as a forecast might see them: an unknown rep, unseen levels, blank values."""
    d = deals.head(60).copy()
    d.loc[d.index[:3], "owner"] = "someone.new"
    d.loc[d.index[3:6], "segment"] = "unheard-of"
    for i, col in enumerate(covariates):
        d[col] = d[col].astype(object)
        d.loc[d.index[6 + 2 * i], col] = "a level never seen"
        d.loc[d.index[7 + 2 * i], col] = ""
    return d


def assert_equivalent(dataset: Dataset, as_of: str) -> None:
    """New snapshot, index, codes and cells equal the reference's, field by field."""
    a, b = ref.build_snapshot(dataset, as_of), build_snapshot(dataset, as_of)
    pd.testing.assert_frame_equal(a.deals, b.deals)
    pd.testing.assert_frame_equal(a.spells, b.spells)
    assert a.as_of == b.as_of

    ia, ib = ref.model_index(a), ModelIndex.from_snapshot(b)
    assert ia.to_dict() == ib.to_dict()
    assert list(ia.owner_team.items()) == list(ib.owner_team.items())
    _same_arrays(ia.patterns, ib.patterns, "patterns")

    covs = dataset.config.covariates
    for frame in (b.deals, _perturbed(b.deals, covs), b.deals.head(0)):
        ca, cb = ref.codes(ia, frame), ib.codes(frame)
        assert ca.keys() == cb.keys()
        for key in ca:
            _same_arrays(ca[key], cb[key], f"codes[{key}]")

    cells_a, cells_b = ref.spell_cells(a, ia), spell_cells(b, ib)
    for f in CELL_FIELDS:
        _same_arrays(getattr(cells_a, f), getattr(cells_b, f), f"cells.{f}")
    assert (cells_a.n_stages, cells_a.n_owners, cells_a.n_segments, cells_a.n_patterns) == (
        cells_b.n_stages, cells_b.n_owners, cells_b.n_segments, cells_b.n_patterns)
    assert cells_b.n_cells > 0


# ------------------------------------------------------------------ the bundled sample


@pytest.fixture(scope="module")
def sample() -> Dataset:
    return load_dataset(SAMPLE)


def _sample_variant(ds: Dataset, variant: str) -> Dataset:
    h = ds.stage_history
    if variant == "history":
        return ds
    if variant == "no_history":
        return replace(ds, stage_history=None)
    if variant == "half_history":  # some deals with history, the others imputed
        keep = ds.deals["deal_id"].sample(frac=0.5, random_state=2)
        return replace(ds, stage_history=h[h["deal_id"].isin(keep)].reset_index(drop=True))
    if variant == "shuffled":  # rows of both files in another order
        return replace(ds, deals=ds.deals.sample(frac=1, random_state=3).reset_index(drop=True),
                       stage_history=h.sample(frac=1, random_state=4))
    raise ValueError(variant)


@pytest.mark.parametrize("variant", ["history", "no_history", "half_history", "shuffled"])
@pytest.mark.parametrize("as_of", ["2024-03-31", "2025-06-30", "2026-10-31"])
def test_sample_matches_reference(sample, variant, as_of):
    assert_equivalent(_sample_variant(sample, variant), as_of)


# ------------------------------------------------------------------ generated data


@pytest.fixture(scope="module")
def generated() -> Dataset:
    """~1,500 generated deals, relabelled so that id order is neither row nor creation
    order, with a numeric covariate (blanks included), history rows shuffled, a regression
    and duplicate rows added."""
    data = generate(GeneratorConfig.small(), 11)
    rng = np.random.default_rng(5)
    deals, hist = data.deals.copy(), data.stage_history.copy()
    new_ids = {old: f"X{n}" for old, n in zip(deals["deal_id"],
                                               rng.permutation(len(deals)) * 7, strict=True)}
    deals["deal_id"] = deals["deal_id"].map(new_ids)
    hist["deal_id"] = hist["deal_id"].map(new_ids)
    score = rng.normal(50, 10, len(deals)).round(1).astype(str).astype(object)
    score[rng.random(len(deals)) < 0.1] = ""
    deals["score"] = score
    deals = deals.sample(frac=1, random_state=6).reset_index(drop=True)
    # a deal that went back a stage, and repeated rows
    multi = hist.groupby("deal_id").filter(lambda g: len(g) >= 3)
    back = multi.groupby("deal_id").tail(1).head(20).copy()
    back["stage"] = data.pipeline["stages"][0]
    hist = pd.concat([hist, back, hist.sample(30, random_state=7)], ignore_index=True)
    hist = hist.sample(frac=1, random_state=8).reset_index(drop=True)
    p = data.pipeline
    return dataset_from_frames(deals, tuple(p["stages"]), hist, data.quotas,
                               crm_probabilities=p["crm_probabilities"],
                               covariates=(*p["covariates"], "score"))


def _generated_variant(ds: Dataset, variant: str) -> Dataset:
    h = ds.stage_history
    if variant == "history":
        return ds
    if variant == "no_history":
        return replace(ds, stage_history=None)
    if variant == "entered_before_created":
        # not a valid dataset, but the snapshot's rule (a history's first entry is moved to
        # the deal's creation) must still give the same rows, in the same order
        h = h.copy()
        some = h["deal_id"].isin(ds.deals["deal_id"].iloc[::9])
        h.loc[some, "entered_at"] = h.loc[some, "entered_at"] - pd.Timedelta(days=20)
        return replace(ds, stage_history=h)
    if variant == "undated_rows":  # also invalid: some history rows without a date
        h = h.copy()
        h.loc[h.index[::40], "entered_at"] = pd.NaT
        return replace(ds, stage_history=h)
    raise ValueError(variant)


@pytest.mark.parametrize("variant", ["history", "no_history", "entered_before_created",
                                     "undated_rows"])
@pytest.mark.parametrize("as_of", ["2024-06-15", "2025-09-30", "2026-10-31"])
def test_generated_matches_reference(generated, variant, as_of):
    assert_equivalent(_generated_variant(generated, variant), as_of)


@pytest.mark.parametrize("variant", ["history", "no_history"])
def test_stage_entries_are_the_same_rows(generated, variant):
    ds = _generated_variant(generated, variant)
    keys = ["deal_id", "entered_at", "stage_idx"]
    a = ref.stage_entries(ds).sort_values(keys, kind="stable", ignore_index=True)
    b = stage_entries(ds)
    pd.testing.assert_frame_equal(a, b)


# ------------------------------------------------------------------ the helpers


def test_pattern_codes_match_numpy_unique_rows():
    rng = np.random.default_rng(0)
    for t in range(100):
        n, c = int(rng.integers(1, 400)), int(rng.integers(1, 5))
        x = rng.integers(-1, 4, size=(n, c)).astype(float)
        if t % 2:
            x[:, int(rng.integers(c))] = rng.normal(size=n).round(1)
        codes, patterns = pattern_codes(x)
        want_codes, want_patterns = ref.pattern_codes(x)
        _same_arrays(want_patterns, patterns, "patterns")
        _same_arrays(want_codes, codes, "codes")
    assert pattern_codes(np.zeros((5, 0)))[1].shape == (1, 0)


def test_pattern_index_matches_a_dict_of_rows():
    rng = np.random.default_rng(1)
    for _ in range(100):
        c = int(rng.integers(0, 4))
        patterns = np.unique(rng.integers(-1, 3, size=(int(rng.integers(1, 30)), max(c, 1))),
                             axis=0).astype(float)
        patterns = patterns if c else np.zeros((1, 0))  # as pattern_codes gives it
        rows = rng.integers(-1, 4, size=(200, c)).astype(float)
        rows[rng.random(rows.shape) < 0.02] = np.nan
        rows[rows == 0] = -0.0  # equal to 0.0, as a dict of tuples says
        lookup = {tuple(r): i for i, r in enumerate(patterns)}
        want = np.array([lookup.get(tuple(r), -1) for r in rows], dtype=np.int64)
        _same_arrays(want, pattern_index(patterns, rows), "pattern_index")
    assert (pattern_index(np.zeros((0, 2)), np.zeros((3, 2))) == -1).all()


def test_positions_as_get_indexer():
    ids = np.array(["b", "a", "c", "d"], dtype=object)
    keys = np.array(["a", "a", "x", "c", "a", "d", "d", "b"], dtype=object)
    want = pd.Index(ids).get_indexer(keys)
    np.testing.assert_array_equal(positions(ids, keys), want)
    np.testing.assert_array_equal(positions(ids, pd.Series(keys, dtype="str")), want)
    assert positions(ids, keys[:0]).shape == (0,)
    with pytest.raises(Exception, match="unique"):
        positions(np.array(["a", "a"], dtype=object), keys)
