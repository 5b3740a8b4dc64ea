"""Model hyper-parameters: one frozen `ModelConfig` for every supported decoder family, parsed from a
Hugging Face `config.json` (both the transformers<5 layout with `rope_theta`/`rope_scaling`/`rotary_pct`
at top level and the transformers>=5 layout with a `rope_parameters` dict)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "gpt2", "gpt_neox")

# Rope types whose inverse frequencies we compute exactly as transformers does.
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3")

_ACTIVATIONS = ("silu", "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of one decoder; hashable so it can be a static jit argument."""

    model_type: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    max_position_embeddings: int
    rope_theta: float = 10000.0
    # Sorted (key, value) pairs of the HF rope scaling dict (hashable); None for plain RoPE.
    rope_scaling: tuple[tuple[str, Any], ...] | None = None
    rotary_dim: int = 0  # number of rotated dims per head (partial rotary); 0 for learned positions
    norm_eps: float = 1e-6
    tie_word_embeddings: bool = False
    sliding_window: int | None = None
    # Per layer: whether the sliding window applies (Qwen2 layer_types); None means every layer.
    sliding_window_layers: tuple[bool, ...] | None = None
    bos_token_id: int | None = None
    eos_token_id: int | tuple[int, ...] | None = None
    pad_token_id: int | None = None
    # Architecture switches that distinguish the families.
    norm_type: str = "rms"  # "rms" (Llama/Mistral/Qwen2) or "layer" (GPT-2/NeoX)
    mlp_type: str = "gated"  # "gated": down(act(gate(x)) * up(x)); "plain": proj(act(fc(x)))
    activation: str = "silu"
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    parallel_residual: bool = False  # NeoX: x + attn(ln1(x)) + mlp(ln2(x))
    position_embedding: str = "rope"  # "rope" or "learned" (GPT-2)
    attn_scale: float | None = None  # None -> head_dim ** -0.5
    scale_attn_by_inverse_layer_idx: bool = False  # GPT-2 option

    @property
    def rope_scaling_dict(self) -> dict[str, Any] | None:
        """Returns the rope scaling parameters as a dict (None for plain RoPE)."""
        return None if self.rope_scaling is None else dict(self.rope_scaling)

    def layer_window(self, layer: int) -> int | None:
        """Returns the sliding window of `layer` (None when it attends to everything)."""
        if self.sliding_window is None:
            return None
        if self.sliding_window_layers is None or self.sliding_window_layers[layer]:
            return self.sliding_window
        return None

    def replace(self, **changes: Any) -> "ModelConfig":
        """Returns a copy with `changes` applied."""
        return dataclasses.replace(self, **changes)


def _require(hf: Mapping[str, Any], key: str, model_type: str) -> Any:
    if key not in hf or hf[key] is None:
        raise ValueError(f"config.json for model_type={model_type!r} lacks required field {key!r}")
    return hf[key]


def _rope_settings(hf: Mapping[str, Any], head_dim: int, default_rotary_pct: float = 1.0):
    """Returns (rope_theta, rope_scaling pairs or None, rotary_dim) from either config layout."""
    params = dict(hf.get("rope_parameters") or {})
    legacy_scaling = dict(hf.get("rope_scaling") or {})
    theta = params.get("rope_theta", hf.get("rope_theta", hf.get("rotary_emb_base", 10000.0)))
    pct = params.get("partial_rotary_factor", hf.get("partial_rotary_factor", hf.get("rotary_pct", default_rotary_pct)))
    scaling = {k: v for k, v in {**legacy_scaling, **params}.items() if k not in ("rope_theta", "partial_rotary_factor")}
    rope_type = scaling.pop("rope_type", scaling.pop("type", "default")) or "default"
    if rope_type not in SUPPORTED_ROPE_TYPES:
        raise ValueError(
            f"unsupported rope scaling type {rope_type!r} in config.json; supported: {', '.join(SUPPORTED_ROPE_TYPES)}"
        )
    if rope_type == "default":
        pairs = None
    else:
        need = ("factor",) if rope_type == "linear" else ("factor", "low_freq_factor", "high_freq_factor")
        missing = [k for k in need if k not in scaling]
        if missing:
            raise ValueError(f"rope scaling type {rope_type!r} in config.json lacks field(s) {missing}")
        if rope_type == "llama3":
            # transformers falls back to max_position_embeddings when the original length is absent.
            scaling.setdefault("original_max_position_embeddings", hf.get("max_position_embeddings"))
        keep = need + (("original_max_position_embeddings",) if rope_type == "llama3" else ())
        pairs = tuple(sorted([("rope_type", rope_type)] + [(k, float(scaling[k])) for k in keep]))
    return float(theta), pairs, int(head_dim * float(pct))


def _llama_like(hf: Mapping[str, Any], model_type: str) -> ModelConfig:
    hidden = int(_require(hf, "hidden_size", model_type))
    heads = int(_require(hf, "num_attention_heads", model_type))
    head_dim = int(hf.get("head_dim") or hidden // heads)
    theta, scaling, rotary_dim = _rope_settings(hf, head_dim)
    window, window_layers = None, None
    if model_type == "mistral":
        window = hf.get("sliding_window")
    elif model_type == "qwen2" and hf.get("use_sliding_window", False):
        window = hf.get("sliding_window")
        num_layers = int(hf["num_hidden_layers"])
        types = hf.get("layer_types") or [
            "sliding_attention" if i >= hf.get("max_window_layers", num_layers) else "full_attention"
            for i in range(num_layers)
        ]
        window_layers = tuple(t == "sliding_attention" for t in types)
    attention_bias = bool(hf.get("attention_bias", False))
    return ModelConfig(
        model_type=model_type,
        vocab_size=int(_require(hf, "vocab_size", model_type)),
        hidden_size=hidden,
        num_layers=int(_require(hf, "num_hidden_layers", model_type)),
        num_heads=heads,
        num_kv_heads=int(hf.get("num_key_value_heads") or heads),
        head_dim=head_dim,
        intermediate_size=int(_require(hf, "intermediate_size", model_type)),
        max_position_embeddings=int(hf.get("max_position_embeddings", 2048)),
        rope_theta=theta,
        rope_scaling=scaling,
        rotary_dim=rotary_dim,
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
        sliding_window=None if window is None else int(window),
        sliding_window_layers=window_layers,
        norm_type="rms",
        mlp_type="gated",
        activation=hf.get("hidden_act", "silu"),
        qkv_bias=True if model_type == "qwen2" else attention_bias,
        o_bias=False if model_type == "qwen2" else attention_bias,
        mlp_bias=bool(hf.get("mlp_bias", False)),
    )


def _gpt2(hf: Mapping[str, Any]) -> ModelConfig:
    hidden = int(_require(hf, "n_embd", "gpt2"))
    heads = int(_require(hf, "n_head", "gpt2"))
    head_dim = hidden // heads
    return ModelConfig(
        model_type="gpt2",
        vocab_size=int(_require(hf, "vocab_size", "gpt2")),
        hidden_size=hidden,
        num_layers=int(_require(hf, "n_layer", "gpt2")),
        num_heads=heads,
        num_kv_heads=heads,
        head_dim=head_dim,
        intermediate_size=int(hf.get("n_inner") or 4 * hidden),
        max_position_embeddings=int(_require(hf, "n_positions", "gpt2")),
        rotary_dim=0,
        norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)),
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", True)),
        norm_type="layer",
        mlp_type="plain",
        activation=hf.get("activation_function", "gelu_new"),
        qkv_bias=True,
        o_bias=True,
        mlp_bias=True,
        position_embedding="learned",
        attn_scale=head_dim**-0.5 if hf.get("scale_attn_weights", True) else 1.0,
        scale_attn_by_inverse_layer_idx=bool(hf.get("scale_attn_by_inverse_layer_idx", False)),
    )


def _gpt_neox(hf: Mapping[str, Any]) -> ModelConfig:
    hidden = int(_require(hf, "hidden_size", "gpt_neox"))
    heads = int(_require(hf, "num_attention_heads", "gpt_neox"))
    head_dim = hidden // heads
    theta, scaling, rotary_dim = _rope_settings(hf, head_dim, default_rotary_pct=0.25)
    bias = bool(hf.get("attention_bias", True))
    return ModelConfig(
        model_type="gpt_neox",
        vocab_size=int(_require(hf, "vocab_size", "gpt_neox")),
        hidden_size=hidden,
        num_layers=int(_require(hf, "num_hidden_layers", "gpt_neox")),
        num_heads=heads,
        num_kv_heads=heads,
        head_dim=head_dim,
        intermediate_size=int(_require(hf, "intermediate_size", "gpt_neox")),
        max_position_embeddings=int(hf.get("max_position_embeddings", 2048)),
        rope_theta=theta,
        rope_scaling=scaling,
        rotary_dim=rotary_dim,
        norm_eps=float(hf.get("layer_norm_eps", 1e-5)),
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
        norm_type="layer",
        mlp_type="plain",
        activation=hf.get("hidden_act", "gelu"),
        qkv_bias=bias,
        o_bias=bias,
        mlp_bias=True,
        parallel_residual=bool(hf.get("use_parallel_residual", True)),
    )


def _token_id(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(int(v) for v in value) if len(value) != 1 else int(value[0])
    return None if value is None else int(value)


def config_from_hf(hf_config: Mapping[str, Any]) -> ModelConfig:
    """Returns the `ModelConfig` described by a Hugging Face config.json dict.

    Raises ValueError for an unknown `model_type` (listing the supported ones), a missing required
    field, or an unsupported rope scaling type.
    """
    if not isinstance(hf_config, Mapping):
        raise TypeError(f"config_from_hf expects the parsed config.json dict, got {type(hf_config).__name__}")
    model_type = hf_config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"unsupported model_type {model_type!r} in config.json; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    if model_type == "gpt2":
        cfg = _gpt2(hf_config)
    elif model_type == "gpt_neox":
        cfg = _gpt_neox(hf_config)
    else:
        cfg = _llama_like(hf_config, model_type)
    if cfg.activation not in _ACTIVATIONS:
        raise ValueError(f"unsupported activation {cfg.activation!r} in config.json; supported: {_ACTIVATIONS}")
    if cfg.num_heads % cfg.num_kv_heads:
        raise ValueError(f"num_attention_heads={cfg.num_heads} is not a multiple of num_key_value_heads={cfg.num_kv_heads}")
    if cfg.rotary_dim % 2:
        raise ValueError(f"rotary dimension {cfg.rotary_dim} (head_dim x rotary fraction) must be even")
    return cfg.replace(
        bos_token_id=_token_id(hf_config.get("bos_token_id")),
        eos_token_id=_token_id(hf_config.get("eos_token_id")),
        pad_token_id=_token_id(hf_config.get("pad_token_id")),
    )


def rope_inverse_frequencies(cfg: ModelConfig):
    """Returns float32 numpy inverse frequencies [rotary_dim // 2], scaled as transformers does."""
    import numpy as np

    dim = cfg.rotary_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim))
    inv_freq = inv_freq.astype(np.float32)
    scaling = cfg.rope_scaling_dict
    if scaling is None:
        return inv_freq
    factor = np.float32(scaling["factor"])
    if scaling["rope_type"] == "linear":
        return (inv_freq / factor).astype(np.float32)
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_len = scaling["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_len / low, old_len / high
    wavelen = (2 * math.pi / inv_freq).astype(np.float32)
    scaled = np.where(wavelen > low_wavelen, inv_freq / factor, inv_freq).astype(np.float32)
    smooth = ((old_len / wavelen - low) / (high - low)).astype(np.float32)
    smoothed = ((1 - smooth) * scaled / factor + smooth * scaled).astype(np.float32)
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, scaled).astype(np.float32)
