"""Closed-form (sandwich) intervals for Bradley-Terry scores, as LMArena reports next to the
bootstrap, with optional inverse pair-frequency weighting of battles.

The BT fit is the logistic regression of the outcome (1 / 0 / 0.5 for a tie) on x = e_a - e_b
without the anchor's column, battle weights w (3 for strong verdicts). With p = sigmoid(x theta):

    H = sum_i w_i p_i (1 - p_i) x_i x_i^T          (the "bread", observed information)
    J = sum_c g_c g_c^T,  g_c = sum_{i in c} w_i (p_i - y_i) x_i   (the "meat")
    Cov(theta) = H^-1 J H^-1

where the clusters c are single battles (LMArena's choice, `cluster=None`) or judged questions
(`cluster="question"`: the games of one question share it, so this is the honest choice for
Arena-Hard-style data). A model's interval is theta +- z se, mapped to the score scale
100 sigmoid(theta) (monotone, so the interval maps exactly). `level` picks z (0.90 is
arena-hard-auto v2's level).

Inverse pair-frequency weighting (`weighting="inverse_pair_frequency"`) multiplies each battle's
weight by n_battles / (n_pairs * n_battles_of_its_pair), so every model pair carries the same
total weight, as LMArena does to stop heavily sampled pairs dominating the fit. Models that never
win (or never lose) have no finite estimate and are reported with infinite theta and no interval.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np
from scipy.stats import norm

from sos_jax.judge.battles import Battles
from sos_jax.judge.length_control import logistic_newton


@dataclasses.dataclass(frozen=True)
class SandwichLeaderboard:
    """BT scores (100 sigmoid(theta) vs the baseline) with sandwich intervals at `level`."""

    models: tuple[str, ...]
    theta: np.ndarray
    se: np.ndarray
    score: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    baseline: str
    level: float
    cluster: str | None
    weighting: str

    def to_json(self) -> dict[str, Any]:
        """Returns the leaderboard as a JSON-serialisable dict (non-finite values become None)."""
        fin = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
        return {"method": "sandwich", "baseline": self.baseline, "level": self.level, "cluster": self.cluster,
                "weighting": self.weighting,
                "models": [{"model": m, "theta": fin(t), "se": fin(s), "score": fin(sc), "ci_low": fin(lo),
                            "ci_high": fin(hi)} for m, t, s, sc, lo, hi in
                           zip(self.models, self.theta, self.se, self.score, self.ci_low, self.ci_high)]}


def pair_weights(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Returns inverse pair-frequency multipliers: every unordered pair gets the same total weight."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    _, inv, counts = np.unique(lo.astype(np.int64) * (max(a.max(), b.max()) + 1) + hi, return_inverse=True,
                               return_counts=True)
    return len(a) / (len(counts) * counts[inv])


def bt_sandwich(battles: Battles, *, baseline: str, level: float = 0.95, cluster: str | None = None,
                weighting: str = "none") -> SandwichLeaderboard:
    """Returns the BT leaderboard of `battles` with sandwich intervals (see module doc)."""
    if baseline not in battles.models:
        raise ValueError(f"baseline {baseline!r} is in no battle; models are {list(battles.models)}")
    if weighting not in ("none", "inverse_pair_frequency"):
        raise ValueError(f"weighting must be 'none' or 'inverse_pair_frequency', got {weighting!r}")
    if cluster not in (None, "question"):
        raise ValueError(f"cluster must be None or 'question', got {cluster!r}")
    m = len(battles.models)
    base = battles.models.index(baseline)
    a, b, y = battles.a, battles.b, battles.outcome.astype(np.float64)
    w = battles.weight.astype(np.float64)
    if weighting == "inverse_pair_frequency":
        w = w * pair_weights(a, b)
    wins = np.bincount(a, w * y, m) + np.bincount(b, w * (1 - y), m)
    games = np.bincount(a, w, m) + np.bincount(b, w, m)
    low, high = (games > 0) & (wins == 0), (games > 0) & (wins == games)
    sep = (low | high) & (np.arange(m) != base)
    keep = ~(sep[a] | sep[b])
    free = [k for k in range(m) if k != base and not sep[k] and games[k] > 0]
    col = {k: i for i, k in enumerate(free)}
    x = np.zeros((len(a), len(free)))
    for k, i in col.items():
        x[:, i] = (a == k).astype(float) - (b == k).astype(float)
    x, yk, wk = x[keep], y[keep], w[keep]
    dtype = jnp.zeros(()).dtype
    th = np.asarray(logistic_newton(jnp.asarray(x, dtype), jnp.asarray(yk, dtype), jnp.asarray(wk, dtype),
                                    jnp.zeros(len(free), dtype)), np.float64)
    p = 1 / (1 + np.exp(-(x @ th)))
    bread = x.T @ (x * (wk * p * (1 - p))[:, None])
    scores = x * (wk * (p - yk))[:, None]
    if cluster == "question":
        _, cid = np.unique(np.asarray(battles.question_id)[keep].astype(str), return_inverse=True)
        g = np.zeros((cid.max() + 1, len(free)))
        np.add.at(g, cid, scores)
    else:
        g = scores
    binv = np.linalg.pinv(bread)
    cov = binv @ (g.T @ g) @ binv
    theta = np.zeros(m)
    se = np.zeros(m)
    for k, i in col.items():
        theta[k], se[k] = th[i], np.sqrt(max(cov[i, i], 0.0))
    theta[low & sep], theta[high & sep] = -np.inf, np.inf
    se[sep] = np.nan
    theta[(games == 0) & (np.arange(m) != base)] = np.nan
    z = float(norm.ppf(0.5 + level / 2))
    to_score = lambda t: 100 / (1 + np.exp(-t))  # noqa: E731
    with np.errstate(over="ignore", invalid="ignore"):
        score, lo, hi = to_score(theta), to_score(theta - z * se), to_score(theta + z * se)
    lo[sep], hi[sep] = score[sep], score[sep]
    rank = np.argsort(-np.nan_to_num(theta, nan=-np.inf), kind="stable")
    return SandwichLeaderboard(tuple(battles.models[i] for i in rank), theta[rank], se[rank], score[rank], lo[rank],
                               hi[rank], baseline, level, cluster, weighting)


__all__ = ["SandwichLeaderboard", "bt_sandwich", "pair_weights"]
