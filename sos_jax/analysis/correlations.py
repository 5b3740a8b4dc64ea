"""Leaderboard-vs-factor correlations (Pearson, Spearman, Kendall tau-b) with bootstrap CIs over
models and permutation p-values, all pairs of a table vectorised in one jitted call per shape.

Conventions (chosen to match scipy): Spearman is Pearson of average ranks; Kendall is tau-b
((concordant - discordant) / sqrt((n0 - ties_x)(n0 - ties_y))); the two-sided permutation p-value
is `min(1, 2 min(P(T* <= t), P(T* >= t)))` with `(count + 1) / (R + 1)` for R random
permutations and `count / n!` when all n! <= R permutations are enumerated (scipy's
`permutation_test(..., permutation_type="pairings")`). CIs are percentile intervals of B bootstrap
resamples of the models (resamples where a statistic is undefined, e.g. constant x, are dropped and
counted).

Vectors are padded to a power-of-two length with a validity mask, so a table compiles once per
(length bucket, statistic set) rather than once per pair.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrun.buckets import next_power_of_two
from sos_jax.analysis.factors import average_ranks
from sos_jax.analysis.ingest import Leaderboard
from sos_jax.analysis.names import NameMap

METHODS = ("pearson", "spearman", "kendall")
_EXACT_MAX_N = 8  # enumerate all permutations only up to 8! = 40320 rows


def pearson(x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """Returns Pearson's r of the masked entries (NaN when either side is constant)."""
    w = mask.astype(x.dtype)
    n = jnp.sum(w, -1, keepdims=True)
    dx = (x - jnp.sum(w * x, -1, keepdims=True) / n) * w
    dy = (y - jnp.sum(w * y, -1, keepdims=True) / n) * w
    sxx, syy = jnp.sum(dx * dx, -1), jnp.sum(dy * dy, -1)
    r = jnp.sum(dx * dy, -1) / jnp.sqrt(sxx * syy)
    return jnp.where((sxx > 0) & (syy > 0), jnp.clip(r, -1.0, 1.0), jnp.nan)


def spearman(x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """Returns Spearman's rho of the masked entries: Pearson of average ranks (ties averaged)."""
    return pearson(average_ranks(x, mask).astype(x.dtype), average_ranks(y, mask).astype(y.dtype), mask)


def kendall_tau_b(x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """Returns Kendall's tau-b of the masked entries (ties in x or y handled as in scipy)."""
    n = x.shape[-1]
    upper = jnp.triu(jnp.ones((n, n), bool), k=1)
    pm = upper & mask[..., :, None] & mask[..., None, :]
    dx = x[..., :, None] - x[..., None, :]
    dy = y[..., :, None] - y[..., None, :]
    s = jnp.sum(jnp.where(pm, jnp.sign(dx) * jnp.sign(dy), 0.0), (-1, -2))
    n0 = jnp.sum(pm, (-1, -2)).astype(x.dtype)
    n1 = jnp.sum(pm & (dx == 0), (-1, -2)).astype(x.dtype)
    n2 = jnp.sum(pm & (dy == 0), (-1, -2)).astype(x.dtype)
    denom = jnp.sqrt((n0 - n1) * (n0 - n2))
    return jnp.where(denom > 0, s / jnp.where(denom > 0, denom, 1.0), jnp.nan)


_STAT = {"pearson": pearson, "spearman": spearman, "kendall": kendall_tau_b}


def _stats(x, y, mask, methods):
    return jnp.stack([_STAT[m](x, y, mask) for m in methods], -1)


def _two_sided(null: jax.Array, obs: jax.Array, valid_rows: jax.Array, n_rows: jax.Array, adjustment: jax.Array) -> jax.Array:
    # Relative tolerance as in scipy (100 eps of the observed value) plus an absolute one for 0.
    gamma = jnp.abs(obs) * (100 * jnp.finfo(null.dtype).eps) + 1e-6
    less = jnp.sum((null <= obs + gamma) & valid_rows, 0) + adjustment
    greater = jnp.sum((null >= obs - gamma) & valid_rows, 0) + adjustment
    p = 2 * jnp.minimum(less, greater) / (n_rows + adjustment)
    return jnp.clip(p, 0.0, 1.0)


def _divisor_batch(n: int, cap: int = 256) -> int:
    """Returns the largest divisor of n up to `cap`, so `lax.map` needs no separately compiled remainder."""
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


@partial(jax.jit, static_argnames=("methods", "n_boot", "level"))
def correlate_padded(key: jax.Array, x: jax.Array, y: jax.Array, mask: jax.Array, perms: jax.Array,
                     n_rows: jax.Array, adjustment: jax.Array, *, methods: tuple[str, ...] = METHODS,
                     n_boot: int = 2000, level: float = 0.95):
    """Returns (r, ci_low, ci_high, p, n_undefined), each [P, S], for P padded pairs [P, N].

    `mask` marks each pair's valid entries (valid first). `perms` [P, R, N] holds permutations of
    each pair's valid entries (padding fixed); only the first `n_rows[p]` rows count, and
    `adjustment[p]` is 1 for random permutations, 0 for a complete enumeration.
    """
    P, N = x.shape
    R = perms.shape[1]
    n = jnp.sum(mask, -1)  # [P]
    obs = _stats(x, y, mask, methods)  # [P, S]

    def boot_round(k):
        u = jax.random.uniform(k, (P, N))
        idx = jnp.minimum(jnp.floor(u * n[:, None]).astype(jnp.int32), n[:, None] - 1)
        return _stats(jnp.take_along_axis(x, idx, -1), jnp.take_along_axis(y, idx, -1), mask, methods)

    boot = jax.lax.map(boot_round, jax.random.split(key, n_boot), batch_size=_divisor_batch(n_boot))  # [B, P, S]
    a = (1 - level) / 2
    q = jnp.nanpercentile(boot, jnp.asarray([100 * a, 100 * (1 - a)]), axis=0)
    undefined = jnp.sum(jnp.isnan(boot), 0)

    def perm_round(perm):  # perm: [P, N]
        return _stats(jnp.take_along_axis(x, perm, -1), y, mask, methods)

    null = jax.lax.map(perm_round, jnp.swapaxes(perms, 0, 1), batch_size=_divisor_batch(R))  # [R, P, S]
    rows = (jnp.arange(R)[:, None] < n_rows[None, :])[:, :, None]  # [R, P, 1]
    p = _two_sided(null, obs, rows, n_rows[:, None], adjustment[:, None])
    return obs, q[0], q[1], p, undefined


@dataclass
class Correlation:
    """One statistic between two score vectors over the models they share."""

    method: str
    n: int
    r: float
    ci_low: float
    ci_high: float
    p_value: float
    p_method: str
    n_boot_undefined: int = 0

    def to_dict(self) -> dict:
        """Returns the fields as a JSON-friendly dict (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


def correlate_many(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], *, methods: Sequence[str] = METHODS,
                   n_boot: int = 2000, n_perm: int = 10000, level: float = 0.95, seed: int = 0) -> list[dict[str, Correlation]]:
    """Returns, per pair (x_i, y_i), each method's correlation over entries where both are finite.

    Pairs are grouped by padded length and each group runs in one jitted call; pairs of at most 8
    models with n! <= n_perm get the exact test (all n! orderings), the rest n_perm random ones.
    """
    methods = tuple(methods)
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown correlation method {m!r}; expected one of {METHODS}")
    if len(xs) != len(ys):
        raise ValueError(f"got {len(xs)} x vectors but {len(ys)} y vectors")
    prepared = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(f"pair {i}: x and y must be 1-D of equal length, got {x.shape} and {y.shape}")
        ok = np.isfinite(x) & np.isfinite(y)
        prepared.append((x[ok], y[ok]))
    out: list[dict[str, Correlation] | None] = [None] * len(prepared)
    groups: dict[int, list[int]] = {}
    for i, (x, _) in enumerate(prepared):
        n = len(x)
        if n < 3:
            out[i] = {m: Correlation(m, n, math.nan, math.nan, math.nan, math.nan, "too few models") for m in methods}
            continue
        # Power-of-two lengths of at least 32: one compile for most tables.
        groups.setdefault(next_power_of_two(n, 32), []).append(i)
    rng = np.random.default_rng(seed)
    key = jax.random.key(seed)
    for gi, (N, idx) in enumerate(sorted(groups.items())):
        n_pairs = next_power_of_two(len(idx), 16)  # pairs padded too: (pairs, length) buckets bound the compiles
        X = np.zeros((n_pairs, N), np.float32)
        Y = np.zeros_like(X)
        Mk = np.zeros((n_pairs, N), bool)
        Mk[len(idx):, :3] = True  # padding pairs: 3 zero entries, results discarded
        perms = np.tile(np.arange(N, dtype=np.int32), (n_pairs, n_perm, 1))
        n_rows = np.full(n_pairs, n_perm, np.int32)
        adjustment = np.ones(n_pairs, np.int32)
        p_method = []
        for row, i in enumerate(idx):
            x, y = prepared[i]
            n = len(x)
            X[row, :n], Y[row, :n], Mk[row, :n] = x, y, True
            if n <= _EXACT_MAX_N and math.factorial(n) <= n_perm:
                # All n! orderings: scipy's exact test (no +1 adjustment).
                every = np.asarray(list(itertools.permutations(range(n))), np.int32)
                perms[row, : len(every), :n] = every
                n_rows[row], adjustment[row] = len(every), 0
                p_method.append(f"exact ({len(every)} permutations)")
            else:
                perms[row, :, :n] = rng.permuted(np.tile(np.arange(n, dtype=np.int32), (n_perm, 1)), axis=1)
                p_method.append(f"{n_perm} random permutations")
        r, lo, hi, p, und = (np.asarray(a, np.float64) for a in correlate_padded(
            jax.random.fold_in(key, gi), jnp.asarray(X), jnp.asarray(Y), jnp.asarray(Mk), jnp.asarray(perms),
            jnp.asarray(n_rows), jnp.asarray(adjustment), methods=methods, n_boot=n_boot, level=level))
        for row, i in enumerate(idx):
            out[i] = {m: Correlation(m, len(prepared[i][0]), float(r[row, s]), float(lo[row, s]), float(hi[row, s]),
                                     float(p[row, s]), p_method[row], int(und[row, s])) for s, m in enumerate(methods)}
    return out  # type: ignore[return-value]


def correlate(x: np.ndarray, y: np.ndarray, **kwargs) -> dict[str, Correlation]:
    """Returns each method's correlation between two vectors (see `correlate_many`)."""
    return correlate_many([x], [y], **kwargs)[0]


@dataclass
class CorrelationRow:
    """Correlations of one leaderboard column with one factor score over the joined models."""

    leaderboard: str
    column: str
    target: str
    models: list[str]
    stats: dict[str, Correlation] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Returns the row as a JSON-friendly dict."""
        return {"leaderboard": self.leaderboard, "column": self.column, "target": self.target,
                "n": len(self.models), "models": self.models,
                "stats": {m: c.to_dict() for m, c in self.stats.items()}}


def aligned(leaderboard: Leaderboard, column: str, models: Sequence[str], name_map: NameMap | None) -> np.ndarray:
    """Returns the leaderboard column reindexed to `models` (canonical names), NaN where absent."""
    name_map = name_map or NameMap()
    values = leaderboard.column(column)
    lookup: dict[str, float] = {}
    for m, v in zip(leaderboard.models, values):
        c = name_map.canonical(m)
        if c in lookup:
            raise ValueError(f"{leaderboard.source}: two rows map to model {c!r} (check the name map)")
        lookup[c] = float(v)
    return np.asarray([lookup.get(m, math.nan) for m in models])


def correlation_table(leaderboards: Sequence[Leaderboard], targets: dict[str, np.ndarray], models: Sequence[str],
                      *, name_map: NameMap | None = None, columns: dict[str, Sequence[str]] | None = None,
                      methods: Sequence[str] = METHODS, n_boot: int = 2000, n_perm: int = 10000,
                      level: float = 0.95, seed: int = 0) -> list[CorrelationRow]:
    """Returns the correlations of every (leaderboard column, target score) pair.

    `targets` maps names (factors, `overall`) to scores over `models`; `columns[lb.name]` picks a
    leaderboard's columns (its primary column by default).
    """
    rows, xs, ys = [], [], []
    for lb in leaderboards:
        cols = list((columns or {}).get(lb.name) or [lb.primary])
        for col in cols:
            lbv = aligned(lb, col, models, name_map)
            for t, tv in targets.items():
                tv = np.asarray(tv, float)
                ok = np.isfinite(lbv) & np.isfinite(tv)
                rows.append(CorrelationRow(lb.name, col, t, [m for m, k in zip(models, ok) if k]))
                xs.append(lbv)
                ys.append(tv)
    results = correlate_many(xs, ys, methods=methods, n_boot=n_boot, n_perm=n_perm, level=level, seed=seed)
    for row, res in zip(rows, results):
        row.stats = res
    return rows
