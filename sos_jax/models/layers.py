"""Building blocks shared by the decoder families: norms, rotary embeddings, attention and MLPs.

Each follows its transformers counterpart's numerics: norms and softmax run in float32 and cast
back to the compute dtype; RoPE cos/sin are computed in float32 and cast to the compute dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from sos_jax.models.config import ModelConfig, rope_inverse_frequencies

_INIT = nnx.initializers.normal(0.02)


def dense(features_in: int, features_out: int, *, bias: bool, dtype, param_dtype, rngs: nnx.Rngs) -> nnx.Linear:
    """Returns a Linear layer with a [in, out] kernel initialised like transformers (std 0.02)."""
    return nnx.Linear(
        features_in, features_out, use_bias=bias, dtype=dtype, param_dtype=param_dtype, kernel_init=_INIT, rngs=rngs
    )


class RMSNorm(nnx.Module):
    """Llama-style RMSNorm: weight * (x / sqrt(mean(x^2) + eps)), normalised in float32."""

    def __init__(self, dim: int, eps: float, *, dtype, param_dtype):
        self.weight = nnx.Param(jnp.ones((dim,), param_dtype))
        self.eps = eps
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        xf = x.astype(jnp.float32)
        y = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + self.eps)
        return self.weight.value.astype(self.dtype) * y.astype(self.dtype)


class LayerNorm(nnx.Module):
    """LayerNorm with weight and bias (GPT-2, NeoX), normalised in float32."""

    def __init__(self, dim: int, eps: float, *, dtype, param_dtype):
        self.weight = nnx.Param(jnp.ones((dim,), param_dtype))
        self.bias = nnx.Param(jnp.zeros((dim,), param_dtype))
        self.eps = eps
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        xf = x.astype(jnp.float32)
        mean = jnp.mean(xf, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(xf - mean), axis=-1, keepdims=True)
        y = (xf - mean) * jax.lax.rsqrt(var + self.eps)
        return (y * self.weight.value.astype(jnp.float32) + self.bias.value.astype(jnp.float32)).astype(self.dtype)


def make_norm(cfg: ModelConfig, *, dtype, param_dtype) -> nnx.Module:
    """Returns the family's norm layer."""
    cls = RMSNorm if cfg.norm_type == "rms" else LayerNorm
    return cls(cfg.hidden_size, cfg.norm_eps, dtype=dtype, param_dtype=param_dtype)


def activation(name: str, x: jax.Array) -> jax.Array:
    """Returns act(x) for a transformers ACT2FN name (gelu = exact erf; gelu_new/_fast/_pytorch_tanh = tanh)."""
    if name == "silu":
        return jax.nn.silu(x)
    if name == "gelu":
        return jax.nn.gelu(x, approximate=False)
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return jax.nn.gelu(x, approximate=True)
    if name == "relu":
        return jax.nn.relu(x)
    raise ValueError(f"unsupported activation {name!r}")


def rope_cos_sin(cfg: ModelConfig, positions: jax.Array, dtype) -> tuple[jax.Array, jax.Array]:
    """Returns cos, sin [B, T, rotary_dim] for integer `positions` [B, T], in `dtype`."""
    inv_freq = jnp.asarray(rope_inverse_frequencies(cfg))
    freqs = positions.astype(jnp.float32)[..., None] * inv_freq
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb).astype(dtype), jnp.sin(emb).astype(dtype)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Returns x [B, T, heads, D] with its first rotary_dim dims rotated (rotate-half convention)."""
    rot = cos.shape[-1]
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    half = rot // 2
    rotated = jnp.concatenate([-x_rot[..., half:], x_rot[..., :half]], axis=-1)
    out = x_rot * cos[:, :, None, :] + rotated * sin[:, :, None, :]
    return jnp.concatenate([out, x_pass], axis=-1) if x_pass.shape[-1] else out


def attention_implementation(dtype) -> str | None:
    """Returns the `jax.nn.dot_product_attention` implementation for this backend and `dtype`.

    cuDNN's fused kernel on GPUs for half-precision inputs (it supports nothing else); elsewhere
    None, i.e. XLA's reference path, which on CPU computes exactly what `attend` always computed.
    """
    if jax.default_backend() == "gpu" and jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16)):
        return "cudnn"
    return None


def attend(q: jax.Array, k: jax.Array, v: jax.Array, allowed: jax.Array, scale: float | jax.Array) -> jax.Array:
    """Returns attention outputs [B, T, H * D] for q [B,T,H,D], k/v [B,K,KVH,D], allowed bool [B,T,K].

    Through `jax.nn.dot_product_attention`: grouped-query heads share their kv head without
    materialising repeated keys; scores (f32 accumulation) and softmax run in float32; a row with
    nothing allowed (a padding query) gets uniform weights instead of NaN.
    """
    b, t, h, d = q.shape
    mask = allowed[:, None]
    implementation = attention_implementation(q.dtype)
    if implementation is not None:
        try:
            out = jax.nn.dot_product_attention(q, k, v, mask=mask, scale=scale, implementation=implementation)
            return out.reshape(b, t, h * d)
        except (ValueError, NotImplementedError, RuntimeError):
            pass  # a shape or mask the fused kernel rejects: the XLA path computes the same thing
    out = jax.nn.dot_product_attention(q, k, v, mask=mask, scale=scale, implementation="xla")
    return out.reshape(b, t, h * d)


def attend_cache(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    allowed: jax.Array,
    scale: float | jax.Array,
    prefix: tuple[jax.Array, jax.Array, jax.Array] | None = None,
) -> jax.Array:
    """Returns `attend`'s output [B, T, H * D] for keys held in a cache's heads-major layout.

    k, v are [B, KVH, K, D] and allowed is bool [B, T, K]. `prefix` is None or (prefix_k,
    prefix_v [KVH, P, D], prefix_allowed bool [B, T, P]): keys every row shares, held once for the
    batch, that each query reads before its own. All rows' queries read them in one matmul, where B
    copies would each be read once per row (decoding 4-shot MATH prompts, the ~900-token block is
    most of every row's keys). One float32 softmax runs over prefix and own keys together, as over
    their concatenation; a query with nothing allowed gets uniform weights, as in `attend`.
    """
    b, t, h, d = q.shape
    if prefix is None and attention_implementation(q.dtype) is not None:
        # The fused kernel wants [B, K, KVH, D]; it is worth the transpose on accelerators.
        return attend(q, k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3), allowed, scale)
    kv_heads = k.shape[1]
    group = h // kv_heads
    # Queries as [B, KVH, G*T, D]: one matrix per (row, kv head). With a separate size-1 T axis
    # XLA:CPU's dots ran 1.5x slower on decode steps.
    rows = q.reshape(b, t, kv_heads, group, d).transpose(0, 2, 3, 1, 4).reshape(b, kv_heads, group * t, d)

    def per_query(m):  # bool [B, T, K] -> [B, 1, G*T, K], the layout of the scores
        return jnp.broadcast_to(m[:, None, None], (b, 1, group) + m.shape[1:]).reshape(b, 1, group * t, -1)

    scores = jnp.einsum("bkmd,bksd->bkms", rows, k, preferred_element_type=jnp.float32)
    mask = per_query(allowed)
    if prefix is not None:
        prefix_k, prefix_v, prefix_allowed = prefix
        on_prefix = jnp.einsum("bkmd,kpd->bkmp", rows, prefix_k, preferred_element_type=jnp.float32)
        scores = jnp.concatenate([on_prefix, scores], axis=-1)
        mask = jnp.concatenate([per_query(prefix_allowed), mask], axis=-1)
    scores = jnp.where(mask, scores * scale, -0.7 * jnp.finfo(jnp.float32).max)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    if prefix is None:
        out = jnp.einsum("bkms,bksd->bkmd", probs, v)
    else:
        p = prefix_k.shape[1]
        out = jnp.einsum("bkmp,kpd->bkmd", probs[..., :p], prefix_v) + jnp.einsum("bkms,bksd->bkmd", probs[..., p:], v)
    out = out.reshape(b, kv_heads, group, t, d).transpose(0, 3, 1, 2, 4)
    return out.reshape(b, t, h * d)


def window_mask(q_pos: jax.Array, key_pos: jax.Array, window: int) -> jax.Array:
    """Returns bool [B, T, K]: key within the sliding window of the query (q_pos - key_pos < window).

    Same convention as transformers' sliding_window_overlay (kv_idx > q_idx - window).
    """
    return (q_pos[:, :, None] - key_pos[:, None, :]) < window


class MLP(nnx.Module):
    """Gated (Llama: down(act(gate x) * up x)) or plain (GPT-2/NeoX: proj(act(fc x))) feed-forward."""

    def __init__(self, cfg: ModelConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        self.gated = cfg.mlp_type == "gated"
        self.act = cfg.activation
        kw = dict(bias=cfg.mlp_bias, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        if self.gated:
            self.gate = dense(cfg.hidden_size, cfg.intermediate_size, **kw)
            self.up = dense(cfg.hidden_size, cfg.intermediate_size, **kw)
            self.down = dense(cfg.intermediate_size, cfg.hidden_size, **kw)
        else:
            self.fc = dense(cfg.hidden_size, cfg.intermediate_size, **kw)
            self.proj = dense(cfg.intermediate_size, cfg.hidden_size, **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.gated:
            return self.down(activation(self.act, self.gate(x)) * self.up(x))
        return self.proj(activation(self.act, self.fc(x)))


