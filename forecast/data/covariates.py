"""Deal attributes as model covariates: encoding and covariate patterns.

Categorical columns are coded by level (unseen or missing levels → ``-1``, which the model
reads as the pooled mean, an effect of zero); numeric columns are standardised (missing →
0, the mean). Deals sharing all covariate values share a *pattern*, the unit the exposure
cells are aggregated over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def _is_numeric(values: pd.Series) -> bool:
    text = pd.Series(pd.unique(values.to_numpy()), dtype=values.dtype)  # each value once
    text = text.astype("string").str.strip()
    text = text[text.fillna("") != ""]
    if text.empty:
        return False
    return bool(pd.to_numeric(text, errors="coerce").notna().all())


@dataclass(frozen=True)
class CovariateSpec:
    """How each covariate column is encoded (learned from the training deals).

    Attributes
    ----------
    columns
        Column names, in order.
    kinds
        ``"categorical"`` or ``"numeric"`` per column.
    levels
        Levels of each categorical column (empty for numeric ones).
    means, sds
        Standardisation of numeric columns (0/1 for categorical ones).
    """

    columns: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    levels: tuple[tuple[str, ...], ...] = ()
    means: tuple[float, ...] = ()
    sds: tuple[float, ...] = ()

    @classmethod
    def fit(cls, deals: pd.DataFrame, columns: tuple[str, ...]) -> CovariateSpec:
        kinds, levels, means, sds = [], [], [], []
        for col in columns:
            values = deals[col]
            if _is_numeric(values):
                x = pd.to_numeric(values.astype("string").str.strip().replace("", None),
                                  errors="coerce").astype(float)
                sd = float(x.std(ddof=0)) if x.notna().sum() > 1 else 1.0
                kinds.append("numeric")
                levels.append(())
                means.append(float(x.mean()) if x.notna().any() else 0.0)
                sds.append(sd if sd > 0 else 1.0)
            else:
                text = values.astype("string").str.strip().fillna("")
                kinds.append("categorical")
                levels.append(tuple(sorted(v for v in text.unique() if v != "")))
                means.append(0.0)
                sds.append(1.0)
        return cls(tuple(columns), tuple(kinds), tuple(levels), tuple(means), tuple(sds))

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    def encode(self, deals: pd.DataFrame) -> np.ndarray:
        """``(n_deals, n_columns)`` codes: level index (−1 unseen) or standardised value."""
        out = np.zeros((len(deals), self.n_columns))
        for j, col in enumerate(self.columns):
            # each distinct value is encoded once, then spread to the deals
            code, uniques = pd.factorize(deals[col], use_na_sentinel=False)
            values = pd.Series(uniques)
            if self.kinds[j] == "numeric":
                x = pd.to_numeric(values.astype("string").str.strip().replace("", None),
                                  errors="coerce").astype(float)
                enc = ((x - self.means[j]) / self.sds[j]).fillna(0.0).to_numpy()
            else:
                index = {lvl: i for i, lvl in enumerate(self.levels[j])}
                text = values.astype("string").str.strip().fillna("")
                enc = text.map(index).fillna(-1).to_numpy(dtype=float)
            out[:, j] = enc[code]
        return out

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "kinds": list(self.kinds),
                "levels": [list(lv) for lv in self.levels], "means": list(self.means),
                "sds": list(self.sds)}

    @classmethod
    def from_dict(cls, d: dict) -> CovariateSpec:
        return cls(tuple(d["columns"]), tuple(d["kinds"]), tuple(tuple(lv) for lv in d["levels"]),
                   tuple(d["means"]), tuple(d["sds"]))


def pattern_codes(encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical covariate rows: ``(code per deal, unique pattern matrix)``, the
    patterns in lexicographic order (as ``np.unique(encoded, axis=0)`` gives them)."""
    if encoded.shape[1] == 0:
        return np.zeros(len(encoded), dtype=np.int64), np.zeros((1, 0))
    if np.isnan(encoded).any():  # NaN never arises from encode; keep numpy's rules for it
        patterns, codes = np.unique(encoded, axis=0, return_inverse=True)
        return codes.reshape(-1).astype(np.int64), patterns
    # each column to its value ranks, rows to the rank of their prefix among distinct
    # prefixes: integer keys in lexicographic row order, no sort of row bytes
    key = np.zeros(len(encoded), dtype=np.int64)
    for j in range(encoded.shape[1]):
        values, rank = np.unique(encoded[:, j], return_inverse=True)
        _, key = np.unique(key * len(values) + rank.reshape(-1), return_inverse=True)
        key = key.reshape(-1).astype(np.int64)
    _, first = np.unique(key, return_index=True)  # first deal of each pattern
    return key, encoded[first]


def pattern_index(patterns: np.ndarray, encoded: np.ndarray) -> np.ndarray:
    """Index of each row of ``encoded`` among ``patterns`` (−1 if absent), as ``==`` on every
    value decides (NaN matches nothing; of duplicate patterns the last one counts).

    Column by column, a value becomes its rank among the patterns' values in that column,
    and a row its rank among the patterns' distinct prefixes: integer keys throughout.
    """
    n_rows = encoded.shape[0]
    if len(patterns) == 0:
        return np.full(n_rows, -1, dtype=np.int64)
    found = np.ones(n_rows, dtype=bool)
    p_key = np.zeros(len(patterns), dtype=np.int64)
    e_key = np.zeros(n_rows, dtype=np.int64)
    for j in range(patterns.shape[1]):
        values = np.unique(patterns[:, j])
        e_pos = np.minimum(np.searchsorted(values, encoded[:, j]), len(values) - 1)
        found &= values[e_pos] == encoded[:, j]
        p_key = p_key * len(values) + np.searchsorted(values, patterns[:, j])
        e_key = e_key * len(values) + e_pos
        prefixes = np.unique(p_key)
        p_key = np.searchsorted(prefixes, p_key)
        e_pos = np.minimum(np.searchsorted(prefixes, e_key), len(prefixes) - 1)
        found &= prefixes[e_pos] == e_key
        e_key = e_pos
    last = np.zeros(int(p_key.max()) + 1, dtype=np.int64)
    np.maximum.at(last, p_key, np.arange(len(patterns)))
    return np.where(found, last[e_key], -1)


def pattern_effects(
    spec: CovariateSpec, patterns: np.ndarray, beta_cat: list[np.ndarray], beta_num: np.ndarray
) -> np.ndarray:
    """``x·β`` per draw and pattern: ``(n_draws, n_patterns)``.

    Parameters
    ----------
    beta_cat
        One ``(n_draws, n_levels)`` array per categorical column, in column order.
    beta_num
        ``(n_draws, n_numeric)`` coefficients of the numeric columns, in column order.
    """
    n_draws = beta_num.shape[0] if beta_num.ndim == 2 and beta_num.shape[0] else (
        beta_cat[0].shape[0] if beta_cat else 1)
    out = np.zeros((n_draws, len(patterns)))
    ci = ni = 0
    for j, kind in enumerate(spec.kinds):
        if kind == "categorical":
            b = np.concatenate([beta_cat[ci], np.zeros((n_draws, 1))], axis=1)  # -1 → zero
            out += b[:, patterns[:, j].astype(int)]
            ci += 1
        else:
            out += beta_num[:, ni : ni + 1] * patterns[None, :, j]
            ni += 1
    return out
