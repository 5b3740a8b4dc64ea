"""Continuous-batching KV-cache decoding: prompts enter free rows while others decode.

A decode state has `B` rows, each a ring of `S` cache slots. All rows write their next token at
the same ring slot `write` (so the decoder's one `cache_index` serves every row), and a row's
tokens occupy the ring slots just before it: a prompt of `n` tokens that enters at ring slot `w`
is written to slots w-n .. w-1 (mod S) with positions 0..n-1, and its i-th generated token goes
to the slot that is `write` at that step with position n+i. A row attends to the ring slots from
its first one up to `write`, so RoPE and the sliding window see each row as if it ran alone, as
transformers' generate does. S >= prompt bucket + max new tokens, so a row never laps itself.

Attention reads a window: the `span` ring slots ending at `write`, not all S. S must hold the
longest prompt plus the most new tokens, but rows are mostly much shorter (an IFEval answer of 300
tokens in a 1,344-slot ring), and on CPU every slot read costs about as much as 1/1,000 of the
weights (SmolLM2-135M, 4 rows: 26 ms a step at S = 256, 65 ms at 2,048). The host picks `span`
from a few buckets so that every live row's tokens fit; the loop also stops before any would not,
so a too-small span costs a host round trip, never a wrong token.

Prompts of a group that all start with the same tokens (a task's few-shot block) may hand that
block over as a `SharedPrefix`, computed once: the ring then holds only each prompt's rest and
its new tokens (positions continue after the prefix), and every step's queries read the block
once for all rows rather than once per row.

The host loop (`Engine`) alternates the two kernels: `prefill` runs new prompts and writes them
into free rows (finished rows leave, queued prompts take their slots), `decode` runs until a
row finishes (when prompts wait) or a stop-string check is due. No batch waits for its longest
member, and prefill of new prompts interleaves with decoding of the others.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from sos_jax.models.cache import SharedPrefix, init_cache

# Marks "no token" in the output buffer (after EOS, or never generated).
NO_TOKEN = -1


class SamplingParams(NamedTuple):
    """Per-batch sampling settings as arrays, so changing them never recompiles."""

    temperature: jax.Array  # f32 scalar, > 0 when sampling
    top_p: jax.Array  # f32 scalar in (0, 1]
    top_k: jax.Array  # i32 scalar, 0 = off


class DecodeState(NamedTuple):
    """Everything the decode loop carries between calls; per-row arrays are [B]."""

    cache: Any  # the model's KVCache, S ring slots per row
    out: jax.Array  # i32 [B, G] generated tokens of each row's current request, NO_TOKEN where none
    generated: jax.Array  # i32 [B] tokens generated so far (the next one's index in `out`)
    done: jax.Array  # bool [B]: finished (EOS, max tokens) or free
    start: jax.Array  # i32 [B] ring slot of the row's first prompt token
    position: jax.Array  # i32 [B] position of the row's last generated token
    keys: jax.Array  # u32 [B, 2] sampling key of the row's request
    limit: jax.Array  # i32 [B] the row's request's max new tokens
    write: jax.Array  # i32 scalar: ring slot the next fed token is written to


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
    """Returns i32 [B]: greedy arg-max, or a draw from the processed distribution per row.

    A row's draw uses its key folded with `step` (scalar or [B]: that row's token index), so it
    does not depend on its batch-mates.
    """
    if not do_sample:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    processed = process_logits(logits, params)
    step_keys = jax.vmap(jax.random.fold_in)(keys, jnp.broadcast_to(step, keys.shape[:1]))
    return jax.vmap(jax.random.categorical)(step_keys, processed).astype(jnp.int32)


def empty_state(cfg: Any, batch: int, slots: int, max_new: int, dtype: Any) -> DecodeState:
    """Returns a state with `batch` free rows of `slots` ring slots and `max_new` output tokens."""
    return DecodeState(
        cache=init_cache(cfg, batch, slots, dtype),
        out=jnp.full((batch, max_new), NO_TOKEN, jnp.int32),
        generated=jnp.zeros((batch,), jnp.int32),
        done=jnp.ones((batch,), bool),
        start=jnp.zeros((batch,), jnp.int32),
        position=jnp.zeros((batch,), jnp.int32),
        keys=jnp.zeros((batch, 2), jnp.uint32),
        limit=jnp.zeros((batch,), jnp.int32),
        write=jnp.zeros((), jnp.int32),
    )


def _finished(tokens: jax.Array, generated: jax.Array, eos_ids: jax.Array, max_gen: jax.Array) -> jax.Array:
    return jnp.isin(tokens, eos_ids) | (generated >= max_gen)


def prefill(
    model: Any,
    cfg: Any,
    state: DecodeState,
    tokens: jax.Array,
    lengths: jax.Array,
    rows: jax.Array,
    keys: jax.Array,
    params: SamplingParams,
    eos_ids: jax.Array,
    max_gen: jax.Array,
    do_sample: bool,
    prefix: SharedPrefix | None = None,
) -> DecodeState:
    """Returns the state with `k` new prompts in rows `rows` and their first tokens chosen.

    `tokens` [k, P] are right-padded prompts of `lengths` [k] tokens, each allowed `max_gen` [k]
    new tokens; entries with a row index >= B are filler and change nothing. The prompts run alone
    (causal, positions from 0, or after `prefix`, which they continue), then their keys/values
    are written to the ring slots just before `write`.
    """
    k, prompt_len = tokens.shape
    slots = state.cache.max_len
    idx = jnp.arange(prompt_len, dtype=jnp.int32)
    offset = jnp.zeros((), jnp.int32) if prefix is None else prefix.length
    positions = jnp.broadcast_to(offset + idx, (k, prompt_len))
    causal = jnp.broadcast_to(idx[None, :] <= idx[:, None], (k, prompt_len, prompt_len))
    logits, prompt_cache = model(tokens, positions, causal, cache=init_cache(cfg, k, prompt_len, state.cache.k.dtype),
                                 cache_index=0, shared_prefix=prefix)
    last = jnp.take_along_axis(logits, (lengths - 1)[:, None, None], axis=1)[:, 0]
    first = next_tokens(last, keys, jnp.zeros((k,), jnp.int32), params, do_sample)
    # Prompt token j goes to ring slot write - n + j; filler tokens (j >= n) land on slots this row
    # writes again before it can attend to them.
    ring = jnp.mod(state.write - lengths[:, None] + idx[None, :], slots)
    r = rows[:, None]
    cache = state.cache
    # Row and ring indices are split by the heads axis, so numpy's rules put them first: the
    # update is [k, P, layers, heads, D].
    cache = type(cache)(
        k=cache.k.at[:, r, :, ring].set(prompt_cache.k.transpose(1, 3, 0, 2, 4), mode="drop"),
        v=cache.v.at[:, r, :, ring].set(prompt_cache.v.transpose(1, 3, 0, 2, 4), mode="drop"),
        key_positions=cache.key_positions.at[r, ring].set(positions, mode="drop"),
    )
    out_rows = jnp.full((k, state.out.shape[1]), NO_TOKEN, jnp.int32).at[:, 0].set(first)
    return state._replace(
        cache=cache,
        out=state.out.at[rows].set(out_rows, mode="drop"),
        generated=state.generated.at[rows].set(1, mode="drop"),
        done=state.done.at[rows].set(_finished(first, jnp.ones_like(first), eos_ids, max_gen), mode="drop"),
        start=state.start.at[rows].set(jnp.mod(state.write - lengths, slots), mode="drop"),
        position=state.position.at[rows].set(offset + lengths, mode="drop"),
        keys=state.keys.at[rows].set(keys, mode="drop"),
        limit=state.limit.at[rows].set(max_gen, mode="drop"),
    )


def decode(
    model: Any,
    state: DecodeState,
    max_steps: jax.Array,
    until_free: jax.Array,
    params: SamplingParams,
    eos_ids: jax.Array,
    do_sample: bool,
    span: int | None = None,
    prefix: SharedPrefix | None = None,
) -> DecodeState:
    """Returns the state after up to `max_steps` decode steps of every unfinished row.

    Stops early when every row is done, or (when `until_free`) as soon as another row finishes,
    so a waiting prompt can take its place. Attention reads the `span` ring slots ending at the
    write slot (None: all of them), and the loop stops before a live row would outgrow them.
    Rows continue `prefix` when their prompts were prefilled after it.
    """
    batch, slots = state.cache.k.shape[1], state.cache.max_len
    if span is not None and not 0 < span <= slots:
        raise ValueError(f"decode span must be in [1, {slots}] ring slots, got {span}")
    rows = jnp.arange(batch)
    done_at_start = jnp.sum(state.done)

    def cond(carry):
        step, s = carry
        freed = until_free & (jnp.sum(s.done) > done_at_start)
        # The next step writes slot `write`; a row then holds mod(write - start) + 1 slots.
        fits = True if span is None else jnp.all(s.done | (jnp.mod(s.write - s.start, slots) < span))
        return (step < max_steps) & ~jnp.all(s.done) & ~freed & fits

    def body(carry):
        step, s = carry
        prev = jnp.maximum(s.out[rows, s.generated - 1], 0)  # finished rows feed a dummy token
        read = None if span is None else jnp.mod(s.write - span + 1 + jnp.arange(span, dtype=jnp.int32), slots)
        slot = jnp.arange(slots, dtype=jnp.int32) if read is None else read
        window = jnp.mod(slot[None, :] - s.start[:, None], slots) <= jnp.mod(s.write - s.start, slots)[:, None]
        logits, cache = model(prev[:, None], s.position[:, None], window[:, None, :], cache=s.cache,
                              cache_index=s.write, read_slots=read, shared_prefix=prefix)
        tok = next_tokens(logits[:, -1], s.keys, s.generated, params, do_sample)
        live = ~s.done
        out = s.out.at[rows, jnp.minimum(s.generated, s.out.shape[1] - 1)].set(
            jnp.where(live, tok, s.out[rows, jnp.minimum(s.generated, s.out.shape[1] - 1)]))
        generated = s.generated + live
        done = s.done | (live & _finished(tok, generated, eos_ids, s.limit))
        return step + 1, s._replace(
            cache=cache, out=out, generated=generated, done=done, position=s.position + 1,
            write=jnp.mod(s.write + 1, slots),
        )

    return lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), state))[1]
