"""Aggregation that stays right on partial runs (`--limit`, interrupted suites).

* `evaluated_weights`: a size-weighted benchmark (BBQ, WMDP) must weight its subtasks by the
  documents actually evaluated, as lm-eval's (and our harness's) group score does. The fixed
  full-dataset sizes are right only for complete runs: with `--limit 50` every BBQ subtask has 50
  documents, the group score is an equal-weight mean, and full-size weights gave 0.317 where the
  results file said 0.174. The evaluated sizes come from the results file's `n-samples`.
* `bounded_interval`: a normal interval around a proportion-like score (every raw SOS score is in
  [0, 1]) can leave [0, 1] (StrongREJECT gave [-0.003, 0.009]). The Wilson score interval with the
  effective sample size n = p (1 - p) / se^2 has the same centre and width far from the bounds and
  stays inside them; where that n is undefined (p at a bound, se 0) the normal interval is clipped.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def evaluated_weights(metrics: Sequence[str], default: np.ndarray, results: Mapping, models: Sequence[str],
                      benchmark: str, notes: list[str]) -> np.ndarray:
    """Returns subtask weights (summing to 1) from the evaluated document counts, else `default`.

    `metrics` are the benchmark's "task/metric" columns; `results[m].n_samples[task]` the effective
    documents of model m (absent for sources that do not record them, e.g. wide CSV exports). When
    the recorded sizes differ between models, the first model's are used and the mismatch noted.
    """
    tasks = [c.split("/", 1)[0] for c in metrics]
    found = []
    for m in models:
        sizes = getattr(results[m], "n_samples", None) or {}
        if all(t in sizes for t in tasks):
            found.append((m, np.asarray([float(sizes[t]) for t in tasks])))
    if not found:
        return default
    w = found[0][1]
    if w.sum() <= 0:
        return default
    if any(not np.array_equal(w, other) for _, other in found[1:]):
        notes.append(f"benchmark {benchmark}: models evaluated different numbers of documents per subtask; "
                     f"weighted by {found[0][0]}'s counts")
    w = w / w.sum()
    if not np.allclose(w, default, rtol=0, atol=1e-9):
        notes.append(f"benchmark {benchmark}: subtasks weighted by the evaluated document counts (n-samples), as "
                     "the results' own group score is, not by the full-dataset sizes (a partial run)")
    return w


def bounded_interval(value: np.ndarray, se: np.ndarray, z: float, lo: float = 0.0,
                     hi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Returns the Wilson interval of scores in [lo, hi] with standard errors `se` (see module doc)."""
    value = np.asarray(value, np.float64)
    se = np.asarray(se, np.float64)
    span = hi - lo
    p = (value - lo) / span
    s = se / span
    with np.errstate(all="ignore"):
        n = p * (1 - p) / s**2
        ok = np.isfinite(n) & (n > 0) & (p > 0) & (p < 1)
        n = np.where(ok, n, 1.0)
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(s**2 + z**2 / (4 * n**2)) / denom
    w_lo = np.where(ok, centre - half, np.clip(p - z * s, 0, 1))
    w_hi = np.where(ok, centre + half, np.clip(p + z * s, 0, 1))
    nan = np.isnan(value) | np.isnan(se)
    return (np.where(nan, np.nan, lo + span * w_lo), np.where(nan, np.nan, lo + span * w_hi))


__all__ = ["bounded_interval", "evaluated_weights"]
