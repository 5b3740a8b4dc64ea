"""Style vs substance: how much of a judge's overall verdict each criterion verdict explains.

- Regression of the overall verdict code (1..5) on the criterion verdict codes, all z-scored, so
  coefficients are standardised (per-SD) effects; 95% CIs from a bootstrap over judged games,
  every round solved at once in JAX.
- Per-criterion Bradley-Terry leaderboards and their Pearson/Spearman/Kendall correlation with the
  overall leaderboard's scores (baseline excluded; it is pinned at 50).
- Degenerate-data checks: constant criterion columns, and columns identical (or nearly: agreement
  >= `near_identical`) to the overall verdict or to another criterion -- e.g. the multifactor
  CSV's `score_final`, a copy of `style_score`. Flagged columns are left out of the regression.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from sos_jax.judge.bradley_terry import (
    BTLeaderboard,
    _round_counts,
    battle_bucket,
    bt_leaderboard,
    resampling_table,
)
from sos_jax.judge.judgments import Judgments


@dataclasses.dataclass(frozen=True)
class StyleVsSubstance:
    """Result of `style_vs_substance`.

    criteria/coef/ci_low/ci_high: standardised regression coefficients of the overall verdict.
    r2: R^2 of that regression on all rows. excluded: criterion -> why it was left out.
    flags: human-readable degenerate-data findings. agreement[x][y]: fraction of games where
    columns x and y (criteria or "overall") give the same code. leaderboards: "overall" and one per
    criterion; correlations[criterion]: {pearson, spearman, kendall} of its scores vs overall.
    """

    criteria: tuple[str, ...]
    coef: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    r2: float
    n_rows: int
    excluded: dict[str, str]
    flags: list[str]
    agreement: dict[str, dict[str, float]]
    leaderboards: dict[str, BTLeaderboard]
    correlations: dict[str, dict[str, float]]

    def to_json(self) -> dict[str, Any]:
        """Returns a JSON-serialisable summary (leaderboards included)."""
        return {
            "regression": {
                c: {"coef": float(b), "ci_low": float(lo), "ci_high": float(hi)}
                for c, b, lo, hi in zip(self.criteria, self.coef, self.ci_low, self.ci_high)
            },
            "r2": self.r2,
            "n_rows": self.n_rows,
            "excluded": self.excluded,
            "flags": self.flags,
            "agreement": self.agreement,
            "correlations": self.correlations,
            "leaderboards": {k: v.to_json() for k, v in self.leaderboards.items()},
        }


@functools.partial(jax.jit, static_argnames=("n_bootstrap",))
def standardized_regression_kernel(key, x, y, valid, expand, total, *, n_bootstrap: int):
    """Returns (rounds+1, k) standardised OLS coefficients of y on x; row 0 uses all valid rows.

    x: (n, k) predictors, y: (n,), valid: (n,) 1 for real rows and 0 for padding. Each bootstrap
    round resamples valid rows with replacement (expand/total from `resampling_table`).
    """
    counts = _round_counts(key, expand, total, x.shape[0], n_bootstrap=n_bootstrap).astype(x.dtype)
    c = jnp.concatenate([valid[None, :], counts], axis=0)

    def one(w):
        tot = w.sum()
        mx = (w @ x) / tot
        my = (w @ y) / tot
        xc = x - mx
        yc = y - my
        sx = jnp.sqrt((w @ xc**2) / tot)
        sy = jnp.sqrt((w @ yc**2) / tot)
        xs = xc / jnp.where(sx > 0, sx, 1.0)
        ys = yc / jnp.where(sy > 0, sy, 1.0)
        gram = xs.T @ (w[:, None] * xs)
        return jnp.linalg.solve(gram, xs.T @ (w * ys))

    return jax.vmap(one)(c)


def _agreement(cols: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    names = list(cols)
    out: dict[str, dict[str, float]] = {n: {} for n in names}
    for i, p in enumerate(names):
        for q in names[i + 1 :]:
            both = (cols[p] > 0) & (cols[q] > 0)
            frac = float((cols[p][both] == cols[q][both]).mean()) if both.any() else float("nan")
            out[p][q] = out[q][p] = frac
    return out


def style_vs_substance(
    judgments: Judgments,
    *,
    baseline: str | None = None,
    criteria: Sequence[str] | None = None,
    n_bootstrap: int = 100,
    seed: int = 0,
    near_identical: float = 0.99,
    leaderboards: bool = True,
) -> StyleVsSubstance:
    """Returns the style-vs-substance analysis of judgments that carry criterion verdicts.

    `criteria` defaults to every criterion column in order; `baseline` names the baseline for
    rows that record none (needed for the leaderboards).
    """
    src = judgments.source or "judgments"
    names = list(judgments.criteria) if criteria is None else list(criteria)
    missing = [c for c in names if c not in judgments.criteria]
    if missing:
        raise ValueError(f"{src}: no criterion column(s) {missing}; have {sorted(judgments.criteria)}")
    if not names:
        raise ValueError(f"{src}: judgments carry no criterion verdicts")
    cols = {"overall": judgments.verdict, **{c: judgments.criteria[c] for c in names}}
    agreement = _agreement(cols)

    flags: list[str] = []
    excluded: dict[str, str] = {}
    for name, col in cols.items():
        vals = np.unique(col[col > 0])
        if len(vals) <= 1:
            why = "constant" if len(vals) == 1 else "empty"
            flags.append(f"{name}: {why} column ({len(col[col > 0])} non-missing games)")
            if name != "overall":
                excluded[name] = why
    for i, name in enumerate(names):
        if name in excluded:
            continue
        for other in ["overall"] + names[:i]:
            if other in excluded:
                continue
            frac = agreement[name][other]
            if frac >= near_identical:
                both = (cols[name] > 0) & (cols[other] > 0)
                differ = int((cols[name][both] != cols[other][both]).sum())
                kind = "identical" if differ == 0 else "nearly identical"
                flags.append(
                    f"{name}: {kind} to {other} ({differ} of {int(both.sum())} games differ, "
                    f"agreement {frac:.4f})"
                )
                excluded[name] = f"{kind} to {other}"
                break
    if "overall" in [f.split(":")[0] for f in flags]:
        raise ValueError(f"{src}: overall verdict column is constant or empty; nothing to explain")

    used = [c for c in names if c not in excluded]
    rows = judgments.verdict > 0
    for c in used:
        rows &= judgments.criteria[c] > 0
    n_rows = int(rows.sum())
    if used and n_rows <= len(used) + 1:
        raise ValueError(f"{src}: only {n_rows} games have every criterion verdict; need more than {len(used) + 1}")
    if used:
        x = np.stack([judgments.criteria[c][rows] for c in used], axis=1).astype(np.float64)
        y = judgments.verdict[rows].astype(np.float64)
        npad = battle_bucket(n_rows)
        pad = lambda v: np.concatenate([v, np.zeros((npad - n_rows,) + v.shape[1:])])  # noqa: E731
        dtype = jnp.zeros(()).dtype
        coefs = np.asarray(
            standardized_regression_kernel(
                jax.random.key(seed),
                jnp.asarray(pad(x), dtype),
                jnp.asarray(pad(y), dtype),
                jnp.asarray(pad(np.ones(n_rows)), dtype),
                *map(jnp.asarray, resampling_table(pad(np.ones(n_rows)), "rows", npad)),
                n_bootstrap=n_bootstrap,
            ),
            np.float64,
        )
        coef = coefs[0]
        lo, hi = (np.percentile(coefs[1:], q, axis=0) for q in (2.5, 97.5)) if n_bootstrap else (coef * np.nan,) * 2
        xs = (x - x.mean(0)) / x.std(0)
        ys = (y - y.mean()) / y.std()
        r2 = float(1.0 - np.mean((ys - xs @ coef) ** 2))
    else:
        coef = lo = hi = np.zeros(0)
        r2 = float("nan")

    boards: dict[str, BTLeaderboard] = {}
    correlations: dict[str, dict[str, float]] = {}
    if leaderboards:
        base = baseline or _single_baseline(judgments)
        boards["overall"] = bt_leaderboard(judgments, baseline=base, n_bootstrap=n_bootstrap, seed=seed)
        overall = boards["overall"]
        models = [m for m in overall.models if m != base]
        ref = np.array([overall.score[overall.index(m)] for m in models])
        for c in names:
            if excluded.get(c) in ("empty",):
                continue
            boards[c] = bt_leaderboard(judgments, baseline=base, criterion=c, n_bootstrap=n_bootstrap, seed=seed)
            sc = np.array([boards[c].score[boards[c].index(m)] for m in models])
            correlations[c] = _correlations(ref, sc)
    return StyleVsSubstance(
        criteria=tuple(used),
        coef=coef,
        ci_low=lo,
        ci_high=hi,
        r2=r2,
        n_rows=n_rows,
        excluded=excluded,
        flags=flags,
        agreement=agreement,
        leaderboards=boards,
        correlations=correlations,
    )


def _single_baseline(judgments: Judgments) -> str:
    names = sorted(set(judgments.baseline.tolist()) - {""})
    if len(names) != 1 or (judgments.baseline == "").any():
        raise ValueError(
            f"{judgments.source or 'judgments'}: pass baseline=NAME (rows record baselines {names or 'none'})"
        )
    return names[0]


def _correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "kendall": float("nan"), "n_models": len(x)}
    return {
        "pearson": float(stats.pearsonr(x, y)[0]),
        "spearman": float(stats.spearmanr(x, y)[0]),
        "kendall": float(stats.kendalltau(x, y)[0]),
        "n_models": len(x),
    }


__all__ = ["StyleVsSubstance", "standardized_regression_kernel", "style_vs_substance"]
