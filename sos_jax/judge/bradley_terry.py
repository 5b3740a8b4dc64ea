"""Bradley-Terry leaderboards with bootstrap confidence intervals and optional style control.

Model (arena-hard-auto's): P(a beats b) = sigmoid(theta_a - theta_b + s_ab . beta), a logistic
regression with no intercept and no penalty, the baseline's theta fixed at 0. Ties are half a win
each way, strong verdicts count 3 times (see `battles.py`). Ratings are on the Elo scale,
rating = 1000 + 400 * theta / ln(10) (baseline anchored at 1000); score = 100 * P(model beats
baseline) = 100 * sigmoid(theta), with style covariates at their mean (0 after z-normalisation).

Solver: Newton's method with an Armijo backtracking line search, chosen over optax L-BFGS because
the problem is small (models + 4 covariates) and convex: the exact Hessian is cheap and Newton
reaches the unpenalised MLE -- the optimum scikit-learn's lbfgs finds -- to float precision in
~5 iterations, where a quasi-Newton method needs many more passes over the battles. The Hessian
is built from GEMMs shared by all rounds: the model block from a table of the unique (a, b) pairs
(O(n U), U = pairs, e.g. M - 1 against a baseline) rather than the O(n M^2) dense product.

Bootstrap (arena-hard-auto's): each round resamples the weighted battle rows with replacement
(a strong verdict is 3 independent rows) and refits; all rounds are solved together, batched
(in chunks bounded by memory, and split over a mesh's `data` axis when one is given).
`resample="battles"` instead resamples judged games, keeping a strong verdict's 3 rows together.
The point estimate is the fit on all data; the 95% CI is the 2.5/97.5 percentiles of the rounds.

A model that, in some fit, never wins (or never loses) has an infinite MLE: it is reported as
-inf (+inf) rating, score 0 (100), and its battles are left out of that fit, which is exactly the
limit of the other parameters as its theta diverges.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrun import DATA_AXIS
from jaxrun.buckets import bucket_size, next_power_of_two
from sos_jax.judge.battles import Battles, battles_from_judgments
from sos_jax.judge.judgments import Judgments
from sos_jax.judge.style import COVARIATES

ELO_SCALE = 400.0
ANCHOR_RATING = 1000.0
_ELO_PER_LOGIT = ELO_SCALE / math.log(10.0)
# Largest (battles x pairs) one-hot table; beyond it (many models, all pairs) the pair sums fall
# back to a scatter, slower on CPU but without the memory.
_PAIR_ONEHOT_MAX = 1 << 24


def battle_bucket(n: int) -> int:
    """Returns the padded battle count for n battles: at least 256, then four sizes per octave, so a
    run compiles a bounded number of times with under 25% padding."""
    return bucket_size(n, 256, per_octave=4)


def _fit_chunk(c, amat, aabs, pairs, y, s, style_free, *, max_iter: int):
    """Returns (theta, beta, converged, iterations) of BT fits, one per row of c; model 0 is the anchor.

    c: (B, n) battle weights per fit. amat: (n, M) design rows e_a - e_b; aabs: e_a + e_b.
    pairs: (pair_id (n,), pair_a (U,), pair_b (U,)) unique (a, b) pairs, so the model block of the
    Hessian costs O(n U) instead of O(n M^2). The per-round algebra is written for one fit and
    vmapped over the rounds (matrix-vector products become GEMMs shared by all rounds); the
    Newton loop and the choice to line-search are taken for the whole batch.
    """
    pair_id, pair_a, pair_b = pairs
    n, m = amat.shape
    k = s.shape[1]
    u = pair_a.shape[0]
    dtype = s.dtype
    eye = jnp.eye(m + k, dtype=dtype)
    steps = 0.5 ** jnp.arange(8, dtype=dtype)
    step_tol = 1e-5 if dtype == jnp.float32 else 1e-9
    pair_onehot = jax.nn.one_hot(pair_id, u, dtype=dtype) if n * u <= _PAIR_ONEHOT_MAX else None

    def setup(cr):
        """One round: which models play, which are separated, which parameters are free."""
        cy, cny = cr * y, cr * (1 - y)
        wins = 0.5 * ((aabs + amat).T @ cy + (aabs - amat).T @ cny)
        losses = 0.5 * ((aabs + amat).T @ cny + (aabs - amat).T @ cy)
        present = (wins + losses) > 0
        sep_low = present & (wins == 0)
        sep_high = present & (losses == 0)
        # A model that never wins (or never loses) has an infinite MLE; dropping its battles is
        # the limit of the other parameters as its strength diverges.
        cr = cr * ((aabs @ (sep_low | sep_high).astype(dtype)) == 0)
        free = jnp.concatenate([present & ~sep_low & ~sep_high & (jnp.arange(m) > 0), style_free])
        return cr, free, present, sep_low, sep_high

    def logits(x):
        return amat @ x[:m] + s @ x[m:]

    def loss(cr, z):
        return jnp.sum(cr * (jax.nn.softplus(z) - y * z))

    def newton_direction(x, cr, free):
        """One round: the Newton step d, the decrement -g.d, and the logits along x and d."""
        z = logits(x)
        prob = jax.nn.sigmoid(z)
        r = cr * (prob - y)
        h = cr * prob * (1 - prob)
        g = jnp.where(free, jnp.concatenate([amat.T @ r, s.T @ r]), 0)
        pair_h = pair_onehot.T @ h if pair_onehot is not None else jax.ops.segment_sum(h, pair_id, num_segments=u)
        pmat = jnp.zeros((m, m), dtype).at[pair_a, pair_b].add(pair_h)
        h_mm = jnp.diag(aabs.T @ h) - pmat - pmat.T
        hs = h[:, None] * s
        h_ms = amat.T @ hs
        hess = jnp.block([[h_mm, h_ms], [h_ms.T, s.T @ hs]])
        hess = jnp.where(free[:, None] & free[None, :], hess, eye)
        d = -jnp.linalg.solve(hess, g)
        return d, -(g @ d), z, logits(d)

    def armijo_step(cr, z, zd, decrement):
        """One round: the largest halving step with sufficient decrease (0 if none)."""
        f0 = loss(cr, z)
        fs = jax.vmap(lambda t: loss(cr, z + t * zd))(steps)
        ok = fs <= f0 - 1e-4 * steps * decrement
        return jnp.where(ok.any(), steps[jnp.argmax(ok)], 0.0)

    c, free, present, sep_low, sep_high = jax.vmap(setup)(c)
    nb = c.shape[0]

    def body(state):
        x, it, iters, done = state
        d, decrement, z, zd = jax.vmap(newton_direction)(x, c, free)
        far = (decrement >= 1.0) & ~done
        # Close to the optimum the full Newton step is right (and float rounding can fail Armijo
        # spuriously), so the line search runs only while some round is still far away.
        t = jax.lax.cond(
            far.any(),
            lambda: jax.vmap(armijo_step)(c, z, zd, decrement),
            lambda: jnp.ones((nb,), dtype),
        )
        t = jnp.where(decrement < 1.0, 1.0, t)
        t = jnp.where(done, 0.0, t)
        step = t[:, None] * d
        # Quadratic convergence: once a step is this small the next would be below float noise.
        now_done = done | (decrement < 1e-12) | (t == 0) | (jnp.max(jnp.abs(step), axis=1) < step_tol)
        return x + step, it + 1, iters + (~done).astype(jnp.int32), now_done

    def cond(state):
        _, it, _, done = state
        return (it < max_iter) & ~done.all()

    init = (jnp.zeros((nb, m + k), dtype), jnp.int32(0), jnp.zeros((nb,), jnp.int32), jnp.zeros((nb,), bool))
    x, _, iters, done = jax.lax.while_loop(cond, body, init)
    theta = x[:, :m]
    theta = jnp.where(sep_low, -jnp.inf, jnp.where(sep_high, jnp.inf, theta))
    theta = jnp.where(present | (jnp.arange(m) == 0)[None, :], theta, jnp.nan)
    theta = jnp.where(present[:, :1], theta, jnp.nan)
    beta = jnp.where(style_free[None, :], x[:, m:], jnp.nan)
    return theta, beta, done, iters


def pair_table(a: np.ndarray, b: np.ndarray, num_models: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (pair_id per battle, pair_a, pair_b) for the unique (a, b) pairs, padded to a bucket."""
    key = np.asarray(a, np.int64) * num_models + np.asarray(b, np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    size = next_power_of_two(len(uniq), 16)
    pad = np.zeros(size - len(uniq), np.int64)
    full = np.concatenate([uniq, pad])
    return inverse.astype(np.int32), (full // num_models).astype(np.int32), (full % num_models).astype(np.int32)


def _round_counts(key, expand, total, n: int, *, n_bootstrap: int):
    """Returns (n_bootstrap, n) multiplicities: each round draws `total` entries of `expand`.

    expand: (R,) battle index of each resampling unit (a weighted row, or a judged game), padded
    past `total`; drawing uniformly from its live prefix is the bootstrap.
    """
    rows_bucket = expand.shape[0]
    draws = jax.random.randint(key, (n_bootstrap, rows_bucket), 0, jnp.maximum(total, 1))
    live = (jnp.arange(rows_bucket) < total).astype(jnp.float32)
    idx = expand[draws]
    return jax.vmap(lambda i: jax.ops.segment_sum(live, i, num_segments=n))(idx)


def resampling_table(weight: np.ndarray, resample: str, rows_bucket: int) -> tuple[np.ndarray, int]:
    """Returns (expand, total) for `_round_counts`: weighted rows or whole games, padded."""
    weight = np.asarray(weight)
    reps = np.round(weight).astype(np.int64) if resample == "rows" else (weight > 0).astype(np.int64)
    expand = np.repeat(np.arange(len(weight), dtype=np.int32), reps)
    total = len(expand)
    if total > rows_bucket:
        raise ValueError(f"rows_bucket {rows_bucket} < {total} resampling units")
    return np.concatenate([expand, np.zeros(rows_bucket - total, np.int32)]), total


def _fit_rounds(c, amat, aabs, pairs, y, s, style_free, *, max_iter: int, chunk: int):
    """Returns the fits of each row of c (rounds x battles), `chunk` rounds at a time."""
    rounds, n = c.shape
    chunk = min(chunk, rounds)
    extra = -rounds % chunk
    # Padding rounds are copies of round 0; their results are dropped.
    c = jnp.concatenate([c, jnp.broadcast_to(c[0], (extra, n))]).reshape(-1, chunk, n)
    fit = functools.partial(_fit_chunk, max_iter=max_iter)
    out = jax.lax.map(lambda ci: fit(ci, amat, aabs, pairs, y, s, style_free), c)
    return tuple(o.reshape((o.shape[0] * o.shape[1],) + o.shape[2:])[:rounds] for o in out)


def _constrain(x, mesh: Mesh, spec: P):
    """Returns x laid out as `spec` on `mesh` (reshard for explicit axes, a constraint otherwise)."""
    if all(t == AxisType.Explicit for t in mesh.axis_types):
        return jax.reshard(x, NamedSharding(mesh, spec))
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))


@functools.partial(jax.jit, static_argnames=("num_models", "n_bootstrap", "resample", "max_iter", "mesh"))
def bt_bootstrap_kernel(
    key, a, b, y, w, s, style_free, expand, total, pairs, *, num_models, n_bootstrap, resample="rows",
    max_iter=50, mesh=None,
):
    """Returns (theta, beta, converged, iterations) for the full-data fit (row 0) and each round.

    Pure kernel over padded arrays: a/b int32 (n,), y outcome (n,), w integer weights (n,; 0 =
    padding), s z-normalised covariates (n, k), style_free bool (k,), expand/total from
    `resampling_table`, pairs from `pair_table`. Model 0 is the anchor. With a mesh, rounds are
    split over its `data` axis with shard_map.
    """
    dtype = s.dtype
    ea = jax.nn.one_hot(a, num_models, dtype=dtype)
    eb = jax.nn.one_hot(b, num_models, dtype=dtype)
    amat, aabs = ea - eb, ea + eb
    counts = _round_counts(key, expand, total, w.shape[0], n_bootstrap=n_bootstrap).astype(dtype)
    if resample == "battles":
        counts = counts * w
    c = jnp.concatenate([w[None, :], counts], axis=0)
    rounds = c.shape[0]
    # Bound the (chunk, n, k + 8) intermediates to ~64 MB.
    chunk = max(1, min(rounds, (1 << 24) // (w.shape[0] * (s.shape[1] + 8))))
    fit = functools.partial(_fit_rounds, max_iter=max_iter, chunk=chunk)
    if mesh is None:
        return fit(c, amat, aabs, pairs, y, s, style_free)
    ndev = mesh.shape[DATA_AXIS]
    c = jnp.concatenate([c, jnp.broadcast_to(w, (-rounds % ndev, w.shape[0]))], axis=0)
    c = _constrain(c, mesh, P(DATA_AXIS, None))
    sharded = jax.shard_map(
        fit,
        mesh=mesh,
        in_specs=(P(DATA_AXIS, None), P(), P(), P(), P(), P(), P()),
        out_specs=(P(DATA_AXIS, None), P(DATA_AXIS, None), P(DATA_AXIS), P(DATA_AXIS)),
        check_vma=False,
    )
    # Gather the rounds back (an explicit-axes mesh will not slice a sharded dim unevenly).
    return tuple(_constrain(o, mesh, P())[:rounds] for o in sharded(c, amat, aabs, pairs, y, s, style_free))


@dataclasses.dataclass(frozen=True)
class BTLeaderboard:
    """A BT leaderboard, sorted by rating (best first).

    rating: Elo scale (400), baseline = 1000. score: 100 * predicted win rate vs the baseline.
    ci_low/ci_high: 95% bootstrap interval of the score; rating_ci_low/high: of the rating.
    n_battles: weighted battle rows per model. style_coef: per-SD logit effect of each style
    covariate (NaN when constant), with its bootstrap CI. bootstrap_ratings: (rounds, models).
    """

    models: tuple[str, ...]
    rating: np.ndarray
    rating_ci_low: np.ndarray
    rating_ci_high: np.ndarray
    score: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_battles: np.ndarray
    baseline: str
    style_control: bool
    style_names: tuple[str, ...]
    style_coef: np.ndarray
    style_ci_low: np.ndarray
    style_ci_high: np.ndarray
    bootstrap_ratings: np.ndarray
    n_bootstrap: int
    resample: str
    criterion: str | None = None
    converged: bool = True

    def index(self, model: str) -> int:
        """Returns the row of `model`."""
        try:
            return self.models.index(model)
        except ValueError:
            raise KeyError(f"model {model!r} not in leaderboard {list(self.models)}") from None

    def rows(self) -> list[dict[str, Any]]:
        """Returns one plain dict per model (JSON-friendly; infinite ratings become None)."""
        fin = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
        return [
            {
                "model": m,
                "rating": fin(self.rating[i]),
                "rating_ci_low": fin(self.rating_ci_low[i]),
                "rating_ci_high": fin(self.rating_ci_high[i]),
                "score": fin(self.score[i]),
                "ci_low": fin(self.ci_low[i]),
                "ci_high": fin(self.ci_high[i]),
                "n_battles": int(self.n_battles[i]),
            }
            for i, m in enumerate(self.models)
        ]

    def to_json(self) -> dict[str, Any]:
        """Returns the leaderboard and its settings as a JSON-serialisable dict."""
        fin = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
        return {
            "baseline": self.baseline,
            "criterion": self.criterion,
            "style_control": self.style_control,
            "n_bootstrap": self.n_bootstrap,
            "resample": self.resample,
            "converged": self.converged,
            "models": self.rows(),
            "style_coefs": {
                n: {"coef": fin(c), "ci_low": fin(lo), "ci_high": fin(hi)}
                for n, c, lo, hi in zip(self.style_names, self.style_coef, self.style_ci_low, self.style_ci_high)
            },
        }


def _quantile(x: np.ndarray, q: float) -> np.ndarray:
    """Returns per-column q-quantiles ignoring NaN (absent) and keeping +-inf (separated) rounds."""
    big = 1e12
    y = np.clip(x, -big, big)  # NaN stays NaN
    with np.errstate(all="ignore"):
        out = np.nanpercentile(y, q, axis=0) if y.shape[0] else np.full(y.shape[1:], np.nan)
    out = np.where(out <= -big / 10, -np.inf, np.where(out >= big / 10, np.inf, out))
    return out


def _zscore(style: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns (z-normalised covariates, which columns vary), moments weighted by battle rows."""
    mean = (w[:, None] * style).sum(0) / w.sum()
    var = (w[:, None] * (style - mean) ** 2).sum(0) / w.sum()
    std = np.sqrt(var)
    varies = std > 1e-12
    z = np.where(varies, (style - mean) / np.where(varies, std, 1.0), 0.0)
    return z, varies


def fit_battles(
    battles: Battles,
    *,
    baseline: str,
    style_control: bool = False,
    n_bootstrap: int = 100,
    seed: int = 0,
    resample: str = "rows",
    mesh: Mesh | None = None,
    max_iter: int = 50,
    criterion: str | None = None,
) -> BTLeaderboard:
    """Returns the BT leaderboard of `battles`, anchored at `baseline` (see module doc).

    `mesh`: bootstrap rounds are split over its `data` axis.
    """
    if resample not in ("rows", "battles"):
        raise ValueError(f"resample must be 'rows' or 'battles', got {resample!r}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if baseline not in battles.models:
        raise ValueError(f"baseline {baseline!r} is in no battle; models are {list(battles.models)}")
    if len(battles) == 0:
        raise ValueError("no battles with a verdict to fit")
    if not np.allclose(battles.weight, np.round(battles.weight)) or (battles.weight < 1).any():
        raise ValueError("battle weights must be positive integers (bootstrap resamples weighted rows)")
    # Put the anchor at index 0: the kernel fixes parameter 0.
    order = [baseline] + [m for m in battles.models if m != baseline]
    remap = np.array([order.index(m) for m in battles.models], dtype=np.int32)
    a = remap[battles.a]
    b = remap[battles.b]
    n = len(battles)
    w = battles.weight.astype(np.float64)
    if style_control:
        if battles.style is None:
            raise ValueError(
                "style_control=True needs answer style features: the judgments carry none "
                "(attach them with sos_jax.judge.style.attach_style)"
            )
        s, style_free = _zscore(battles.style, w)
        names = COVARIATES[: s.shape[1]]
    else:
        s, style_free = np.zeros((n, 0)), np.zeros((0,), bool)
        names = ()

    # Draw-table length depends only on the battle bucket and the strong weight, so re-fits on
    # other criteria (other strong-verdict counts) reuse the compiled kernel.
    npad = battle_bucket(n)
    dtype = jnp.zeros(()).dtype  # float32 unless x64 is enabled
    pad = lambda x, v=0: np.concatenate([x, np.full((npad - n,) + x.shape[1:], v, x.dtype)])  # noqa: E731
    theta, beta, done, _ = bt_bootstrap_kernel(
        jax.random.key(seed),
        jnp.asarray(pad(a)),
        jnp.asarray(pad(b)),
        jnp.asarray(pad(battles.outcome), dtype),
        jnp.asarray(pad(w), dtype),
        jnp.asarray(pad(s), dtype),
        jnp.asarray(style_free),
        *map(jnp.asarray, resampling_table(pad(w), resample, npad * int(w.max()))),
        tuple(map(jnp.asarray, pair_table(pad(a), pad(b), len(order)))),
        num_models=len(order),
        n_bootstrap=n_bootstrap,
        resample=resample,
        max_iter=max_iter,
        mesh=mesh,
    )
    theta = np.asarray(theta, np.float64)
    beta = np.asarray(beta, np.float64)
    rating_all = ANCHOR_RATING + _ELO_PER_LOGIT * theta
    rating = rating_all[0]
    boot = rating_all[1:]
    if n_bootstrap:
        lo, hi = _quantile(boot, 2.5), _quantile(boot, 97.5)
        blo, bhi = _quantile(beta[1:], 2.5), _quantile(beta[1:], 97.5)
    else:
        lo = hi = np.full_like(rating, np.nan)
        blo = bhi = np.full(beta.shape[1], np.nan)

    def to_score(r):
        with np.errstate(over="ignore"):
            return 100.0 / (1.0 + 10.0 ** ((ANCHOR_RATING - r) / ELO_SCALE))

    n_rows = np.bincount(a, weights=w, minlength=len(order)) + np.bincount(b, weights=w, minlength=len(order))
    rank = np.argsort(-np.nan_to_num(rating, nan=-np.inf), kind="stable")
    return BTLeaderboard(
        models=tuple(order[i] for i in rank),
        rating=rating[rank],
        rating_ci_low=lo[rank],
        rating_ci_high=hi[rank],
        score=to_score(rating)[rank],
        ci_low=to_score(lo)[rank],
        ci_high=to_score(hi)[rank],
        n_battles=n_rows[rank],
        baseline=baseline,
        style_control=style_control,
        style_names=tuple(names),
        style_coef=beta[0],
        style_ci_low=blo,
        style_ci_high=bhi,
        bootstrap_ratings=boot[:, rank],
        n_bootstrap=n_bootstrap,
        resample=resample,
        criterion=criterion,
        converged=bool(np.asarray(done).all()),
    )


def bt_leaderboard(
    judgments: Judgments | Battles,
    *,
    baseline: str,
    style_control: bool = False,
    n_bootstrap: int = 100,
    seed: int = 0,
    criterion: str | None = None,
    weight: int = 3,
    resample: str = "rows",
    mesh: Mesh | None = None,
) -> BTLeaderboard:
    """Returns the Bradley-Terry leaderboard of `judgments` against `baseline` (see module doc).

    `criterion` ranks on a criterion's verdicts instead of the overall one; `style_control`
    fits the 4 style covariates jointly with the strengths (needs answer style features).
    """
    if isinstance(judgments, Battles):
        if criterion is not None:
            raise ValueError("criterion= applies to Judgments, not to already-built Battles")
        battles = judgments
    else:
        battles = battles_from_judgments(judgments, baseline=baseline, criterion=criterion, weight=weight)
    return fit_battles(
        battles,
        baseline=baseline,
        style_control=style_control,
        n_bootstrap=n_bootstrap,
        seed=seed,
        resample=resample,
        mesh=mesh,
        criterion=criterion,
    )


__all__ = ["ANCHOR_RATING", "ELO_SCALE", "BTLeaderboard", "bt_bootstrap_kernel", "bt_leaderboard", "fit_battles"]
