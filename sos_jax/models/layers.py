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


def attend_after_shared_prefix(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    allowed: jax.Array,
    prefix_k: jax.Array,
    prefix_v: jax.Array,
    prefix_allowed: jax.Array,
    scale: float | jax.Array,
) -> jax.Array:
    """Returns `attend`'s output when every row's keys are one shared prefix followed by its own.

    prefix_k/v [P, KVH, D] are held once for the batch and prefix_allowed is bool [B, T, P]: all
    rows' queries read the prefix in one matmul, where B separate copies would each be read once
    per row (decoding 4-shot MATH prompts, the ~900-token block is most of every row's keys).
    One float32 softmax runs over prefix and own keys together, as over their concatenation.
    """
    b, t, h, d = q.shape
    kv_heads = k.shape[2]
    grouped = q.reshape(b, t, kv_heads, h // kv_heads, d)
    on_prefix = jnp.einsum("btkgd,pkd->bkgtp", grouped, prefix_k, preferred_element_type=jnp.float32)
    on_own = jnp.einsum("btkgd,bskd->bkgts", grouped, k, preferred_element_type=jnp.float32)
    scores = jnp.concatenate([on_prefix, on_own], axis=-1) * scale
    mask = jnp.concatenate([prefix_allowed, allowed], axis=-1)[:, None, None]
    # A finite fill, as jax.nn.dot_product_attention's: a query with nothing allowed gets uniform weights.
    scores = jnp.where(mask, scores, -0.7 * jnp.finfo(jnp.float32).max)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    p = prefix_k.shape[0]
    out = jnp.einsum("bkgtp,pkd->btkgd", probs[..., :p], prefix_v) + jnp.einsum("bkgts,bskd->btkgd", probs[..., p:], v)
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


