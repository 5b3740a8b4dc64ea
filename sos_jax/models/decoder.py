"""The Flax NNX decoder used for every supported family (Llama, Mistral, Qwen2, GPT-2, GPT-NeoX).

The families differ only in switches carried by `ModelConfig` (norm type, gated or plain MLP,
biases, learned or rotary positions, parallel residual, sliding window), so one module tree
serves them all and one weight map (`hf_weights.py`) per family fills it.

Call contract (the engine relies on it):
    logits, cache = model(tokens [B,T], positions [B,T], attn_mask bool [B,T,K], cache=None, cache_index=0)
Without a cache K == T and the keys are the T tokens. With a cache the T new keys/values/positions
are written to slots [cache_index, cache_index + T) of every row (`cache_index` a scalar), or of
row b from its own `cache_index[b]` (an i32 [B]: rows of different lengths, as speculative decoding
leaves them), and queries attend over all S slots (K == S), or, given `read_slots` (a static int
K), over just the first K: a decoder whose rows hold far fewer tokens than S then reads K slots
per step instead of S. Given a
`shared_prefix` (a cache's `SharedPrefix`, held once for the batch), every query also attends to
that prefix's keys, before its own; positions then continue after the prefix. The caller's mask carries causality/padding/packing; the model adds the sliding
window computed from positions. Logits are float32 whatever the compute dtype: the head's matmul
accumulates and returns float32 even with bfloat16 weights, so log-softmax sees unrounded logits.

Layers are either a list of blocks (`layers[i]`, the default) or, with `scan_layers=True`, one
block whose parameters are stacked on a leading layer axis and run by `jax.lax.scan`: the
program then holds one layer body whatever the depth, so compile time stays flat from 2 to 32
layers. Both layouts run the same per-layer function (`_layer`): logits are bit-identical on CPU
(within 2 float32 ulps for models with q/k/v biases, which XLA fuses differently in a loop body);
the KV cache is [num_layers, ...] in both.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from sos_jax.models.cache import KVCache, SharedPrefix
from sos_jax.models.config import ModelConfig
from sos_jax.models.layers import (
    MLP,
    apply_rope,
    attend,
    attend_cache,
    dense,
    make_norm,
    rope_cos_sin,
    window_mask,
)


def _layer(block: "Block", x, rope, mask, scale, layer, kv, cache_index, read_slots=None, prefix=None):
    """Returns (x after decoder layer `layer`, updated (k, v) cache or None): one step of either layout.

    `kv` is None or the whole [num_layers, B, KVH, S, D] cache pair; this layer's new keys/values
    are written at [layer, :, :, cache_index:cache_index + T] (per row when `cache_index` is [B])
    and attention reads that layer back (all S slots, or the first `read_slots`). `prefix` is None or (SharedPrefix, its mask [B, T, P]).
    """
    h = block.attn_norm(x)
    q, k, v = block.attn.project(h, rope)
    if kv is not None:
        new_k, new_v = kv
        if cache_index.ndim:  # row b writes from its own slot cache_index[b]
            rows = jnp.arange(cache_index.shape[0], dtype=jnp.int32)[:, None]
            slots = cache_index[:, None] + jnp.arange(k.shape[1], dtype=jnp.int32)[None]
            # Advanced indices split by the heads slice go first: the update is [B, T, KVH, D], k's own.
            new_k = new_k.at[layer, rows, :, slots].set(k.astype(new_k.dtype), mode="drop")
            new_v = new_v.at[layer, rows, :, slots].set(v.astype(new_v.dtype), mode="drop")
        else:
            zero = jnp.zeros((), jnp.int32)
            start = (jnp.asarray(layer, jnp.int32), zero, zero, cache_index, zero)
            new_k = jax.lax.dynamic_update_slice(new_k, k.transpose(0, 2, 1, 3).astype(new_k.dtype)[None], start)
            new_v = jax.lax.dynamic_update_slice(new_v, v.transpose(0, 2, 1, 3).astype(new_v.dtype)[None], start)
        k, v = new_k[layer, :, :, :read_slots], new_v[layer, :, :, :read_slots]  # None: all slots
        kv = (new_k, new_v)
        shared = None
        if prefix is not None:
            held, prefix_mask = prefix
            shared = (held.k[layer].astype(q.dtype), held.v[layer].astype(q.dtype), prefix_mask)
        attn_out = block.attn.o(attend_cache(q, k.astype(q.dtype), v.astype(q.dtype), mask, scale, shared))
    else:
        attn_out = block.attn.o(attend(q, k, v, mask, scale))
    if block.parallel_residual:
        x = x + attn_out + block.mlp(block.mlp_norm(x))
    else:
        x = x + attn_out
        x = x + block.mlp(block.mlp_norm(x))
    return x, kv


def stack_blocks(blocks: list["Block"]) -> "Block":
    """Returns one `Block` whose parameters are those of `blocks` stacked on a new leading axis."""
    graphdef, first = nnx.split(blocks[0])
    states = [first] + [nnx.split(b)[1] for b in blocks[1:]]
    return nnx.merge(graphdef, jax.tree.map(lambda *xs: jnp.stack(xs), *states))


class Attention(nnx.Module):
    """Multi-head / grouped-query self-attention with separate q, k, v, o projections."""

    def __init__(self, cfg: ModelConfig, layer: int, *, dtype, param_dtype, rngs: nnx.Rngs):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.q = dense(cfg.hidden_size, cfg.num_heads * cfg.head_dim, bias=cfg.qkv_bias, **kw)
        self.k = dense(cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim, bias=cfg.qkv_bias, **kw)
        self.v = dense(cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim, bias=cfg.qkv_bias, **kw)
        self.o = dense(cfg.num_heads * cfg.head_dim, cfg.hidden_size, bias=cfg.o_bias, **kw)
        scale = cfg.head_dim**-0.5 if cfg.attn_scale is None else cfg.attn_scale
        if cfg.scale_attn_by_inverse_layer_idx:
            scale /= float(layer + 1)
        self.scale = scale
        self.heads, self.kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim

    def project(self, x: jax.Array, rope: tuple[jax.Array, jax.Array] | None):
        """Returns q [B,T,H,D] and k, v [B,T,KVH,D], rotated when `rope` is given."""
        b, t, _ = x.shape
        q = self.q(x).reshape(b, t, self.heads, self.head_dim)
        k = self.k(x).reshape(b, t, self.kv_heads, self.head_dim)
        v = self.v(x).reshape(b, t, self.kv_heads, self.head_dim)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        return q, k, v


class Block(nnx.Module):
    """One decoder layer: pre-norm attention and MLP, sequential or parallel (NeoX) residual."""

    def __init__(self, cfg: ModelConfig, layer: int, *, dtype, param_dtype, rngs: nnx.Rngs):
        self.attn_norm = make_norm(cfg, dtype=dtype, param_dtype=param_dtype)
        self.attn = Attention(cfg, layer, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.mlp_norm = make_norm(cfg, dtype=dtype, param_dtype=param_dtype)
        self.mlp = MLP(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.parallel_residual = cfg.parallel_residual


class Decoder(nnx.Module):
    """A causal language model (token + optional learned position embeddings, blocks, norm, head)."""

    def __init__(
        self, cfg: ModelConfig, *, dtype=jnp.float32, param_dtype=None, scan_layers: bool = False, rngs: nnx.Rngs
    ):
        param_dtype = dtype if param_dtype is None else param_dtype
        self.cfg = cfg
        self.dtype = dtype
        self.scan_layers = bool(scan_layers)
        init = nnx.initializers.normal(0.02)
        self.embed = nnx.Embed(
            cfg.vocab_size, cfg.hidden_size, dtype=dtype, param_dtype=param_dtype, embedding_init=init, rngs=rngs
        )
        if cfg.position_embedding == "learned":
            self.pos_embed = nnx.Embed(
                cfg.max_position_embeddings,
                cfg.hidden_size,
                dtype=dtype,
                param_dtype=param_dtype,
                embedding_init=init,
                rngs=rngs,
            )
        # Built per layer either way, so both layouts draw the same random weights.
        blocks = [Block(cfg, i, dtype=dtype, param_dtype=param_dtype, rngs=rngs) for i in range(cfg.num_layers)]
        self.layers = stack_blocks(blocks) if self.scan_layers else nnx.List(blocks)
        # Per-layer attention scales (GPT-2's inverse-layer-index option makes them differ).
        self.layer_scales = tuple(b.attn.scale for b in blocks)
        self.final_norm = make_norm(cfg, dtype=dtype, param_dtype=param_dtype)
        if not cfg.tie_word_embeddings:
            self.lm_head = dense(
                cfg.hidden_size, cfg.vocab_size, bias=False, dtype=dtype, param_dtype=param_dtype, rngs=rngs
            )

    def __call__(
        self,
        tokens: jax.Array,
        positions: jax.Array,
        attn_mask: jax.Array,
        cache: KVCache | None = None,
        cache_index: int | jax.Array = 0,
        read_slots: int | None = None,
        shared_prefix: SharedPrefix | None = None,
    ) -> tuple[jax.Array, KVCache | None]:
        """Returns float32 logits [B, T, vocab] and the updated cache (None when none was given)."""
        cfg = self.cfg
        b, t = tokens.shape
        if read_slots is not None and cache is None:
            raise ValueError("read_slots selects cache slots to attend to; it needs a cache")
        if shared_prefix is not None and cache is None:
            raise ValueError("a shared_prefix is attended to with the rows' own cache; it needs a cache")
        if read_slots is not None and not (isinstance(read_slots, int) and 0 < read_slots <= cache.max_len):
            raise ValueError(f"read_slots must be an int in [1, {cache.max_len}] cache slots, got {read_slots!r:.40}")
        keys_len = t if cache is None else cache.max_len if read_slots is None else read_slots
        if positions.shape != (b, t):
            raise ValueError(f"positions must have shape {(b, t)} like tokens, got {positions.shape}")
        if attn_mask.shape != (b, t, keys_len):
            what = "T" if cache is None else "cache slots"
            raise ValueError(f"attn_mask must have shape {(b, t, keys_len)} ([B, T, {what}]), got {attn_mask.shape}")
        if cache is not None and isinstance(cache_index, int) and not 0 <= cache_index <= keys_len - t:
            # dynamic_update_slice would clamp the start and silently overwrite other slots.
            raise ValueError(f"cache_index {cache_index} + {t} new tokens does not fit the {keys_len} cache slots")
        if cache is not None and jnp.shape(cache_index) not in ((), (b,)):
            raise ValueError(f"cache_index must be a scalar or one slot per row ({b},), got shape {jnp.shape(cache_index)}")
        positions = positions.astype(jnp.int32)
        x = self.embed(tokens)
        if cfg.position_embedding == "learned":
            x = x + self.pos_embed(positions)
        rope = rope_cos_sin(cfg, positions, self.dtype) if cfg.position_embedding == "rope" else None

        if cache is None:
            key_positions, kv = positions, None
        else:
            cache_index = jnp.asarray(cache_index, jnp.int32)
            if cache_index.ndim:
                # A select per slot rather than a scatter: each row's update stays on its own shard
                # (a scatter into the `data`-sharded [B, S] gathers it every step).
                offset = jnp.arange(cache.max_len, dtype=jnp.int32)[None] - cache_index[:, None]
                new = jnp.take_along_axis(positions, jnp.clip(offset, 0, t - 1), axis=1)
                key_positions = jnp.where((offset >= 0) & (offset < t), new, cache.key_positions)
            else:
                zero = jnp.zeros((), jnp.int32)
                key_positions = jax.lax.dynamic_update_slice(cache.key_positions, positions, (zero, cache_index))
            kv = (cache.k, cache.v)
        read_positions = key_positions[:, :read_slots]
        attn_mask = attn_mask.astype(bool)
        masks = {}  # one mask per distinct window (None = full attention)
        prefix_masks = {}
        if shared_prefix is not None:
            prefix_positions = jnp.arange(shared_prefix.k.shape[2], dtype=jnp.int32)[None]
            in_prefix = jnp.broadcast_to(prefix_positions[:, None, :] < shared_prefix.length, (b, t, prefix_positions.shape[1]))
        for window in dict.fromkeys(cfg.layer_window(i) for i in range(cfg.num_layers)):
            masks[window] = attn_mask if window is None else attn_mask & window_mask(positions, read_positions, window)
            if shared_prefix is not None:
                prefix_masks[window] = (
                    in_prefix if window is None else in_prefix & window_mask(positions, prefix_positions, window)
                )

        if self.scan_layers:
            x, kv = self._scan_layers(x, rope, masks, kv, cache_index, read_slots, shared_prefix, prefix_masks)
        else:
            for i, block in enumerate(self.layers):
                window = cfg.layer_window(i)
                prefix = None if shared_prefix is None else (shared_prefix, prefix_masks[window])
                x, kv = _layer(block, x, rope, masks[window], self.layer_scales[i], i, kv, cache_index, read_slots, prefix)

        x = self.final_norm(x)
        # float32 out of the matmul itself: bf16 logits would be rounded before the log-softmax.
        if cfg.tie_word_embeddings:
            head = self.embed.embedding.value.astype(self.dtype).T
        else:
            head = self.lm_head.kernel.value.astype(self.dtype)
        logits = jnp.dot(x, head, preferred_element_type=jnp.float32)
        new_cache = None if cache is None else KVCache(k=kv[0], v=kv[1], key_positions=key_positions)
        return logits.astype(jnp.float32), new_cache

    def _scan_layers(self, x, rope, masks, kv, cache_index, read_slots, shared_prefix, prefix_masks):
        """Returns (x, kv) after every layer, run as one `lax.scan` over the stacked block."""
        cfg = self.cfg
        graphdef, stacked = nnx.split(self.layers)
        windows = [cfg.layer_window(i) for i in range(cfg.num_layers)]
        scales = self.layer_scales
        xs = {"layer": jnp.arange(cfg.num_layers, dtype=jnp.int32), "params": stacked}
        if len(set(scales)) > 1:
            xs["scale"] = jnp.asarray(scales, jnp.float32)
        if len(masks) > 1:  # windowed and full layers mixed (Qwen2 layer_types)
            xs["windowed"] = jnp.asarray([w is not None for w in windows])
            window = cfg.sliding_window

        def body(carry, xs):
            x, kv = carry
            block = nnx.merge(graphdef, xs["params"])

            def layer_mask(by_window):  # this layer's entry of a {window: mask} dict
                if "windowed" not in xs:
                    return by_window[windows[0]]
                return jnp.where(xs["windowed"], by_window[window], by_window[None])

            mask = layer_mask(masks)
            prefix = None if shared_prefix is None else (shared_prefix, layer_mask(prefix_masks))
            scale = xs.get("scale", scales[0])
            return _layer(block, x, rope, mask, scale, xs["layer"], kv, cache_index, read_slots, prefix), None

        (x, kv), _ = jax.lax.scan(body, (x, kv), xs)
        return x, kv


def build_model(
    cfg: ModelConfig, *, dtype=jnp.float32, param_dtype=None, scan_layers: bool = False, rngs: nnx.Rngs | None = None
) -> Decoder:
    """Returns a randomly initialised decoder for `cfg` (compute `dtype`, params in `param_dtype`).

    `scan_layers` stacks the layers' parameters and runs them with `lax.scan` (see the module doc).
    """
    rngs = nnx.Rngs(0) if rngs is None else rngs
    return Decoder(cfg, dtype=dtype, param_dtype=param_dtype, scan_layers=scan_layers, rngs=rngs)
