"""Ties as a model: Davidson's (1970) extension of Bradley-Terry, next to "a tie is half a win".

With strengths pi = exp(theta) and a tie parameter nu = exp(log_nu) >= 0:

    P(a beats b) = pi_a / D,  P(b beats a) = pi_b / D,  P(tie) = nu sqrt(pi_a pi_b) / D,
    D = pi_a + pi_b + nu sqrt(pi_a pi_b).

theta of the baseline is fixed at 0 (the anchor). The score reported is the model's expected
result against the baseline, 100 (P(win) + P(tie) / 2), on the same 0-100 scale as the BT score,
and P(tie) is reported too. Strong verdicts keep their battle weight (3 by default, as in
arena-hard-auto). The fit is the maximum-likelihood estimate by Newton's method on
(theta, log nu) with the exact Hessian (jax.hessian; a few dozen parameters). A model that never
wins or ties has no finite MLE; `prior_sd` adds an optional N(0, prior_sd^2) prior on each theta
(a documented ridge) that keeps it finite, and by default such models are reported as -inf like
the BT fit. CIs: percentile bootstrap over judged games (resampling battles), or none.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from sos_jax.judge.battles import Battles


def davidson_nll(params, a, b, outcome, weight, prior_sd: float = 0.0):
    """Returns the weighted negative log-likelihood of Davidson's model (params = [theta..., log_nu]).

    outcome: 1 a won, 0 b won, 0.5 tie. theta[0] is the anchor (held at 0 by the caller).
    """
    theta, log_nu = params[:-1], params[-1]
    ta, tb = theta[a], theta[b]
    mid = 0.5 * (ta + tb) + log_nu
    log_d = jnp.logaddexp(jnp.logaddexp(ta, tb), mid)
    ll = jnp.where(outcome == 1, ta, jnp.where(outcome == 0, tb, mid)) - log_d
    nll = -jnp.sum(weight * ll)
    if prior_sd:
        nll = nll + 0.5 * jnp.sum(theta[1:] ** 2) / prior_sd**2
    return nll


@functools.partial(jax.jit, static_argnames=("max_iter", "prior_sd"))
def fit_davidson_kernel(a, b, outcome, weight, free, *, max_iter: int = 100, prior_sd: float = 0.0):
    """Returns (params, converged): the Davidson MLE over free parameters (others held at 0)."""
    n = free.shape[0]
    loss = functools.partial(davidson_nll, a=a, b=b, outcome=outcome, weight=weight, prior_sd=prior_sd)
    eye = jnp.eye(n)

    def body(state):
        x, it, _ = state
        g = jnp.where(free, jax.grad(loss)(x), 0.0)
        h = jax.hessian(loss)(x)
        h = jnp.where(free[:, None] & free[None, :], h, eye)
        d = -jnp.linalg.solve(h + 1e-9 * eye, g)
        # Backtracking keeps each step a descent (the loss is convex in theta, not jointly in log nu).
        f0 = loss(x)
        ts = 0.5 ** jnp.arange(20.0)
        fs = jax.vmap(lambda t: loss(x + t * d))(ts)
        ok = fs <= f0 + 1e-4 * ts * (g @ d)
        t = jnp.where(ok.any(), ts[jnp.argmax(ok)], 0.0)
        # Near the optimum float32 cannot see the loss fall: the full Newton step is safe there.
        t = jnp.where(-(g @ d) < 1.0, 1.0, t)
        step = t * d
        tol = 1e-6 if x.dtype == jnp.float32 else 1e-10
        # Converged once the Newton decrement is below float noise (float32 steps then jitter ~1e-6).
        return x + step, it + 1, (jnp.max(jnp.abs(step)) < tol) | (t == 0) | (-(g @ d) < 1e-7)

    def cond(state):
        _, it, done = state
        return (it < max_iter) & ~done

    x0 = jnp.zeros(n)
    x, _, done = jax.lax.while_loop(cond, body, (x0, 0, False))
    return x, done


@dataclasses.dataclass(frozen=True)
class TiesLeaderboard:
    """Davidson-model leaderboard: theta, score = 100 (P(win) + P(tie)/2) and P(tie) vs the baseline."""

    models: tuple[str, ...]
    theta: np.ndarray
    score: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_tie: np.ndarray
    nu: float
    baseline: str
    converged: bool
    n_bootstrap: int
    prior_sd: float | None

    def to_json(self) -> dict[str, Any]:
        """Returns the leaderboard as a JSON-serialisable dict (infinite theta becomes None)."""
        fin = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
        return {"model": "davidson", "baseline": self.baseline, "nu": self.nu, "converged": self.converged,
                "n_bootstrap": self.n_bootstrap, "prior_sd": self.prior_sd,
                "models": [{"model": m, "theta": fin(t), "score": fin(s), "ci_low": fin(lo), "ci_high": fin(hi),
                            "p_tie": fin(pt)} for m, t, s, lo, hi, pt in
                           zip(self.models, self.theta, self.score, self.ci_low, self.ci_high, self.p_tie)]}


def _expected(theta: np.ndarray, log_nu: float) -> tuple[np.ndarray, np.ndarray]:
    """Returns (100 * (P(win) + P(tie)/2), P(tie)) of each model against the anchor (theta 0)."""
    with np.errstate(all="ignore"):
        pi = np.exp(theta)
        tie = np.exp(log_nu) * np.sqrt(pi)
        d = pi + 1.0 + tie
        p_win = np.where(np.isneginf(theta), 0.0, np.where(np.isposinf(theta), 1.0, pi / d))
        p_tie = np.where(np.isfinite(theta), tie / d, 0.0)
    return 100 * (p_win + p_tie / 2), p_tie


def _fit(battles: Battles, order_idx: np.ndarray, w: np.ndarray, prior_sd: float | None):
    m = len(battles.models)
    a, b = order_idx[battles.a], order_idx[battles.b]
    wins = np.bincount(a, w * (battles.outcome == 1), m) + np.bincount(b, w * (battles.outcome == 0), m)
    ties = np.bincount(a, w * (battles.outcome == 0.5), m) + np.bincount(b, w * (battles.outcome == 0.5), m)
    games = np.bincount(a, w, m) + np.bincount(b, w, m)
    losses = games - wins - ties
    # No finite MLE for a model that never wins or ties (-inf) or never loses or ties (+inf).
    low = (games > 0) & (wins + ties == 0)
    high = (games > 0) & (losses + ties == 0)
    sep = (low | high) if not prior_sd else np.zeros(m, bool)
    # Separated models' battles get weight 0 (the limit of the others' MLE), keeping shapes fixed
    # so every bootstrap round reuses one compiled kernel.
    keep = ~(sep[a] | sep[b])
    free = np.concatenate([(games > 0) & ~sep & (np.arange(m) > 0), [True]])
    params, done = fit_davidson_kernel(jnp.asarray(a), jnp.asarray(b), jnp.asarray(battles.outcome),
                                       jnp.asarray(w * keep), jnp.asarray(free), prior_sd=float(prior_sd or 0.0))
    params = np.asarray(params, np.float64)
    theta = params[:-1].copy()
    theta[low & sep] = -np.inf
    theta[high & sep] = np.inf
    theta[games == 0] = np.nan
    theta[0] = 0.0
    return theta, float(params[-1]), bool(done)


def davidson_leaderboard(battles: Battles, *, baseline: str, n_bootstrap: int = 100, seed: int = 0,
                         level: float = 0.95, prior_sd: float | None = None) -> TiesLeaderboard:
    """Returns the Davidson ties-model leaderboard of `battles` anchored at `baseline` (see module doc)."""
    if baseline not in battles.models:
        raise ValueError(f"baseline {baseline!r} is in no battle; models are {list(battles.models)}")
    if len(battles) == 0:
        raise ValueError("no battles to fit")
    order = [baseline] + [m for m in battles.models if m != baseline]
    order_idx = np.array([order.index(m) for m in battles.models])
    reordered = dataclasses.replace(battles, models=tuple(order))
    w = battles.weight.astype(np.float64)
    theta, log_nu, done = _fit(reordered, order_idx, w, prior_sd)
    score, p_tie = _expected(theta, log_nu)
    lo = hi = np.full_like(score, np.nan)
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(n_bootstrap):
            cnt = np.bincount(rng.integers(0, len(w), len(w)), minlength=len(w))
            th, lnu, _ = _fit(reordered, order_idx, w * cnt, prior_sd)
            draws.append(_expected(np.where(np.isnan(th), -np.inf, th), lnu)[0])
        a = 100 * (1 - level) / 2
        lo, hi = np.percentile(draws, a, axis=0), np.percentile(draws, 100 - a, axis=0)
    rank = np.argsort(-np.nan_to_num(score, nan=-1.0), kind="stable")
    return TiesLeaderboard(tuple(order[i] for i in rank), theta[rank], score[rank], lo[rank], hi[rank], p_tie[rank],
                           float(np.exp(log_nu)), baseline, done, n_bootstrap, prior_sd)


__all__ = ["TiesLeaderboard", "davidson_leaderboard", "davidson_nll", "fit_davidson_kernel"]
