"""Differentiable soft sort and soft rank (Blondel et al. 2020, "Fast Differentiable Sorting and
Ranking") in JAX.

Both operators are projections onto the permutahedron, computed as a sort followed by an isotonic
regression solved with pool-adjacent-violators (PAV), so a row of d values costs O(d log d). PAV
runs as a `lax.fori_loop` over the sorted values with a stack of pooled blocks (amortised O(d)
merges). Rows of at most `SMALL_D` values (PEAR's tabular features) instead sort by pairwise
comparisons and run PAV as a fixed 2d - 1 steps on one packed carry: O(d^2) work, but a few fused
kernels per step instead of a nested data-dependent loop, sort, scatters and gathers; both paths
find the same blocks (tested). Its derivative is exact and cheap: within each pooled block the solution is the block's
mean (L2) or log-sum-exp difference (KL), so the Jacobian is block-wise averaging (L2) or
block-wise softmax weighting (KL). Rather than a hand-written VJP we make that structure explicit:
PAV only decides the blocks (on stop-gradient inputs, so no derivative ever enters the loop), and
the solution is recomputed from the blocks with segment sums. Autodiff of that recomputation *is*
the block-averaging Jacobian, and unlike a `custom_vjp` it also serves forward mode and
higher-order derivatives (`check_grads(order=2, modes=("fwd", "rev"))` passes).

Conventions follow `fast_soft_sort` (the soft-sort package bundled with the PEAR reference): ranks
are 1-based, `ASCENDING` gives the smallest value rank ~1, and as `regularization_strength -> 0`
the outputs approach the hard ranks / sorted values. Ties get equal soft ranks.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from pear_jax import validation

REGULARIZATIONS = ("l2", "kl")
DIRECTIONS = ("ASCENDING", "DESCENDING")


def _pool_value(a: jax.Array, b: jax.Array, kind: str) -> jax.Array:
    # L2 pools keep (sum, count); KL pools keep (logsumexp y, logsumexp w).
    return a / b if kind == "l2" else a - b


def _pav(a0: jax.Array, b0: jax.Array, kind: str) -> jax.Array:
    """Returns the pooled-block id of each position for a decreasing isotonic problem (PAV).

    Solves min over v_1 >= ... >= v_d of the separable objective whose per-position pools start
    as (a0_i, b0_i). Adjacent pools are merged while the earlier one is not strictly above the
    later one, exactly like the reference (ties are pooled).
    """
    d = a0.shape[0]
    merge = (lambda x, y: x + y) if kind == "l2" else jnp.logaddexp

    def violated(state):
        a, b, _, top = state
        prev, last = jnp.maximum(top - 2, 0), jnp.maximum(top - 1, 0)
        return (top >= 2) & (_pool_value(a[prev], b[prev], kind) <= _pool_value(a[last], b[last], kind))

    def pool(state):
        a, b, start, top = state
        a = a.at[top - 2].set(merge(a[top - 2], a[top - 1]))
        b = b.at[top - 2].set(merge(b[top - 2], b[top - 1]))
        # A freed slot's start goes back to d, an out-of-range position, so it marks no block.
        start = start.at[top - 1].set(d)
        return a, b, start, top - 1

    def push(i, state):
        a, b, start, top = state
        state = (a.at[top].set(a0[i]), b.at[top].set(b0[i]), start.at[top].set(i), top + 1)
        return lax.while_loop(violated, pool, state)

    # Carry built from the inputs so that, under vmap on an explicit mesh, it inherits their sharding.
    init = (jnp.zeros_like(a0), jnp.zeros_like(b0), jnp.full_like(a0, d, jnp.int32), jnp.zeros_like(a0[0], jnp.int32))
    _, _, start, _ = lax.fori_loop(0, d, push, init)
    # Mark each live block's first position (freed slots hold d and are dropped); a running count
    # of marks is then the block id of every position.
    first = jnp.zeros_like(start).at[start].set(1, mode="drop")
    return jnp.cumsum(first) - 1


def _block_sum(values: jax.Array, ids: jax.Array) -> jax.Array:
    # Linear in `values` (scatter-add then gather), so its transpose is cheap and exact.
    return jax.ops.segment_sum(values, ids, num_segments=values.shape[0])[ids]


def _block_logsumexp(values: jax.Array, ids: jax.Array) -> jax.Array:
    d = values.shape[0]
    top = lax.stop_gradient(jax.ops.segment_max(values, ids, num_segments=d))[ids]
    return top + jnp.log(_block_sum(jnp.exp(values - top), ids))


# Rows up to this many values take the small-d path: PAV as a fixed number of shift steps,
# sorting by pairwise comparisons and block sums as masked row sums. Its pieces are elementwise
# ops and short reductions that XLA fuses, where the general path's data-dependent nested while
# loop, sort, scatters and gathers each run as separate, mostly idle steps (on CPU, value and
# gradient of the PEAR step's soft Spearman of (64, 8) rows: ~0.24 -> ~0.15 ms). Its work grows
# like d^2 per row, so longer rows keep the O(d log d) general path. Both give the same blocks.
SMALL_D = 16


def _pav_small(a0: jax.Array, b0: jax.Array, kind: str) -> jax.Array:
    """Returns the pooled-block id of each position, like `_pav`, for short rows.

    The same pushes and merges as `_pav`, flattened into 2d - 1 steps that each either merge the
    top two pools (when they violate the order) or push the next value: d pushes and at most
    d - 1 merges. The stack keeps its top at index 0 and the unread values wait in a queue whose
    head is index 0, so a step only reads fixed indices and shifts by one: static slices and
    selects that XLA fuses into a few kernels per step, with a fixed trip count. (Unrolling the
    loop or indexing by a stack pointer with one-hot masks were both slower on CPU.)
    """
    d = a0.shape[0]
    if d == 1:
        return jnp.zeros_like(a0, jnp.int32)
    merge = (lambda x, y: x + y) if kind == "l2" else jnp.logaddexp

    def step(_, state):
        # One (6, d) carry, so a step is one fused kernel rather than one per array: the stack's
        # pools (a, b) and block starts, and the queue's values (qa, qb) and positions (qi).
        # Positions are small integers (<= d), exact in floating point; d marks a free slot or an
        # empty queue entry.
        a, b, start, qa, qb, qi = state
        # Slot 1 is live when it holds a block start; pools are (sum, count) or (lse y, lse w).
        pool = (start[1] < d) & (_pool_value(a[1], b[1], kind) <= _pool_value(a[0], b[0], kind))
        push = ~pool & (qi[0] < d)
        end = jnp.full_like(a[:1], d)
        # Merging drops the top slot (the merged pool keeps the earlier block's start); pushing
        # moves the queue's head onto the stack.
        merged = jnp.concatenate([merge(state[:2, 1:2], state[:2, :1]), state[:2, 2:], state[:2, :1]], axis=1)
        stack_pooled = jnp.concatenate([merged, jnp.concatenate([start[1:], end])[None]])
        stack_pushed = jnp.concatenate([state[3:, :1], state[:3, :-1]], axis=1)
        queue_shifted = jnp.concatenate([state[3:, 1:], jnp.stack([qa[:1], qb[:1], end])], axis=1)
        stack = jnp.where(pool, stack_pooled, jnp.where(push, stack_pushed, state[:3]))
        queue = jnp.where(push, queue_shifted, state[3:])
        return jnp.concatenate([stack, queue])

    positions = jnp.arange(d, dtype=a0.dtype) + jnp.zeros_like(a0)
    empty = jnp.full_like(a0, d)
    init = jnp.stack([jnp.zeros_like(a0), jnp.zeros_like(b0), empty, a0, b0, positions])
    start = lax.fori_loop(0, 2 * d - 1, step, init)[2].astype(jnp.int32)
    # Mark each live block's first position (free slots hold d and match none).
    first = jnp.any(start[:, None] == jnp.arange(d)[None, :], axis=0).astype(jnp.int32)
    return jnp.cumsum(first) - 1


def _same_block(ids: jax.Array) -> jax.Array:
    return ids[:, None] == ids[None, :]


def _small_block_sum(values: jax.Array, ids: jax.Array) -> jax.Array:
    # Linear in `values` (a masked row sum), so every derivative is block-wise summing.
    return jnp.sum(jnp.where(_same_block(ids), values[None, :], 0.0), axis=1)


def _small_block_logsumexp(values: jax.Array, ids: jax.Array) -> jax.Array:
    same = _same_block(ids)
    top = lax.stop_gradient(jnp.max(jnp.where(same, values[None, :], -jnp.inf), axis=1))
    return top + jnp.log(_small_block_sum(jnp.exp(values - top), ids))


def isotonic_l2(y: jax.Array) -> jax.Array:
    """Returns argmin over v_1 >= ... >= v_d of 0.5 * ||v - y||^2 (1-D `y`).

    PAV finds the pooled blocks on a stop-gradient copy; the solution is then each block's mean of
    `y`, so the Jacobian is exactly block-wise averaging and no derivative passes through the loop.
    """
    if y.shape[0] <= SMALL_D:
        ids = _pav_small(lax.stop_gradient(y), jnp.ones_like(y), "l2")
        return _small_block_sum(y, ids) / _small_block_sum(jnp.ones_like(y), ids)
    ids = _pav(lax.stop_gradient(y), jnp.ones_like(y), "l2")
    return _block_sum(y, ids) / _block_sum(jnp.ones_like(y), ids)


def isotonic_kl(y: jax.Array, w: jax.Array) -> jax.Array:
    """Returns argmin over v_1 >= ... >= v_d of <exp(y - v), 1> + <exp(w), v> (1-D `y`, `w`).

    Same scheme as `isotonic_l2`: each block's value is logsumexp(y_B) - logsumexp(w_B), whose
    Jacobian is a per-block softmax.
    """
    # One of y, w is often a constant (log ranks); adding the other's zeros gives both the same
    # batch axis under vmap, and with it the rows' sharding on an explicit mesh.
    y, w = y + jnp.zeros_like(w), w + jnp.zeros_like(y)
    if y.shape[0] <= SMALL_D:
        ids = _pav_small(lax.stop_gradient(y), lax.stop_gradient(w), "kl")
        return _small_block_logsumexp(y, ids) - _small_block_logsumexp(w, ids)
    ids = _pav(lax.stop_gradient(y), lax.stop_gradient(w), "kl")
    return _block_logsumexp(y, ids) - _block_logsumexp(w, ids)


def _descending_order(v: jax.Array) -> jax.Array:
    """Returns the one-hot matrix P with P[k, i] = 1 when v[i] is k-th in `argsort(-v)` (stable).

    Position of i = #{j : v_j > v_i} + #{j < i : v_j == v_i}: pairwise comparisons for short rows.
    """
    d = v.shape[0]
    idx = jnp.arange(d)
    above = (v[None, :] > v[:, None]) | ((v[None, :] == v[:, None]) & (idx[None, :] < idx[:, None]))
    pos = jnp.sum(above, axis=1)
    return pos[None, :] == idx[:, None]


def _permute(order: jax.Array, values: jax.Array) -> jax.Array:
    # (P values)[k] = values[perm[k]]; one nonzero term per row, so exact.
    return jnp.sum(jnp.where(order, values[None, :], 0.0), axis=1)


def _unpermute(order: jax.Array, values: jax.Array) -> jax.Array:
    return jnp.sum(jnp.where(order, values[:, None], 0.0), axis=0)


def _scatter_back(sorted_values: jax.Array, *, perm: jax.Array) -> jax.Array:
    return jnp.zeros_like(sorted_values).at[perm].set(sorted_values)


def _soft_rank_1d(values: jax.Array, strength: jax.Array, regularization: str, descending: bool) -> jax.Array:
    d = values.shape[0]
    theta = values * ((-1.0 if descending else 1.0) / strength)
    w = jnp.arange(d, 0, -1, dtype=values.dtype)
    if d <= SMALL_D:
        order = _descending_order(lax.stop_gradient(theta))
        sort, unsort = functools.partial(_permute, order), functools.partial(_unpermute, order)
    else:
        perm = jnp.argsort(-theta)
        sort, unsort = (lambda v: v[perm]), functools.partial(_scatter_back, perm=perm)  # noqa: E731
    s = sort(theta)
    if regularization == "l2":
        return unsort(s - isotonic_l2(s - w))
    return jnp.exp(unsort(s - isotonic_kl(s, jnp.log(w))))


def _soft_sort_1d(values: jax.Array, strength: jax.Array, regularization: str, descending: bool) -> jax.Array:
    d = values.shape[0]
    sign = 1.0 if descending else -1.0
    v = sign * values
    if d <= SMALL_D:
        s = _permute(_descending_order(lax.stop_gradient(v)), v)
    else:
        s = v[jnp.argsort(-v)]
    w = jnp.arange(d, 0, -1, dtype=values.dtype) / strength
    dual = isotonic_l2(w - s) if regularization == "l2" else isotonic_kl(w, s)
    return sign * (w - dual)


@functools.partial(jax.jit, static_argnames=("op", "regularization", "descending"))
def _apply_rows(values, strength, *, op, regularization, descending):
    fn = _soft_rank_1d if op == "rank" else _soft_sort_1d
    strength = jnp.asarray(strength, values.dtype)
    per_row = lambda r: fn(r, strength, regularization, descending)  # noqa: E731
    # Nested vmaps rather than a reshape to (rows, d): merging a sharded axis by reshape is
    # rejected under explicit mesh axes.
    for _ in range(values.ndim - 1):
        per_row = jax.vmap(per_row)
    return per_row(values)


def _prepare(values, regularization_strength, regularization, direction) -> tuple[jax.Array, bool]:
    validation.check_choice("regularization", regularization, REGULARIZATIONS)
    validation.check_choice("direction", direction, DIRECTIONS)
    validation.check_positive("regularization_strength", regularization_strength)
    values = jnp.asarray(values)
    if values.ndim < 1 or values.shape[-1] < 1:
        raise ValueError(f"values must have at least one element on the last axis, got shape {values.shape}")
    if not jnp.issubdtype(values.dtype, jnp.floating):
        values = values.astype(jnp.float32)
    validation.check_finite("values", values)
    return values, direction == "DESCENDING"


def soft_rank(
    values: jax.Array,
    regularization_strength: float | jax.Array = 1.0,
    regularization: str = "l2",
    direction: str = "ASCENDING",
) -> jax.Array:
    """Returns the soft ranks (1-based) of `values` along the last axis, same shape as `values`.

    `regularization="l2"` projects `values / strength` onto the permutahedron of (d, ..., 1) in
    Euclidean geometry; `"kl"` uses the KL geometry (outputs stay positive). Leading axes are
    independent rows. Jittable, vmappable and differentiable (forward and reverse mode).
    """
    values, descending = _prepare(values, regularization_strength, regularization, direction)
    return _apply_rows(values, regularization_strength, op="rank", regularization=regularization,
                       descending=descending)


def soft_sort(
    values: jax.Array,
    regularization_strength: float | jax.Array = 1.0,
    regularization: str = "l2",
    direction: str = "ASCENDING",
) -> jax.Array:
    """Returns `values` soft-sorted along the last axis (ascending by default), same shape.

    As `regularization_strength -> 0` this tends to the hard sort in `direction`.
    """
    values, descending = _prepare(values, regularization_strength, regularization, direction)
    return _apply_rows(values, regularization_strength, op="sort", regularization=regularization,
                       descending=descending)
