"""Multiple-comparison corrections for the correlation table: Holm (family-wise error) and
Benjamini-Hochberg (false discovery rate) adjusted p-values.

Both take one family of p-values (NaN entries are left out of the family and stay NaN) and return
adjusted p-values in the input order, as `statsmodels.stats.multitest.multipletests` does with
`method="holm"` / `"fdr_bh"`:

* Holm: sort ascending p_(1) <= ... <= p_(m); adjusted p_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)).
* BH: adjusted p_(i) = min_{j>=i} min(1, m p_(j) / j).
"""

from __future__ import annotations

import numpy as np


def _family(p) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be a 1-D array, got shape {p.shape}")
    ok = np.isfinite(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p, ok


def _adjust(p, step) -> np.ndarray:
    """Returns `step(sorted finite p-values)` put back in input order (NaN where p is NaN)."""
    p, ok = _family(p)
    out = np.full_like(p, np.nan)
    v = p[ok]
    if len(v):
        order = np.argsort(v, kind="stable")
        res = np.empty(len(v))
        res[order] = step(v[order])
        out[ok] = res
    return out


def holm(p) -> np.ndarray:
    """Returns Holm step-down adjusted p-values (NaN where p is NaN)."""
    def step(v):
        m = len(v)
        return np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * v))

    return _adjust(p, step)


def benjamini_hochberg(p) -> np.ndarray:
    """Returns Benjamini-Hochberg step-up adjusted p-values (q-values; NaN where p is NaN)."""
    def step(v):
        scaled = v * len(v) / np.arange(1, len(v) + 1)
        return np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])

    return _adjust(p, step)


def adjust_rows(rows, primary: str, small_n: int = 10) -> None:
    """Sets Holm and BH p-values on every row's statistics, one family per method, in place.

    The family of a method is every cell of the table (all leaderboard columns x targets).
    `primary` is the method a row reports at top level; rows with fewer than `small_n` models are
    marked `small_n`.
    """
    methods = dict.fromkeys(m for r in rows for m in r.stats)
    for m in methods:
        cells = [r.stats[m] for r in rows if m in r.stats]
        ph = holm([c.p_value for c in cells])
        pb = benjamini_hochberg([c.p_value for c in cells])
        for c, h, b in zip(cells, ph, pb):
            c.p_holm, c.p_bh = float(h), float(b)
    for r in rows:
        r.primary = primary if primary in r.stats else next(iter(r.stats), "")
        r.small_n = len(r.models) < small_n


__all__ = ["adjust_rows", "benjamini_hochberg", "holm"]
