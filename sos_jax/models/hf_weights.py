"""Where each decoder parameter lives in a Hugging Face checkpoint, and how to read any slice of it.

`weight_sources(cfg)` maps every parameter path of `Decoder` to a `Source`: the HF tensor name, the
shape that tensor must have, and how the parameter is derived from it (torch Linear weights are
[out, in] and get transposed; GPT-2 Conv1D weights are already [in, out] and its fused c_attn is
split by columns; GPT-NeoX's fused query_key_value interleaves q/k/v per head). `Source.read`
returns just the requested slice of the derived parameter, reading only the rows/columns it needs
through `safetensors` slices, so each device gets its shard without a full host copy per device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import ml_dtypes  # noqa: F401  (registers bfloat16 with numpy so safetensors can return bf16 slices)
import numpy as np

from sos_jax.models.config import ModelConfig

# Checkpoint tensors that are buffers, not parameters; ignored silently when present.
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", ".attention.bias", ".attention.masked_bias", "rotary_emb.inv_freq")

# The base-model prefix of each family; checkpoints of the bare base model omit it.
BASE_PREFIX = {"llama": "model.", "mistral": "model.", "qwen2": "model.", "gpt2": "transformer.", "gpt_neox": "gpt_neox."}


@dataclass(frozen=True)
class Source:
    """How one parameter is derived from one checkpoint tensor.

    kind: "direct" (same layout), "linear" (torch [out, in] -> [in, out]), "columns" (GPT-2 fused
    c_attn: columns [offset, offset + width) of the last dim), "neox_qkv" (part `offset` of q/k/v
    interleaved per head of size `width`).
    """

    name: str
    source_shape: tuple[int, ...]
    kind: str = "direct"
    offset: int = 0
    width: int = 0

    def read(self, tensor_slice: Any, index: tuple[slice, ...], target_shape: tuple[int, ...]) -> np.ndarray:
        """Returns parameter[index] read from a safetensors slice object of the source tensor."""
        index = tuple(slice(*s.indices(n)[:2]) for s, n in zip(index, target_shape))
        if self.kind == "direct":
            return tensor_slice[index] if index else tensor_slice[:]
        if self.kind == "linear":
            return tensor_slice[index[1], index[0]].T
        if self.kind == "columns":
            cols = slice(self.offset + index[-1].start, self.offset + index[-1].stop)
            return tensor_slice[(*index[:-1], cols)]
        if self.kind == "neox_qkv":
            return self._read_neox(tensor_slice, index)
        raise AssertionError(self.kind)

    def _read_neox(self, tensor_slice: Any, index: tuple[slice, ...]) -> np.ndarray:
        # Source rows are ordered (head, q|k|v, head_dim); read only the heads the slice touches.
        hs = self.width
        out = index[-1]
        h0, h1 = out.start // hs, math.ceil(out.stop / hs)
        rows = slice(h0 * 3 * hs, h1 * 3 * hs)
        if len(index) == 1:  # bias [heads * hs]
            block = np.asarray(tensor_slice[rows]).reshape(h1 - h0, 3, hs)[:, self.offset].reshape(-1)
            return block[out.start - h0 * hs : out.stop - h0 * hs]
        block = np.asarray(tensor_slice[rows, index[0]])
        block = block.reshape(h1 - h0, 3, hs, block.shape[-1])[:, self.offset].reshape((h1 - h0) * hs, -1)
        return block[out.start - h0 * hs : out.stop - h0 * hs].T

    def param_shape(self) -> tuple[int, ...]:
        """Returns the shape of the derived parameter."""
        if self.kind == "linear":
            return tuple(reversed(self.source_shape))
        if self.kind == "columns":
            return (*self.source_shape[:-1], self.width)
        if self.kind == "neox_qkv":
            heads = self.source_shape[0] // (3 * self.width)
            return (self.source_shape[1], heads * self.width) if len(self.source_shape) == 2 else (heads * self.width,)
        return self.source_shape


def _linear(name: str, n_in: int, n_out: int, bias: bool, prefix_path: tuple) -> dict[tuple, Source]:
    out = {(*prefix_path, "kernel"): Source(f"{name}.weight", (n_out, n_in), "linear")}
    if bias:
        out[(*prefix_path, "bias")] = Source(f"{name}.bias", (n_out,))
    return out


def _norm(name: str, dim: int, with_bias: bool, path: tuple) -> dict[tuple, Source]:
    out = {(*path, "weight"): Source(f"{name}.weight", (dim,))}
    if with_bias:
        out[(*path, "bias")] = Source(f"{name}.bias", (dim,))
    return out


def _llama_sources(cfg: ModelConfig) -> dict[tuple, Source]:
    h, q_out, kv_out, f = cfg.hidden_size, cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim, cfg.intermediate_size
    src = {("embed", "embedding"): Source("model.embed_tokens.weight", (cfg.vocab_size, h))}
    for i in range(cfg.num_layers):
        p, L = f"model.layers.{i}", ("layers", i)
        src |= _norm(f"{p}.input_layernorm", h, False, (*L, "attn_norm"))
        src |= _norm(f"{p}.post_attention_layernorm", h, False, (*L, "mlp_norm"))
        src |= _linear(f"{p}.self_attn.q_proj", h, q_out, cfg.qkv_bias, (*L, "attn", "q"))
        src |= _linear(f"{p}.self_attn.k_proj", h, kv_out, cfg.qkv_bias, (*L, "attn", "k"))
        src |= _linear(f"{p}.self_attn.v_proj", h, kv_out, cfg.qkv_bias, (*L, "attn", "v"))
        src |= _linear(f"{p}.self_attn.o_proj", q_out, h, cfg.o_bias, (*L, "attn", "o"))
        src |= _linear(f"{p}.mlp.gate_proj", h, f, cfg.mlp_bias, (*L, "mlp", "gate"))
        src |= _linear(f"{p}.mlp.up_proj", h, f, cfg.mlp_bias, (*L, "mlp", "up"))
        src |= _linear(f"{p}.mlp.down_proj", f, h, cfg.mlp_bias, (*L, "mlp", "down"))
    src |= _norm("model.norm", h, False, ("final_norm",))
    if not cfg.tie_word_embeddings:
        src |= _linear("lm_head", h, cfg.vocab_size, False, ("lm_head",))
    return src


def _gpt2_sources(cfg: ModelConfig) -> dict[tuple, Source]:
    h, f = cfg.hidden_size, cfg.intermediate_size
    src = {
        ("embed", "embedding"): Source("transformer.wte.weight", (cfg.vocab_size, h)),
        ("pos_embed", "embedding"): Source("transformer.wpe.weight", (cfg.max_position_embeddings, h)),
    }
    for i in range(cfg.num_layers):
        p, L = f"transformer.h.{i}", ("layers", i)
        src |= _norm(f"{p}.ln_1", h, True, (*L, "attn_norm"))
        src |= _norm(f"{p}.ln_2", h, True, (*L, "mlp_norm"))
        for j, part in enumerate("qkv"):
            src[(*L, "attn", part, "kernel")] = Source(f"{p}.attn.c_attn.weight", (h, 3 * h), "columns", j * h, h)
            src[(*L, "attn", part, "bias")] = Source(f"{p}.attn.c_attn.bias", (3 * h,), "columns", j * h, h)
        # Conv1D weights are stored [in, out] already.
        src[(*L, "attn", "o", "kernel")] = Source(f"{p}.attn.c_proj.weight", (h, h))
        src[(*L, "attn", "o", "bias")] = Source(f"{p}.attn.c_proj.bias", (h,))
        src[(*L, "mlp", "fc", "kernel")] = Source(f"{p}.mlp.c_fc.weight", (h, f))
        src[(*L, "mlp", "fc", "bias")] = Source(f"{p}.mlp.c_fc.bias", (f,))
        src[(*L, "mlp", "proj", "kernel")] = Source(f"{p}.mlp.c_proj.weight", (f, h))
        src[(*L, "mlp", "proj", "bias")] = Source(f"{p}.mlp.c_proj.bias", (h,))
    src |= _norm("transformer.ln_f", h, True, ("final_norm",))
    if not cfg.tie_word_embeddings:
        src |= _linear("lm_head", h, cfg.vocab_size, False, ("lm_head",))
    return src


def _neox_sources(cfg: ModelConfig) -> dict[tuple, Source]:
    h, f, hs = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
    src = {("embed", "embedding"): Source("gpt_neox.embed_in.weight", (cfg.vocab_size, h))}
    for i in range(cfg.num_layers):
        p, L = f"gpt_neox.layers.{i}", ("layers", i)
        src |= _norm(f"{p}.input_layernorm", h, True, (*L, "attn_norm"))
        src |= _norm(f"{p}.post_attention_layernorm", h, True, (*L, "mlp_norm"))
        for j, part in enumerate("qkv"):
            src[(*L, "attn", part, "kernel")] = Source(f"{p}.attention.query_key_value.weight", (3 * h, h), "neox_qkv", j, hs)
            if cfg.qkv_bias:
                src[(*L, "attn", part, "bias")] = Source(f"{p}.attention.query_key_value.bias", (3 * h,), "neox_qkv", j, hs)
        src |= _linear(f"{p}.attention.dense", h, h, cfg.o_bias, (*L, "attn", "o"))
        src |= _linear(f"{p}.mlp.dense_h_to_4h", h, f, True, (*L, "mlp", "fc"))
        src |= _linear(f"{p}.mlp.dense_4h_to_h", f, h, True, (*L, "mlp", "proj"))
    src |= _norm("gpt_neox.final_layer_norm", h, True, ("final_norm",))
    if not cfg.tie_word_embeddings:
        src[("lm_head", "kernel")] = Source("embed_out.weight", (cfg.vocab_size, h), "linear")
    return src


def weight_sources(cfg: ModelConfig) -> dict[tuple, Source]:
    """Returns {decoder parameter path: Source} for every parameter of `Decoder(cfg)`."""
    if cfg.model_type in ("llama", "mistral", "qwen2"):
        return _llama_sources(cfg)
    if cfg.model_type == "gpt2":
        return _gpt2_sources(cfg)
    if cfg.model_type == "gpt_neox":
        return _neox_sources(cfg)
    raise ValueError(f"no weight map for model_type {cfg.model_type!r}")


def checkpoint_tensor_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Returns {HF tensor name: shape} of a full checkpoint for `cfg` (what `save_pretrained` writes)."""
    return {s.name: s.source_shape for s in weight_sources(cfg).values()}
