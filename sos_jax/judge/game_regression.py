"""Style vs substance within each game, and pooled with a game term, with CIs over questions.

In an Arena-Hard judgments file game 1 shows the baseline's answer as A and game 2 shows it as B,
so every verdict code (overall and per criterion, 1 = A much better .. 5 = B much better) flips
meaning between the games: the mean overall code is about 1.9 in game 1 and 4.0 in game 2 in the
SOS-Bench gpt-4o file. A regression pooled over both games therefore explains the game switch as
well as the judge's weighting, which inflates R^2 (0.930 pooled against 0.786 / 0.809 within game
there) and moves the coefficients. This module fits:

* `within_game`: per game, OLS of the overall code on the criterion codes, all z-scored within
  that game (standardised, per-SD coefficients; with an intercept, so equal to scikit-learn's
  `LinearRegression` on `StandardScaler`-ed data). R^2 as usual.
* `pooled_with_game_term`: both games, with a game fixed effect. Equivalent to OLS with a game
  dummy; coefficients are per SD of the within-game-centred variables, `r2` counts the game term,
  `r2_within` is the share of within-game variance explained (the comparable number).
* `pooled_without_game_term`: the old pooled fit, kept for comparison only.

Confidence intervals are percentile intervals of a bootstrap over questions (a cluster
bootstrap): each round redraws the question ids with replacement and keeps every row of a drawn
question (both games, every model). Rows are not resampled independently because the two games of
one (question, model) judge the same pair of answers and the models share each question's
difficulty, so rows of one question are dependent and a row bootstrap would be too narrow.
All rounds run in one jitted, vmapped call (weighted fits with per-row multiplicities).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sos_jax.judge.judgments import Judgments

RESAMPLING_NOTE = (
    "percentile bootstrap over questions (cluster bootstrap): both games of a question and every "
    "model's rows on it are drawn together, because they share the question and the pair of answers, "
    "so rows of one question are not independent"
)


def _wmean(w, v):
    return (w @ v) / jnp.sum(w)


def _standardised_fit(w, x, y):
    """Returns (coef [k], r2) of the weighted OLS of z-scored y on z-scored x (intercept implied)."""
    mx, my = _wmean(w, x), _wmean(w, y)
    xc, yc = x - mx, y - my
    sx = jnp.sqrt(_wmean(w, xc**2))
    sy = jnp.sqrt(_wmean(w, yc**2))
    xs = xc / jnp.where(sx > 0, sx, 1.0)
    ys = yc / jnp.where(sy > 0, sy, 1.0)
    coef = jnp.linalg.solve(xs.T @ (w[:, None] * xs), xs.T @ (w * ys))
    r2 = 1.0 - _wmean(w, (ys - xs @ coef) ** 2) / _wmean(w, ys**2)
    return coef, r2


def _fits(w, x, y, game):
    """Returns every fit for one weight vector: within game 1 and 2, pooled +- game term."""
    g1 = (game == 1).astype(x.dtype)
    g2 = 1.0 - g1
    c1, r1 = _standardised_fit(w * g1, x, y)
    c2, r2 = _standardised_fit(w * g2, x, y)
    # Game fixed effect: centre each variable within its game, then one standardised OLS.
    in1 = game == 1
    xw = x - jnp.where(in1[:, None], _wmean(w * g1, x), _wmean(w * g2, x))
    yw = y - jnp.where(in1, _wmean(w * g1, y), _wmean(w * g2, y))
    sx = jnp.sqrt(_wmean(w, xw**2))
    sy = jnp.sqrt(_wmean(w, yw**2))
    xs, ys = xw / jnp.where(sx > 0, sx, 1.0), yw / jnp.where(sy > 0, sy, 1.0)
    cg = jnp.linalg.solve(xs.T @ (w[:, None] * xs), xs.T @ (w * ys))
    ssr = _wmean(w, (ys - xs @ cg) ** 2) * sy**2  # in squared verdict units
    sst_within = _wmean(w, yw**2)
    sst_total = _wmean(w, (y - _wmean(w, y)) ** 2)
    r2_within = 1.0 - ssr / sst_within
    r2_game = 1.0 - ssr / sst_total
    # Game effect in verdict codes: mean shift of game 2 over game 1 not explained by the criteria.
    b_raw = cg * sy / jnp.where(sx > 0, sx, 1.0)
    dy = _wmean(w * g2, y) - _wmean(w * g1, y)
    dx = _wmean(w * g2, x) - _wmean(w * g1, x)
    game_coef = dy - dx @ b_raw
    cp, rp = _standardised_fit(w, x, y)
    return c1, r1, c2, r2, cg, r2_game, r2_within, game_coef, cp, rp


@functools.partial(jax.jit, static_argnames=("n_bootstrap", "n_questions"))
def game_regression_kernel(key, x, y, game, question, *, n_bootstrap: int, n_questions: int):
    """Returns every fit of `_fits` for all data (row 0) and each question-bootstrap round.

    x: (n, k) criterion codes, y: (n,) overall codes, game: (n,) 1/2, question: (n,) int index of
    each row's question in [0, n_questions).
    """
    draws = jax.random.randint(key, (n_bootstrap, n_questions), 0, n_questions)
    counts = jax.vmap(lambda d: jnp.zeros(n_questions, x.dtype).at[d].add(1.0))(draws)
    w = jnp.concatenate([jnp.ones((1, x.shape[0]), x.dtype), counts[:, question]], axis=0)
    return jax.vmap(lambda wi: _fits(wi, x, y, game))(w)


def _ci(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    a = 100 * (1 - level) / 2
    return np.nanpercentile(draws, a, axis=0), np.nanpercentile(draws, 100 - a, axis=0)


def _coef_table(names, est, draws, level):
    lo, hi = _ci(draws, level) if len(draws) else (est * np.nan, est * np.nan)
    return {c: {"coef": float(b), "ci_low": float(l_), "ci_high": float(h)} for c, b, l_, h in zip(names, est, lo, hi)}


def _scalar(est, draws, level):
    lo, hi = _ci(draws[:, None], level) if len(draws) else ([np.nan], [np.nan])
    return {"value": float(est), "ci_low": float(lo[0]), "ci_high": float(hi[0])}


def style_vs_substance_by_game(judgments: Judgments, criteria: Sequence[str], *, n_bootstrap: int = 200,
                               level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Returns the within-game and game-term regressions of the overall verdict on `criteria`.

    Keys: `within_game` (list of {game, n_rows, r2, r2_ci, coefficients}), `pooled_with_game_term`
    ({r2, r2_within, game_coef, coefficients, n_rows}), `pooled_without_game_term` ({r2,
    coefficients}), `resampling`, `n_questions`, `n_bootstrap`, `level`. Rows need the overall
    verdict and every criterion verdict.
    """
    src = judgments.source or "judgments"
    criteria = list(criteria)
    if not criteria:
        raise ValueError(f"{src}: no criteria to regress on")
    missing = [c for c in criteria if c not in judgments.criteria]
    if missing:
        raise ValueError(f"{src}: no criterion column(s) {missing}; have {sorted(judgments.criteria)}")
    rows = judgments.verdict > 0
    for c in criteria:
        rows &= judgments.criteria[c] > 0
    j = judgments.select(rows)
    for g in (1, 2):
        n_g = int((j.game == g).sum())
        if n_g <= len(criteria) + 1:
            raise ValueError(f"{src}: game {g} has {n_g} rows with every verdict; need more than {len(criteria) + 1}")
    x = np.stack([j.criteria[c] for c in criteria], axis=1).astype(np.float64)
    y = j.verdict.astype(np.float64)
    qids, question = np.unique(j.question_id.astype(str), return_inverse=True)
    dtype = jnp.zeros(()).dtype
    out = game_regression_kernel(jax.random.key(seed), jnp.asarray(x, dtype), jnp.asarray(y, dtype),
                                 jnp.asarray(j.game, jnp.int32), jnp.asarray(question, jnp.int32),
                                 n_bootstrap=n_bootstrap, n_questions=len(qids))
    c1, r1, c2, r2, cg, r2g, r2w, gc, cp, rp = (np.asarray(a, np.float64) for a in out)
    within = [
        {"game": g, "n_rows": int((j.game == g).sum()), "r2": float(r[0]), "r2_ci": _scalar(r[0], r[1:], level),
         "coefficients": _coef_table(criteria, c[0], c[1:], level)}
        for g, c, r in ((1, c1, r1), (2, c2, r2))
    ]
    return {
        "criteria": criteria,
        "within_game": within,
        "pooled_with_game_term": {
            "n_rows": len(y), "r2": float(r2g[0]), "r2_within": float(r2w[0]),
            "r2_within_ci": _scalar(r2w[0], r2w[1:], level),
            "game_coef": _scalar(gc[0], gc[1:], level),
            "coefficients": _coef_table(criteria, cg[0], cg[1:], level),
        },
        "pooled_without_game_term": {"n_rows": len(y), "r2": float(rp[0]),
                                     "coefficients": _coef_table(criteria, cp[0], cp[1:], level)},
        "resampling": RESAMPLING_NOTE,
        "n_questions": len(qids),
        "n_bootstrap": n_bootstrap,
        "level": level,
    }


__all__ = ["RESAMPLING_NOTE", "game_regression_kernel", "style_vs_substance_by_game"]
