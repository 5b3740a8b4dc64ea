"""Length-controlled win rates, AlpacaEval-2 style (Dubois et al., 2024).

Per game, y is the model's result against the baseline (1 win, 0 loss, 0.5 tie) and
delta = len(model answer) - len(baseline answer) in tokens. Two logistic GLMs (fractional y,
binomial likelihood, fitted by Newton's method in JAX):

1. Instruction difficulty: logit P = alpha_m + gamma_q over all games, with an L2 penalty
   `difficulty_l2` on gamma (identifies it and shrinks questions judged rarely).
2. Per model m: logit P = b0 + b1 tanh(delta / sigma) + b2 gamma_q, sigma = SD of delta over all
   games (tanh bounds the length term, as in AlpacaEval 2). No penalty.

The LC win rate is the model's prediction at zero length difference averaged over its questions:
100 mean_q sigmoid(b0 + b2 gamma_q). The raw win rate (ties half) is reported next to it, with
b1 (the length effect).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from sos_jax.judge.judgments import Judgments

_B_WINS = np.array([np.nan, 0.0, 0.0, 0.5, 1.0, 1.0])


@functools.partial(jax.jit, static_argnames=("max_iter",))
def logistic_newton(x, y, w, l2, *, max_iter: int = 50):
    """Returns beta minimising sum w [softplus(x beta) - y x beta] + 0.5 sum l2 beta^2 (y may be fractional)."""
    k = x.shape[1]
    eye = jnp.eye(k, dtype=x.dtype)

    def loss(beta):
        z = x @ beta
        return jnp.sum(w * (jax.nn.softplus(z) - y * z)) + 0.5 * jnp.sum(l2 * beta**2)

    def body(state):
        beta, it, _ = state
        z = x @ beta
        p = jax.nn.sigmoid(z)
        g = x.T @ (w * (p - y)) + l2 * beta
        h = x.T @ (x * (w * p * (1 - p))[:, None]) + jnp.diag(l2) + 1e-8 * eye
        d = -jnp.linalg.solve(h, g)
        ts = 0.5 ** jnp.arange(12, dtype=x.dtype)
        f0 = loss(beta)
        fs = jax.vmap(lambda t: loss(beta + t * d))(ts)
        ok = fs <= f0 + 1e-4 * ts * (g @ d)
        t = jnp.where(ok.any(), ts[jnp.argmax(ok)], 0.0)
        # Near the optimum float32 cannot see the loss fall: the full Newton step is safe there.
        t = jnp.where(-(g @ d) < 1.0, 1.0, t)
        tol = 1e-6 if x.dtype == jnp.float32 else 1e-11
        return beta + t * d, it + 1, (jnp.max(jnp.abs(t * d)) < tol) | (t == 0) | (-(g @ d) < 1e-7)

    beta, _, _ = jax.lax.while_loop(lambda s: (s[1] < max_iter) & ~s[2], body,
                                    (jnp.zeros(k, x.dtype), 0, False))
    return beta


def model_results(judgments: Judgments) -> tuple[np.ndarray, np.ndarray]:
    """Returns (y, length difference) per game from the model's side; NaN where unknown."""
    v = judgments.verdict
    b_win = np.where(v > 0, _B_WINS[np.clip(v, 0, 5)], np.nan)
    y = np.where(judgments.game == 1, b_win, 1 - b_win)
    if judgments.style_a is None or judgments.style_b is None:
        return y, np.full(len(y), np.nan)
    g1 = judgments.game == 1
    lm = np.where(g1, judgments.style_b[:, 0], judgments.style_a[:, 0])
    lb = np.where(g1, judgments.style_a[:, 0], judgments.style_b[:, 0])
    return y, lm - lb


def lc_win_rates(model: np.ndarray, question: np.ndarray, y: np.ndarray, delta: np.ndarray, *,
                 difficulty_l2: float = 1.0) -> dict[str, Any]:
    """Returns per-model LC and raw win rates and GLM coefficients from per-game arrays (see module doc)."""
    ok = np.isfinite(y) & np.isfinite(delta)
    if not ok.any():
        raise ValueError("no game has both a verdict and answer lengths; length control needs answer texts")
    model, question, y, delta = model[ok], question[ok], y[ok].astype(np.float64), delta[ok].astype(np.float64)
    models, mi = np.unique(model.astype(str), return_inverse=True)
    qids, qi = np.unique(question.astype(str), return_inverse=True)
    m, q = len(models), len(qids)
    dtype = jnp.zeros(()).dtype
    x1 = np.zeros((len(y), m + q))
    x1[np.arange(len(y)), mi] = 1.0
    x1[np.arange(len(y)), m + qi] = 1.0
    l2 = np.concatenate([np.zeros(m), np.full(q, difficulty_l2)])
    beta1 = np.asarray(logistic_newton(jnp.asarray(x1, dtype), jnp.asarray(y, dtype), jnp.ones(len(y), dtype),
                                       jnp.asarray(l2, dtype)), np.float64)
    gamma = beta1[m:]
    sigma = float(np.std(delta)) or 1.0
    feats = np.column_stack([np.ones(len(y)), np.tanh(delta / sigma), gamma[qi]])
    out = {}
    for k, name in enumerate(models):
        rows = mi == k
        b = np.asarray(logistic_newton(jnp.asarray(feats[rows], dtype), jnp.asarray(y[rows], dtype),
                                       jnp.ones(int(rows.sum()), dtype), jnp.zeros(3, dtype)), np.float64)
        g = gamma[np.unique(qi[rows])]
        lc = float(100 * np.mean(1 / (1 + np.exp(-(b[0] + b[2] * g)))))
        out[str(name)] = {"lc_win_rate": lc, "win_rate": float(100 * y[rows].mean()), "n_games": int(rows.sum()),
                          "coef": {"intercept": float(b[0]), "length": float(b[1]), "difficulty": float(b[2])}}
    return {"models": out, "sigma": sigma, "difficulty": dict(zip(qids.tolist(), gamma.tolist())),
            "difficulty_l2": difficulty_l2}


def judgment_lc_win_rates(judgments: Judgments, **kwargs) -> dict[str, Any]:
    """Returns `lc_win_rates` of every judged model against its baseline."""
    y, delta = model_results(judgments)
    return lc_win_rates(judgments.model, judgments.question_id, y, delta, **kwargs)


__all__ = ["judgment_lc_win_rates", "lc_win_rates", "logistic_newton", "model_results"]
