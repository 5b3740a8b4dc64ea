"""KV-cache decoding kernels: prefill of left-padded prompts, a jitted decode loop, sampling.

Layout of a batch: prompts are left-padded to `prompt_len`; row b's prompt occupies cache slots
[prompt_len - length_b, prompt_len) with positions 0..length_b-1, and its i-th generated token
is fed back at slot prompt_len + i with position length_b + i, so RoPE sees each row as if it were
unpadded (as transformers' generate does with an attention mask).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

# Marks "no token" in the output buffer (after EOS, or never generated).
NO_TOKEN = -1


class SamplingParams(NamedTuple):
    """Per-batch sampling settings as arrays, so changing them never recompiles."""

    temperature: jax.Array  # f32 scalar, > 0 when sampling
    top_p: jax.Array  # f32 scalar in (0, 1]
    top_k: jax.Array  # i32 scalar, 0 = off


class DecodeState(NamedTuple):
    """Everything the decode loop carries between calls."""

    cache: Any  # the model's KVCache
    out: jax.Array  # i32 [B, G] generated tokens, NO_TOKEN where none
    step: jax.Array  # i32 scalar: tokens generated so far
    done: jax.Array  # bool [B]
    lengths: jax.Array  # i32 [B] prompt lengths


def process_logits(logits: jax.Array, params: SamplingParams) -> jax.Array:
    """Returns logits after temperature, top-k and top-p, in transformers' order and semantics.

    top-p keeps the smallest set of most likely tokens whose probability reaches `top_p` (a token
    is kept when the mass strictly above it is below `top_p`), and always the most likely one.
    """
    logits = logits.astype(jnp.float32) / params.temperature
    sorted_desc = -jnp.sort(-logits, axis=-1)
    vocab = logits.shape[-1]
    kth = sorted_desc[:, jnp.clip(params.top_k - 1, 0, vocab - 1)]
    use_k = (params.top_k > 0) & (params.top_k < vocab)
    logits = jnp.where(use_k & (logits < kth[:, None]), -jnp.inf, logits)
    sorted_desc = jnp.where(use_k & (sorted_desc < kth[:, None]), -jnp.inf, sorted_desc)
    probs = jax.nn.softmax(sorted_desc, axis=-1)
    mass_above = jnp.cumsum(probs, axis=-1) - probs
    keep_sorted = (mass_above < params.top_p) | (jnp.arange(vocab) == 0)[None]
    # The smallest kept logit is the threshold; ties at it are kept, as in transformers.
    threshold = jnp.min(jnp.where(keep_sorted, sorted_desc, jnp.inf), axis=-1)
    return jnp.where(logits < threshold[:, None], -jnp.inf, logits)


def next_tokens(
    logits: jax.Array, keys: jax.Array, step: jax.Array, params: SamplingParams, do_sample: bool
) -> jax.Array:
    """Returns i32 [B]: greedy arg-max, or a draw from the processed distribution per row."""
    if not do_sample:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    processed = process_logits(logits, params)
    step_keys = jax.vmap(lambda k: jax.random.fold_in(k, step))(keys)
    return jax.vmap(jax.random.categorical)(step_keys, processed).astype(jnp.int32)


def _record(state: DecodeState, tokens: jax.Array, eos_ids: jax.Array) -> DecodeState:
    tokens = jnp.where(state.done, NO_TOKEN, tokens)
    out = lax.dynamic_update_slice(state.out, tokens[:, None], (0, state.step))
    done = state.done | jnp.isin(tokens, eos_ids)
    return state._replace(out=out, step=state.step + 1, done=done)


def prefill(
    model: Any,
    cache: Any,
    tokens: jax.Array,
    lengths: jax.Array,
    keys: jax.Array,
    params: SamplingParams,
    eos_ids: jax.Array,
    max_new: int,
    do_sample: bool,
) -> DecodeState:
    """Returns the decode state after running the prompts and choosing the first new token.

    `tokens` [B, P] are left-padded prompts of `lengths` [B] tokens (0 for filler rows).
    """
    batch, prompt_len = tokens.shape
    slots = cache.k.shape[2]
    start = prompt_len - lengths  # first real slot per row
    idx = jnp.arange(prompt_len)
    positions = jnp.maximum(idx[None, :] - start[:, None], 0).astype(jnp.int32)
    slot = jnp.arange(slots)
    mask = (
        (slot[None, None, :] <= idx[None, :, None])
        & (slot[None, None, :] >= start[:, None, None])
    ) | (slot[None, None, :] == idx[None, :, None])
    logits, cache = model(tokens, positions, mask, cache=cache, cache_index=0)
    state = DecodeState(
        cache=cache,
        out=jnp.full((batch, max_new), NO_TOKEN, jnp.int32),
        step=jnp.zeros((), jnp.int32),
        done=jnp.zeros((batch,), bool),
        lengths=lengths,
    )
    first = next_tokens(logits[:, -1], keys, jnp.zeros((), jnp.int32), params, do_sample)
    return _record(state, first, eos_ids)


def decode(
    model: Any,
    state: DecodeState,
    prompt_len: int,
    stop_step: jax.Array,
    keys: jax.Array,
    params: SamplingParams,
    eos_ids: jax.Array,
    do_sample: bool,
) -> DecodeState:
    """Returns the state after decoding until `stop_step` tokens exist or every row is done."""
    slots = state.cache.k.shape[2]
    max_new = state.out.shape[1]
    limit = jnp.minimum(stop_step, max_new)
    slot = jnp.arange(slots)

    def cond(s: DecodeState):
        return (s.step < limit) & ~jnp.all(s.done)

    def body(s: DecodeState):
        prev = lax.dynamic_slice_in_dim(s.out, s.step - 1, 1, axis=1)[:, 0]
        prev = jnp.maximum(prev, 0)  # finished rows feed a dummy token; their output is ignored
        write_slot = prompt_len + s.step - 1
        positions = (s.lengths + s.step - 1)[:, None].astype(jnp.int32)
        start = prompt_len - s.lengths
        mask = ((slot[None, :] >= start[:, None]) & (slot[None, :] <= write_slot))[:, None, :]
        logits, cache = model(prev[:, None], positions, mask, cache=s.cache, cache_index=write_slot)
        tok = next_tokens(logits[:, -1], keys, s.step, params, do_sample)
        return _record(s._replace(cache=cache), tok, eos_ids)

    return lax.while_loop(cond, body, state)
