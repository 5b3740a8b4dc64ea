"""Continuous-batching KV-cache decoding with speculative lookahead: prompts enter free rows while
others decode, and a greedy step can emit several tokens.

A decode state has `B` rows of `S` cache slots. Row b's tokens fill its slots 0 .. length[b] - 1
(the prompt, then the generated tokens but the last, which is fed next); each step writes the row's
fed tokens from its own slot `length[b]` on, so rows of different lengths decode together and a
row that enters starts again at slot 0. Positions are the tokens' own (0.. for the prompt), so
RoPE and the sliding window see each row as if it ran alone, as transformers' generate does.
S >= prompt bucket + max new tokens + lookahead, so writes always fit.

Speculative lookahead (greedy only): a step feeds each row its last token plus `lookahead` draft
tokens found by prompt lookup (the tokens that followed the latest earlier occurrence of the row's
last n-gram, n = 3, then 2, then 1), verifies them all in one forward pass and keeps the longest
run of drafts that equal the model's own arg-max, plus the model's token after it: the output is
the greedy decode, token for token, only sooner. A decode step is memory-bound on small batches
(reading the weights costs the same for 1 or 4 tokens a row), so every accepted draft is a step
saved: SmolLM2-135M on CPU, 4 rows over 1,024 slots, 35 ms a step feeding 1 token a row, 47 ms
feeding 4, while its IFEval/MATH-shaped answers accept 2.7 tokens a step. Rejected drafts' keys
sit past the row's new length, never attended to, and are overwritten by the next step.

Attention reads a window: the first `span` slots, not all S. S must hold the longest prompt plus
the most new tokens, but rows are mostly much shorter (an IFEval answer of 300 tokens in a 1,344-slot
cache), and on CPU every slot read costs about as much as 1/1,000 of the weights (SmolLM2-135M, 4
rows: 26 ms a step at S = 256, 65 ms at 2,048). The host picks `span` from a few buckets so that
every live row's tokens fit; the loop also stops before any would not, so a too-small span costs a
host round trip, never a wrong token.

Prompts of a group that all start with the same tokens (a task's few-shot block) may hand that
block over as a `SharedPrefix`, computed once: the rows then hold only each prompt's rest and its
new tokens (positions continue after the prefix), and every step's queries read the block once
for all rows rather than once per row.

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

    cache: Any  # the model's KVCache, S slots per row
    out: jax.Array  # i32 [B, G] generated tokens of each row's current request, NO_TOKEN where none
    generated: jax.Array  # i32 [B] tokens generated so far (the next one's index in `out`)
    done: jax.Array  # bool [B]: finished (EOS, max tokens) or free
    length: jax.Array  # i32 [B] slots holding the row's tokens; its last token (fed next) goes there
    position: jax.Array  # i32 [B] position of the row's last generated token
    keys: jax.Array  # u32 [B, 2] sampling key of the row's request
    limit: jax.Array  # i32 [B] the row's request's max new tokens
    history: jax.Array  # i32 [B, S] the token of each slot (slot `length` too), where drafts are looked up
    steps: jax.Array  # i32 scalar: decode steps (forward passes) run so far


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
    """Returns a state with `batch` free rows of `slots` cache slots and `max_new` output tokens."""
    return DecodeState(
        cache=init_cache(cfg, batch, slots, dtype),
        out=jnp.full((batch, max_new), NO_TOKEN, jnp.int32),
        generated=jnp.zeros((batch,), jnp.int32),
        done=jnp.ones((batch,), bool),
        length=jnp.zeros((batch,), jnp.int32),
        position=jnp.zeros((batch,), jnp.int32),
        keys=jnp.zeros((batch, 2), jnp.uint32),
        limit=jnp.zeros((batch,), jnp.int32),
        history=jnp.zeros((batch, slots), jnp.int32),
        steps=jnp.zeros((), jnp.int32),
    )


def draft_tokens(history: jax.Array, length: jax.Array, count: int, max_ngram: int = 3) -> jax.Array:
    """Returns i32 [B, count] prompt-lookup drafts: per row, the tokens that followed the latest
    earlier occurrence of its last n tokens (n = max_ngram, else smaller, down to 1).

    `history` [B, W] holds each row's tokens by slot, its last token at slot `length` [B]. A row
    with no earlier occurrence gets its last token repeated (a guess as good as any: drafts only
    cost the step's extra columns, and a wrong one is rejected).
    """
    b, w = history.shape
    last = jnp.take_along_axis(history, jnp.clip(length, 0, w - 1)[:, None], axis=1)
    drafts = jnp.broadcast_to(last, (b, count))
    for n in range(1, max_ngram + 1):  # longer n-grams, found later in the loop, take precedence
        if n >= w:
            break
        tail = jnp.take_along_axis(history, jnp.clip(length[:, None] - n + 1 + jnp.arange(n), 0, w - 1), axis=1)
        starts = jnp.arange(w - n + 1, dtype=jnp.int32)
        match = (starts[None] + n - 1 < length[:, None]) & (length[:, None] >= n - 1)
        for i in range(n):
            match &= history[:, i : w - n + 1 + i] == tail[:, i : i + 1]
        latest = jnp.max(jnp.where(match, starts[None], -1), axis=1)
        # A draft past the row's last token is unknown there: the last token stands in.
        at = jnp.minimum(latest[:, None] + n + jnp.arange(count, dtype=jnp.int32)[None], length[:, None])
        found = jnp.take_along_axis(history, jnp.clip(at, 0, w - 1), axis=1)
        drafts = jnp.where((latest >= 0)[:, None], found, drafts)
    return drafts


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
    are written to the first P slots of their rows.
    """
    k, prompt_len = tokens.shape
    idx = jnp.arange(prompt_len, dtype=jnp.int32)
    offset = jnp.zeros((), jnp.int32) if prefix is None else prefix.length
    positions = jnp.broadcast_to(offset + idx, (k, prompt_len))
    causal = jnp.broadcast_to(idx[None, :] <= idx[:, None], (k, prompt_len, prompt_len))
    logits, prompt_cache = model(tokens, positions, causal, cache=init_cache(cfg, k, prompt_len, state.cache.k.dtype),
                                 cache_index=0, shared_prefix=prefix)
    last = jnp.take_along_axis(logits, (lengths - 1)[:, None, None], axis=1)[:, 0]
    first = next_tokens(last, keys, jnp.zeros((k,), jnp.int32), params, do_sample)
    # Padding tokens (j >= n) land on slots the row writes again before it can attend to them.
    cache = state.cache
    cache = type(cache)(
        k=cache.k.at[:, rows, :, :prompt_len].set(prompt_cache.k, mode="drop"),
        v=cache.v.at[:, rows, :, :prompt_len].set(prompt_cache.v, mode="drop"),
        key_positions=cache.key_positions.at[rows, :prompt_len].set(positions, mode="drop"),
    )
    history = state.history.at[rows, :prompt_len].set(tokens, mode="drop").at[rows, lengths].set(first, mode="drop")
    out_rows = jnp.full((k, state.out.shape[1]), NO_TOKEN, jnp.int32).at[:, 0].set(first)
    return state._replace(
        cache=cache,
        out=state.out.at[rows].set(out_rows, mode="drop"),
        generated=state.generated.at[rows].set(1, mode="drop"),
        done=state.done.at[rows].set(_finished(first, jnp.ones_like(first), eos_ids, max_gen), mode="drop"),
        length=state.length.at[rows].set(lengths, mode="drop"),
        position=state.position.at[rows].set(offset + lengths, mode="drop"),
        keys=state.keys.at[rows].set(keys, mode="drop"),
        limit=state.limit.at[rows].set(max_gen, mode="drop"),
        history=history,
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
    lookahead: int = 0,
) -> DecodeState:
    """Returns the state after up to `max_steps` decode steps of every unfinished row.

    Each step feeds every row its last token and, when greedy, `lookahead` draft tokens, and emits
    1 to lookahead + 1 tokens a row. Stops early when every row is done, or (when `until_free`)
    as soon as another row finishes, so a waiting prompt can take its place. Attention reads the
    first `span` slots (None: all of them), and the loop stops before a live row would outgrow
    them. Rows continue `prefix` when their prompts were prefilled after it.
    """
    batch, slots = state.cache.k.shape[1], state.cache.max_len
    if span is not None and not 0 < span <= slots:
        raise ValueError(f"decode span must be in [1, {slots}] cache slots, got {span}")
    if lookahead < 0 or (lookahead and do_sample):
        raise ValueError(f"lookahead drafts need greedy decoding and lookahead >= 0, got {lookahead} (do_sample={do_sample})")
    fed = lookahead + 1
    window = slots if span is None else span
    rows = jnp.arange(batch)
    cols = jnp.arange(fed, dtype=jnp.int32)
    done_at_start = jnp.sum(state.done)

    def cond(carry):
        step, s = carry
        freed = until_free & (jnp.sum(s.done) > done_at_start)
        # The next step writes slots length .. length + fed - 1 and reads up to the last of them.
        fits = jnp.all(s.done | (s.length + fed <= window))
        return (step < max_steps) & ~jnp.all(s.done) & ~freed & fits

    def body(carry):
        step, s = carry
        last = jnp.maximum(s.history[rows, jnp.minimum(s.length, slots - 1)], 0)  # finished rows feed a dummy
        feed = last[:, None]
        if lookahead:
            feed = jnp.concatenate([feed, jnp.maximum(draft_tokens(s.history[:, :window], s.length, lookahead), 0)], 1)
        visible = jnp.arange(window, dtype=jnp.int32)[None, None, :] <= (s.length[:, None] + cols[None])[:, :, None]
        logits, cache = model(feed, s.position[:, None] + cols[None], visible, cache=s.cache, cache_index=s.length,
                              read_slots=span, shared_prefix=prefix)
        if lookahead:
            tok = jnp.argmax(logits, axis=-1).astype(jnp.int32)  # [B, fed]: the model's token after each fed one
            agree = jnp.cumprod(feed[:, 1:] == tok[:, :-1], axis=1)
            emit = 1 + jnp.sum(agree, axis=1)  # accepted drafts, then the model's own next token
        else:
            tok = next_tokens(logits[:, -1], s.keys, s.generated, params, do_sample)[:, None]
            emit = jnp.ones((batch,), jnp.int32)
        # A row ends at its first EOS or its token limit, whichever comes first among the emitted.
        is_eos = jnp.isin(tok, eos_ids) & (cols[None] < emit[:, None])
        first_eos = jnp.where(is_eos.any(axis=1), jnp.argmax(is_eos, axis=1) + 1, fed)
        emit = jnp.minimum(jnp.minimum(emit, first_eos), s.limit - s.generated)
        emit = jnp.where(s.done, 0, jnp.maximum(emit, 0)).astype(jnp.int32)
        kept = cols[None] < emit[:, None]
        past = slots + s.out.shape[1]  # out of bounds for both: dropped
        out = s.out.at[rows[:, None], jnp.where(kept, s.generated[:, None] + cols[None], past)].set(tok, mode="drop")
        history = s.history.at[rows[:, None], jnp.where(kept, s.length[:, None] + 1 + cols[None], past)].set(
            tok, mode="drop")
        generated = s.generated + emit
        ended = (is_eos & kept).any(axis=1) | (generated >= s.limit)
        return step + 1, s._replace(
            cache=cache, out=out, generated=generated, done=s.done | ended,
            length=s.length + emit, position=s.position + emit, history=history, steps=s.steps + 1,
        )

    return lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), state))[1]
