"""The NNX decoders against transformers: logits on padded batches, KV-cache decoding, family details."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sos_jax.models import init_cache, load_params, load_pretrained
from sos_jax.models.layers import window_mask

from .hf_reference import causal_mask, hf_logits, padded_batch

LLAMA3_SCALING = dict(
    rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=16
)

# (model_type, transformers config overrides, what the case exercises)
CASES = [
    ("llama", {}, "GQA (4 query heads on 2 kv heads)"),
    ("llama", dict(num_key_value_heads=1, tie_word_embeddings=True), "multi-query + tied embeddings"),
    ("llama", dict(rope_parameters=LLAMA3_SCALING, attention_bias=True, mlp_bias=True), "llama3 rope + biases"),
    ("llama", dict(rope_parameters=dict(rope_type="linear", factor=2.0)), "linear rope scaling"),
    ("mistral", dict(sliding_window=4), "sliding window 4 < context 12"),
    ("qwen2", {}, "q/k/v biases"),
    ("qwen2", dict(use_sliding_window=True, sliding_window=3, max_window_layers=1), "per-layer window (layer 1 only)"),
    ("gpt2", {}, "learned positions, Conv1D, tied head, gelu_new"),
    ("gpt_neox", {}, "partial rotary 0.25, parallel residual, exact gelu"),
    ("gpt_neox", dict(use_parallel_residual=False, rotary_pct=0.5), "sequential residual, rotary 0.5"),
]
IDS = [f"{m}-{why.split()[0]}" for m, _, why in CASES]


@pytest.fixture(scope="module")
def loaded(make_tiny_hf_model):
    """Loads each case once: (directory, model, cfg)."""
    cache = {}

    def get(i):
        if i not in cache:
            model_type, overrides, _ = CASES[i]
            directory = make_tiny_hf_model(model_type, **overrides)
            model, cfg = load_pretrained(directory)
            cache[i] = directory, model, cfg
        return cache[i]

    return get


@nnx.jit
def _forward(model, tokens, positions, mask):
    return model(tokens, positions, mask)[0]


@pytest.mark.parametrize("case", range(len(CASES)), ids=IDS)
def test_logits_match_transformers_on_padded_batch(loaded, case):
    directory, model, cfg = loaded(case)
    tokens, valid, positions = padded_batch(length=12)
    ref = hf_logits(directory, tokens, valid, positions)
    ours = np.asarray(_forward(model, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid))))
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert np.abs(ours - ref)[valid].max() < 1e-4
    assert ref[valid].std() > 0.3  # the random model is not degenerate: a mismatch would show


def test_config_switches_reach_the_model(loaded):
    assert loaded(0)[2].num_kv_heads == 2 and loaded(0)[2].num_heads == 4
    assert loaded(1)[2].tie_word_embeddings and not hasattr(loaded(1)[1], "lm_head")
    assert dict(loaded(2)[2].rope_scaling)["rope_type"] == "llama3"
    assert loaded(4)[2].sliding_window == 4
    assert loaded(5)[2].qkv_bias and not loaded(5)[2].o_bias
    assert [loaded(6)[2].layer_window(i) for i in range(2)] == [None, 3]
    neox = loaded(8)[2]
    assert neox.rotary_dim == neox.head_dim // 4 and neox.parallel_residual


@nnx.jit
def _step(model, tokens, positions, mask, cache, index):
    return model(tokens, positions, mask, cache=cache, cache_index=index)


@pytest.mark.parametrize("case", [0, 4, 7, 8], ids=[IDS[i] for i in (0, 4, 7, 8)])
def test_kv_cache_incremental_decoding_equals_full_forward(loaded, case):
    """Prefill 5 tokens (left-padded row included) then decode one token at a time."""
    _, model, cfg = loaded(case)
    tokens, valid, positions = padded_batch(length=12, seed=3)
    valid[1] = True  # right padding makes no sense for decoding: keep left padding only
    positions = np.clip(np.cumsum(valid, 1) - 1, 0, None).astype(np.int32)
    full = np.asarray(_forward(model, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid))))

    slots, prefill = 16, 5
    cache = init_cache(cfg, tokens.shape[0], slots, jnp.float32)
    slot_valid = np.zeros((tokens.shape[0], slots), bool)
    slot_valid[:, :12] = valid
    got = []
    for start, stop in [(0, prefill)] + [(t, t + 1) for t in range(prefill, 12)]:
        q_idx = np.arange(start, stop)
        mask = (np.arange(slots)[None, :] <= q_idx[:, None])[None] & slot_valid[:, None, :]
        logits, cache = _step(
            model, jnp.asarray(tokens[:, start:stop]), jnp.asarray(positions[:, start:stop]), jnp.asarray(mask),
            cache, jnp.int32(start),
        )
        got.append(np.asarray(logits))
    got = np.concatenate(got, axis=1)
    assert np.abs(got - full)[valid].max() < 1e-4
    assert np.array_equal(np.asarray(cache.key_positions)[:, :12], positions)
    assert cache.k.shape == (cfg.num_layers, 3, cfg.num_kv_heads, slots, cfg.head_dim)


@nnx.jit(static_argnames="read_slots")
def _step_rows(model, tokens, positions, mask, cache, index, read_slots):
    return model(tokens, positions, mask, cache=cache, cache_index=index, read_slots=read_slots)


@pytest.mark.parametrize("case", [0, 4, 6], ids=[IDS[i] for i in (0, 4, 6)])
def test_rows_writing_at_their_own_slots_equal_full_forward(loaded, case):
    """Rows at different lengths (3, 5 and 7 tokens prefilled) then fed 3 tokens a step, each
    written from the row's own slot (cache_index [B]) and read through the first 12 slots (a
    static read_slots), give the full forward's logits; so do the slots' positions."""
    _, model, cfg = loaded(case)
    tokens, valid, positions = padded_batch(length=12, seed=3)
    valid[:] = True
    positions = np.broadcast_to(np.arange(12, dtype=np.int32), tokens.shape).copy()
    full = np.asarray(_forward(model, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid))))

    slots, span, fed = 16, 12, 3
    starts = np.array([3, 5, 7], np.int32)
    cache = init_cache(cfg, tokens.shape[0], slots, jnp.float32)
    q_idx = np.arange(7)
    mask = np.broadcast_to(np.arange(slots)[None, :] <= q_idx[:, None], (3, 7, slots))
    _, cache = _step(model, jnp.asarray(tokens[:, :7]), jnp.asarray(positions[:, :7]), jnp.asarray(mask), cache,
                     jnp.int32(0))  # rows past their start hold tokens the next step overwrites
    rows = np.arange(3)[:, None]
    for _ in range(2):
        cols = starts[:, None] + np.arange(fed)
        mask = np.arange(span)[None, None, :] <= cols[:, :, None]
        logits, cache = _step_rows(model, jnp.asarray(tokens[rows, cols]), jnp.asarray(positions[rows, cols]),
                                   jnp.asarray(mask), cache, jnp.asarray(starts), span)
        assert np.abs(np.asarray(logits) - full[rows, cols]).max() < 1e-4
        assert np.array_equal(np.asarray(cache.key_positions)[rows, cols], positions[rows, cols])
        starts = starts + np.array([1, 2, 2], np.int32)  # rows advance by different amounts
    with pytest.raises(ValueError, match="one slot per row"):
        model(jnp.asarray(tokens[:, :1]), jnp.asarray(positions[:, :1]), jnp.ones((3, 1, slots), bool), cache=cache,
              cache_index=jnp.zeros((2,), jnp.int32))
    with pytest.raises(ValueError, match="read_slots selects cache slots"):
        model(jnp.asarray(tokens), jnp.asarray(positions), jnp.ones((3, 12, 12), bool), read_slots=4)
    with pytest.raises(ValueError, match="read_slots must be an int in \\[1, 16\\]"):
        model(jnp.asarray(tokens[:, :1]), jnp.asarray(positions[:, :1]), jnp.ones((3, 1, 17), bool), cache=cache,
              cache_index=0, read_slots=17)


@pytest.mark.parametrize("case", [0, 4, 6], ids=[IDS[i] for i in (0, 4, 6)])
def test_rows_continuing_a_shared_prefix_equal_full_forward(loaded, case):
    """Three rows that start with the same 6 tokens: the prefix's keys/values computed once (held
    in 8 slots, 2 of them padding) and each row's rest attending to them plus its own cache give
    the full forward's logits; positions continue after the prefix, so RoPE and the sliding
    windows (Mistral, Qwen2) see the rows as if whole."""
    from sos_jax.models.cache import SharedPrefix

    _, model, cfg = loaded(case)
    tokens, _, _ = padded_batch(length=12, seed=5)
    tokens[:, :6] = tokens[0, :6]
    valid = np.ones(tokens.shape, bool)
    positions = np.broadcast_to(np.arange(12, dtype=np.int32), tokens.shape).copy()
    full = np.asarray(_forward(model, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid))))

    shared, held = 6, 8
    prefix_tokens = np.zeros((1, held), np.int32)
    prefix_tokens[0, :shared] = tokens[0, :shared]
    _, prefix_cache = _step(model, jnp.asarray(prefix_tokens), jnp.arange(held, dtype=jnp.int32)[None],
                            jnp.asarray(np.tril(np.ones((held, held), bool))[None]), init_cache(cfg, 1, held), jnp.int32(0))
    prefix = SharedPrefix(k=prefix_cache.k[:, 0], v=prefix_cache.v[:, 0], length=jnp.int32(shared))
    rest = 12 - shared
    mask = np.broadcast_to(np.tril(np.ones((rest, rest), bool)), (3, rest, rest))
    logits, _ = _step_after_prefix(model, jnp.asarray(tokens[:, shared:]), jnp.asarray(positions[:, shared:]),
                                   jnp.asarray(mask), init_cache(cfg, 3, rest), jnp.int32(0), prefix)
    assert np.abs(np.asarray(logits) - full[:, shared:]).max() < 1e-4
    with pytest.raises(ValueError, match="shared_prefix is attended to with the rows' own cache"):
        model(jnp.asarray(tokens), jnp.asarray(positions), jnp.ones((3, 12, 12), bool), shared_prefix=prefix)


@nnx.jit
def _step_after_prefix(model, tokens, positions, mask, cache, index, prefix):
    return model(tokens, positions, mask, cache=cache, cache_index=index, shared_prefix=prefix)


def test_packed_rows_equal_separate_rows(loaded):
    """Two sequences packed in one row (block-diagonal mask, restarted positions) score as if alone;
    with the Mistral window the window follows positions, not slot indices."""
    for case in (4,):
        _, model, _ = loaded(case)
        rng = np.random.default_rng(7)
        a, b = rng.integers(2, 512, 7), rng.integers(2, 512, 6)
        packed = np.concatenate([a, b])[None].astype(np.int32)
        pos = np.concatenate([np.arange(7), np.arange(6)])[None].astype(np.int32)
        seg = np.array([0] * 7 + [1] * 6)
        mask = (seg[:, None] == seg[None, :]) & np.tril(np.ones((13, 13), bool))
        out = np.asarray(_forward(model, jnp.asarray(packed), jnp.asarray(pos), jnp.asarray(mask[None])))[0]
        for seq, sl in ((a, slice(0, 7)), (b, slice(7, 13))):
            n = len(seq)
            alone = _forward(model, jnp.asarray(seq[None], jnp.int32), jnp.arange(n, dtype=jnp.int32)[None],
                             jnp.asarray(np.tril(np.ones((n, n), bool))[None]))
            assert np.abs(out[sl] - np.asarray(alone)[0]).max() < 1e-4


def test_sliding_window_is_what_makes_mistral_match(loaded):
    """Dropping the window (same weights) breaks parity, so the parity test really exercises it; the
    boundary follows transformers' `kv_idx > q_idx - window`: query 9 with window 4 sees keys 6..9."""
    directory, _, cfg = loaded(4)
    tokens, valid, positions = padded_batch(length=12)
    ref = hf_logits(directory, tokens, valid, positions)
    no_window = load_params(cfg.replace(sliding_window=None), directory)
    ours = np.asarray(_forward(no_window, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid))))
    assert np.abs(ours - ref)[valid].max() > 1e-2
    allowed = np.asarray(window_mask(jnp.array([[9]]), jnp.arange(10)[None], 4))[0, 0]
    assert allowed.tolist() == [False] * 6 + [True] * 4


def test_bad_call_shapes_raise(loaded):
    _, model, cfg = loaded(0)
    tokens = jnp.zeros((2, 4), jnp.int32)
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        model(tokens, tokens, jnp.ones((2, 4, 5), bool))
    with pytest.raises(ValueError, match="positions must have shape"):
        model(tokens, tokens[:, :3], jnp.ones((2, 4, 4), bool))
    with pytest.raises(ValueError, match="cache slots"):
        model(tokens, tokens, jnp.ones((2, 4, 4), bool), cache=init_cache(cfg, 2, 8))
    with pytest.raises(ValueError, match="cache_index 6 \\+ 4 new tokens does not fit the 8 cache slots"):
        model(tokens, tokens, jnp.ones((2, 4, 8), bool), cache=init_cache(cfg, 2, 8), cache_index=6)
    with pytest.raises(ValueError, match="batch >= 1 and max_len >= 1"):
        init_cache(cfg, 0, 8)


def test_decode_steps_compile_once(loaded):
    """A traced cache_index means every decode step of one shape reuses one compilation."""
    _, model, cfg = loaded(0)
    traces = []

    @nnx.jit
    def step(model, tokens, positions, mask, cache, index):
        traces.append(1)
        return model(tokens, positions, mask, cache=cache, cache_index=index)

    cache = init_cache(cfg, 2, 8)
    for t in range(4):
        mask = jnp.broadcast_to(jnp.arange(8) <= t, (2, 1, 8))
        _, cache = step(model, jnp.full((2, 1), t + 2, jnp.int32), jnp.full((2, 1), t, jnp.int32), mask, cache, jnp.int32(t))
    assert len(traces) == 1
    assert np.asarray(cache.key_positions)[0, :4].tolist() == [0, 1, 2, 3]
