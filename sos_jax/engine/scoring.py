"""The loglikelihood kernels: one forward over packed prefix-tree rows, per-request sums out;
rows may continue a shared prefix whose keys/values were computed once (`prefix_cache`).

Pure functions of a model and arrays, jitted by the engine once per packed shape.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from sos_jax.models.cache import KVCache, init_cache


def prefix_tree_mask(group: jax.Array, segment: jax.Array) -> jax.Array:
    """Returns bool [B, T, T]: query i may attend key j within packed rows.

    Causal within a group; a continuation segment sees its group's context (segment 0) and
    itself, never a sibling continuation or another group. Padding (group -1) sees only itself so
    no softmax row is empty.
    """
    t = group.shape[1]
    idx = jnp.arange(t)
    causal = idx[:, None] >= idx[None, :]
    same_group = group[:, :, None] == group[:, None, :]
    seg_q, seg_k = segment[:, :, None], segment[:, None, :]
    visible = (seg_k == 0) | (seg_k == seg_q)
    real_key = group[:, None, :] >= 0
    mask = causal[None] & same_group & visible & real_key
    padding_self = (group[:, :, None] < 0) & (idx[:, None] == idx[None, :])[None]
    return mask | padding_self


def first_argmax(x: jax.Array) -> jax.Array:
    """Returns int32 index of the first maximum along the last axis (torch/jnp argmax ties).

    A max and a float min-reduce: on CPU about twice as fast as `jnp.argmax`'s variadic reduce.
    """
    top = jnp.max(x, axis=-1, keepdims=True)
    idx = jnp.arange(x.shape[-1], dtype=jnp.float32)
    first = jnp.min(jnp.where(x == top, idx, jnp.inf), axis=-1)
    return jnp.where(jnp.isfinite(first), first, -1).astype(jnp.int32)


def score_packed_rows(
    model: Any,
    tokens: jax.Array,
    positions: jax.Array,
    group: jax.Array,
    segment: jax.Array,
    score_pos: jax.Array,
    score_tok: jax.Array,
    score_mask: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Returns (sum of continuation log-probs [B, N], all-tokens-greedy [B, N]) per score slot.

    `score_pos[b, n, c]` is the row position whose logits predict continuation token
    `score_tok[b, n, c]`; masked-out entries contribute nothing. Log-probs are log-softmax over
    the model's whole vocabulary in float32, as lm-eval computes them.
    """
    logits, _ = model(tokens, positions, prefix_tree_mask(group, segment))
    return _continuation_scores(logits, score_pos, score_tok, score_mask)


def prefix_cache(model: Any, cfg: Any, tokens: jax.Array, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """Returns the keys and values [layers, P, kv_heads, L, head_dim] of `P` right-padded prefixes.

    Padding keys are never read: the scorer masks keys at or past each prefix's length. The
    logits are unused, so XLA drops the vocabulary projection.
    """
    p, length = tokens.shape
    positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (p, length))
    causal = jnp.tril(jnp.ones((length, length), bool))
    _, cache = model(tokens, positions, jnp.broadcast_to(causal, (p, length, length)),
                     cache=init_cache(cfg, p, length, dtype), cache_index=0)
    return cache.k, cache.v


def score_packed_rows_after_prefix(
    model: Any,
    prefix_k: jax.Array,
    prefix_v: jax.Array,
    prefix_lengths: jax.Array,
    row_prefix: jax.Array,
    tokens: jax.Array,
    positions: jax.Array,
    group: jax.Array,
    segment: jax.Array,
    score_pos: jax.Array,
    score_tok: jax.Array,
    score_mask: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Returns `score_packed_rows`'s outputs for rows whose tokens continue a cached prefix.

    Row b continues prefix `row_prefix[b]` of the chunk (`prefix_k/v` [layers, P, heads, L, D], true
    lengths `prefix_lengths` [P]); its positions already start after that prefix. Every real
    token attends to its prefix's keys and, in the row, to its prefix-tree ancestors.
    """
    b, t = tokens.shape
    length = prefix_k.shape[3]
    # The chunk's caches are replicated over `data`; each row gathers its own prefix.
    k = jnp.take(prefix_k, row_prefix, axis=1)
    v = jnp.take(prefix_v, row_prefix, axis=1)
    room = jnp.zeros(k.shape[:3] + (t,) + k.shape[4:], k.dtype)
    key_positions = jnp.concatenate(
        [jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (b, length)), jnp.zeros((b, t), jnp.int32)], axis=1
    )
    cache = KVCache(k=jnp.concatenate([k, room], axis=3), v=jnp.concatenate([v, room], axis=3), key_positions=key_positions)
    in_prefix = jnp.arange(length)[None, None, :] < prefix_lengths[row_prefix][:, None, None]
    mask = jnp.concatenate([in_prefix & (group >= 0)[:, :, None], prefix_tree_mask(group, segment)], axis=2)
    logits, _ = model(tokens, positions, mask, cache=cache, cache_index=length)
    return _continuation_scores(logits, score_pos, score_tok, score_mask)


def _continuation_scores(
    logits: jax.Array, score_pos: jax.Array, score_tok: jax.Array, score_mask: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Returns (sum of log-probs [B, N], all greedy [B, N]) of the scored tokens of each slot."""
    # Without the barrier XLA:CPU fuses the reductions into the vocabulary matmul and runs it
    # several times slower.
    logits = lax.optimization_barrier(logits.astype(jnp.float32))
    log_norm = jax.nn.logsumexp(logits, axis=-1)  # [B, T]
    argmax = first_argmax(logits)  # [B, T]

    def per_row(row_logits, row_norm, row_argmax, pos, tok):
        picked = row_logits[pos, tok] - row_norm[pos]
        return picked, row_argmax[pos] == tok

    logprob, greedy = jax.vmap(per_row)(logits, log_norm, argmax, score_pos, score_tok)
    ll = jnp.sum(jnp.where(score_mask, logprob, 0.0), axis=-1)
    is_greedy = jnp.all(greedy | ~score_mask, axis=-1)
    return ll, is_greedy
