"""llama.cpp GGUF checkpoints: metadata -> `ModelConfig`, dequantized weight slices, tokenizer.

A `.gguf` file holds the hyper-parameters, the tokenizer (vocabulary, merges, special ids, chat
template) and the weights, most of them block-quantized. The file is read with the `gguf` package
(llama.cpp's own reader, which memory-maps the tensors). `GGUFTensor` presents each tensor under
its Hugging Face name and layout ([out, in] for linear weights) with the `get_slice` interface of a
safetensors file, so `loading.load_params`' per-device streaming works unchanged: a device's slice
dequantizes only the rows it asks for.

Dequantization is vectorised numpy over all blocks at once, following ggml's C reference
(`ggml-quants.c`) with the same float32 operation order; `tests/sos_jax/models/test_gguf.py` checks
each type against `gguf.quants.dequantize`.

llama.cpp's converter permutes the rows of the Llama/Mistral q and k projections within each head
(it interleaves the two rotary halves for its own RoPE kernel); `GGUFTensor` undoes that so the
weights are the Hugging Face ones again. Qwen2 files are not permuted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import ml_dtypes
import numpy as np

from sos_jax.models.config import ModelConfig, config_from_hf

SUPPORTED_ARCHITECTURES = ("llama", "mistral", "qwen2")
SUPPORTED_QUANT_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K")
# Architectures whose q/k rows llama.cpp's converter permutes.
_PERMUTED_QK = ("llama", "mistral")

QK_K = 256  # elements per K-quant super-block


def is_gguf(path: str | os.PathLike) -> bool:
    """Returns whether `path` names a GGUF file (by its `.gguf` suffix)."""
    return str(path).lower().endswith(".gguf")


# ---------------------------------------------------------------------------------- dequantization


def _f16(blocks: np.ndarray, start: int) -> np.ndarray:
    """Returns the float16 at byte `start` of every block as float32 [n, 1]."""
    return np.ascontiguousarray(blocks[:, start : start + 2]).view(np.float16).astype(np.float32)


def _nibbles(qs: np.ndarray) -> np.ndarray:
    """Returns [..., 2, k] uint8: the low nibbles of `qs` [..., k], then the high nibbles."""
    return np.stack([qs & 0x0F, qs >> 4], axis=-2)


def _q8_0(b: np.ndarray) -> np.ndarray:
    return _f16(b, 0) * b[:, 2:].view(np.int8).astype(np.float32)


def _q4_0(b: np.ndarray) -> np.ndarray:
    q = _nibbles(b[:, 2:]).reshape(len(b), 32).astype(np.int8) - np.int8(8)
    return _f16(b, 0) * q.astype(np.float32)


def _q4_1(b: np.ndarray) -> np.ndarray:
    q = _nibbles(b[:, 4:]).reshape(len(b), 32).astype(np.float32)
    return _f16(b, 0) * q + _f16(b, 2)


def _k_scales(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns the 8 six-bit (scale, min) pairs packed in a K-quant block's 12 scale bytes.

    ggml's get_scale_min_k4: sub-blocks 0-3 use the low 6 bits of bytes 0-3 (scales) and 4-7
    (mins); sub-blocks 4-7 take their low 4 bits from bytes 8-11 and their top 2 bits from the
    top bits of bytes 0-3 (scales) and 4-7 (mins).
    """
    s = scales.astype(np.uint8)
    lo_sc, lo_m, hi = s[:, 0:4], s[:, 4:8], s[:, 8:12]
    sc = np.concatenate([lo_sc & 63, (hi & 0x0F) | ((lo_sc >> 6) << 4)], axis=1)
    mn = np.concatenate([lo_m & 63, (hi >> 4) | ((lo_m >> 6) << 4)], axis=1)
    return sc.astype(np.float32), mn.astype(np.float32)


def _q4_k(b: np.ndarray) -> np.ndarray:
    n = len(b)
    sc, mn = _k_scales(b[:, 4:16])
    d, dmin = _f16(b, 0) * sc, _f16(b, 2) * mn  # [n, 8]: one per 32-element sub-block
    # qs: 4 chunks of 32 bytes; a chunk's low nibbles are sub-block 2i, its high nibbles 2i+1.
    q = _nibbles(b[:, 16:].reshape(n, 4, 32)).reshape(n, 8, 32).astype(np.float32)
    return (d[:, :, None] * q - dmin[:, :, None]).reshape(n, QK_K)


def _q5_k(b: np.ndarray) -> np.ndarray:
    n = len(b)
    sc, mn = _k_scales(b[:, 4:16])
    d, dmin = _f16(b, 0) * sc, _f16(b, 2) * mn
    qh = b[:, 16:48]  # bit j of qh[l] is the fifth bit of element l of sub-block j
    low = _nibbles(b[:, 48:].reshape(n, 4, 32)).reshape(n, 8, 32)
    high = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
    q = (low | (high << 4)).astype(np.float32)
    return (d[:, :, None] * q - dmin[:, :, None]).reshape(n, QK_K)


def _q6_k(b: np.ndarray) -> np.ndarray:
    n = len(b)
    ql = b[:, 0:128].reshape(n, 2, 2, 32)  # [half, ql[l] | ql[l+32], l]
    qh = b[:, 128:192].reshape(n, 2, 1, 32)  # [half, -, l]
    scales = b[:, 192:208].view(np.int8).astype(np.float32).reshape(n, 16)
    d = _f16(b, 208)
    # Within a half of 128: element 32*k + l, k = 0..3, takes nibble k // 2 of ql[l + 32 * (k % 2)]
    # and bits 2k, 2k+1 of qh[l].
    low = np.stack([ql & 0x0F, ql >> 4], axis=2).reshape(n, 2, 4, 32)  # k = 2 * nibble + (l or l + 32)
    shifts = (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]
    high = (qh >> shifts) & 3
    q = (low | (high << 4)).astype(np.int8) - np.int8(32)
    # Scale index: 16 elements per scale, so element 32k + l of half h uses scales[8h + 2k + l // 16].
    sc = scales.reshape(n, 2, 4, 2)[..., np.arange(32) // 16]  # [n, 2, 4, 32]
    return (d[:, :, None, None] * sc * q.astype(np.float32)).reshape(n, QK_K)


@dataclass(frozen=True)
class _Format:
    block_size: int  # elements per block
    type_size: int  # bytes per block
    decode: Callable[[np.ndarray], np.ndarray]  # uint8 [n_blocks, type_size] -> float32 [n_blocks, block_size]


_FORMATS = {
    "F32": _Format(1, 4, lambda b: b.view(np.float32)),
    "F16": _Format(1, 2, lambda b: b.view(np.float16).astype(np.float32)),
    "BF16": _Format(1, 2, lambda b: b.view(ml_dtypes.bfloat16).astype(np.float32)),
    "Q8_0": _Format(32, 34, _q8_0),
    "Q4_0": _Format(32, 18, _q4_0),
    "Q4_1": _Format(32, 20, _q4_1),
    "Q4_K": _Format(QK_K, 144, _q4_k),
    "Q5_K": _Format(QK_K, 176, _q5_k),
    "Q6_K": _Format(QK_K, 210, _q6_k),
}


def _format(quant_type: str, what: str) -> _Format:
    if quant_type not in _FORMATS:
        raise ValueError(
            f"{what} has quantization type {quant_type}, which is not supported; supported: "
            f"{', '.join(SUPPORTED_QUANT_TYPES)}"
        )
    return _FORMATS[quant_type]


def dequantize(raw: np.ndarray, quant_type: str) -> np.ndarray:
    """Returns float32 [..., row_elements] from the raw bytes [..., row_bytes] of quantized rows."""
    fmt = _format(quant_type, "tensor")
    raw = np.ascontiguousarray(raw).view(np.uint8)
    lead, nbytes = raw.shape[:-1], raw.shape[-1]
    if nbytes % fmt.type_size:
        raise ValueError(f"{quant_type} rows must be a multiple of {fmt.type_size} bytes, got {nbytes}")
    blocks = raw.reshape(-1, fmt.type_size)
    out = fmt.decode(blocks)
    return out.reshape(*lead, (nbytes // fmt.type_size) * fmt.block_size)


# -------------------------------------------------------------------------------------- the file


def _hf_name(gguf_name: str) -> str | None:
    """Returns the Hugging Face tensor name for a llama.cpp one (None for tensors we do not map)."""
    fixed = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    if gguf_name in fixed:
        return fixed[gguf_name]
    parts = gguf_name.split(".")
    if len(parts) != 4 or parts[0] != "blk":
        return None
    layer, kind, suffix = parts[1], parts[2], parts[3]
    module = {
        "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
        "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    }.get(kind)
    return None if module is None else f"model.layers.{layer}.{module}.{suffix}"


def _qk_row_order(rows: int, heads: int) -> np.ndarray:
    """Returns, for each Hugging Face row of a q/k projection, the row of llama.cpp's permuted tensor.

    llama.cpp stores head h's rows as (i, half) pairs interleaved, where Hugging Face has
    (half, i): HF row h*D + half*D/2 + i sits at GGUF row h*D + 2i + half.
    """
    d = rows // heads
    h, half, i = np.meshgrid(np.arange(heads), np.arange(2), np.arange(d // 2), indexing="ij")
    return (h * d + 2 * i + half).reshape(-1)


class GGUFTensor:
    """One GGUF tensor viewed in Hugging Face layout, sliceable like a safetensors slice."""

    def __init__(self, tensor: Any, quant_type: str, row_order: np.ndarray | None = None):
        self._tensor = tensor
        self.quant_type = quant_type
        self._format = _format(quant_type, f"tensor {tensor.name!r}")
        # llama.cpp lists dims fastest-first; Hugging Face / numpy order is the reverse.
        self._shape = tuple(int(n) for n in reversed(list(tensor.shape)))
        self._rows = row_order

    def get_shape(self) -> list[int]:
        """Returns the tensor's shape in Hugging Face layout."""
        return list(self._shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        """Returns float32 tensor[index], dequantizing only the rows (first dim) the index selects."""
        index = index if isinstance(index, tuple) else (index,)
        index = index + (slice(None),) * (len(self._shape) - len(index))
        data = self._tensor.data  # memory-mapped; shape [rows, bytes] (quantized) or the element shape
        if len(self._shape) == 1:
            flat = np.asarray(data).reshape(-1)
            return self._decode_rows(flat.reshape(1, -1).view(np.uint8))[0][index[0]]
        rows = np.arange(self._shape[0])[index[0]]
        if self._rows is not None:
            rows = self._rows[rows]
        if len(self._shape) != 2:
            raise ValueError(f"tensor {self._tensor.name!r} has {len(self._shape)} dims; expected 1 or 2")
        raw = np.asarray(data.reshape(self._shape[0], -1)[rows]).view(np.uint8)
        return self._decode_rows(raw)[:, index[1]]

    def _decode_rows(self, raw: np.ndarray) -> np.ndarray:
        return dequantize(raw.reshape(raw.shape[0], -1), self.quant_type)

    def numpy(self) -> np.ndarray:
        """Returns the whole dequantized tensor (float32, Hugging Face layout)."""
        return self[tuple(slice(None) for _ in self._shape)]


@dataclass
class GGUFCheckpoint:
    """An opened GGUF file: its metadata, model config and tensors under Hugging Face names."""

    path: Path
    reader: Any
    architecture: str
    config: ModelConfig
    tensors: dict[str, GGUFTensor]

    def field(self, key: str, default: Any = None) -> Any:
        """Returns the metadata value `key` (a scalar, string or list), or `default` when absent."""
        return read_field(self.reader, key, default)


def read_field(reader: Any, key: str, default: Any = None) -> Any:
    """Returns a GGUF metadata value as Python data (scalar, str, or list), or `default`."""
    field = reader.fields.get(key)
    if field is None:
        return default
    value = field.contents()
    return default if value is None else value


def _open_reader(path: Path):
    from gguf import GGUFReader

    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {path} does not exist")
    try:
        reader = GGUFReader(str(path))
    except Exception as err:  # the reader fails with assorted errors on a cut or corrupt file
        raise ValueError(f"corrupted or truncated GGUF file {path} ({path.stat().st_size} bytes): {err}") from err
    size = path.stat().st_size
    for t in reader.tensors:
        end = int(t.data_offset) + int(t.n_bytes)
        if end > size:
            raise ValueError(
                f"truncated GGUF file {path}: tensor {t.name!r} ends at byte {end} but the file has {size} bytes"
            )
    return reader


def _config_dict(reader: Any, path: Path, tensor_names: set[str]) -> tuple[str, dict[str, Any]]:
    """Returns (architecture, a Hugging Face config.json dict) from the GGUF metadata."""
    arch = read_field(reader, "general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ValueError(
            f"GGUF file {path} has architecture {arch!r}, which is not supported; supported: "
            f"{', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    if "rope_freqs.weight" in tensor_names:
        raise ValueError(f"GGUF file {path} carries per-frequency rope factors (rope_freqs.weight, Llama 3.1-style "
                         "rope scaling), which this loader does not support")

    def need(key: str) -> Any:
        value = read_field(reader, f"{arch}.{key}")
        if value is None:
            raise ValueError(f"GGUF file {path} lacks metadata field {arch}.{key!s}")
        return value

    hidden, heads = int(need("embedding_length")), int(need("attention.head_count"))
    tokens = read_field(reader, "tokenizer.ggml.tokens")
    vocab = read_field(reader, f"{arch}.vocab_size", len(tokens) if tokens is not None else None)
    if vocab is None:
        raise ValueError(f"GGUF file {path} has neither {arch}.vocab_size nor tokenizer.ggml.tokens")
    hf: dict[str, Any] = {
        "model_type": arch,
        "vocab_size": int(vocab),
        "hidden_size": hidden,
        "num_hidden_layers": int(need("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(read_field(reader, f"{arch}.attention.head_count_kv", heads)),
        "head_dim": int(read_field(reader, f"{arch}.attention.key_length", hidden // heads)),
        "intermediate_size": int(need("feed_forward_length")),
        "max_position_embeddings": int(read_field(reader, f"{arch}.context_length", 2048)),
        "rope_theta": float(read_field(reader, f"{arch}.rope.freq_base", 10000.0)),
        "rms_norm_eps": float(need("attention.layer_norm_rms_epsilon")),
        "tie_word_embeddings": "output.weight" not in tensor_names,
        "attention_bias": "blk.0.attn_q.bias" in tensor_names and arch != "qwen2",
        "bos_token_id": read_field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": read_field(reader, "tokenizer.ggml.eos_token_id"),
        "pad_token_id": read_field(reader, "tokenizer.ggml.padding_token_id"),
    }
    scaling = read_field(reader, f"{arch}.rope.scaling.type")
    if scaling not in (None, "none"):
        if scaling != "linear":
            raise ValueError(f"GGUF file {path} uses rope scaling {scaling!r}; supported: none, linear")
        hf["rope_scaling"] = {"rope_type": "linear", "factor": float(need("rope.scaling.factor"))}
    window = read_field(reader, f"{arch}.attention.sliding_window")
    if window and arch == "mistral":
        hf["sliding_window"] = int(window)
    return arch, hf


def gguf_config(path: str | os.PathLike) -> ModelConfig:
    """Returns the ModelConfig in a GGUF file's metadata; tensors are memory-mapped, never read."""
    path = Path(path).expanduser()
    reader = _open_reader(path)
    _, hf = _config_dict(reader, path, {t.name for t in reader.tensors})
    return config_from_hf(hf)


def open_gguf(path: str | os.PathLike) -> GGUFCheckpoint:
    """Returns the opened checkpoint: config from the metadata and every mapped tensor.

    Raises ValueError naming the file for an unsupported architecture or quantization type, a
    truncated file, or missing metadata.
    """
    path = Path(path).expanduser()
    reader = _open_reader(path)
    names = {t.name for t in reader.tensors}
    arch, hf = _config_dict(reader, path, names)
    cfg = config_from_hf(hf)
    tensors: dict[str, GGUFTensor] = {}
    from gguf import GGMLQuantizationType

    for t in reader.tensors:
        hf_name = _hf_name(t.name)
        if hf_name is None:
            continue
        qtype = GGMLQuantizationType(int(t.tensor_type)).name
        if qtype not in _FORMATS:
            _format(qtype, f"GGUF file {path}: tensor {t.name!r}")
        order = None
        if arch in _PERMUTED_QK and t.name.endswith((".attn_q.weight", ".attn_k.weight", ".attn_q.bias", ".attn_k.bias")):
            heads = cfg.num_heads if ".attn_q." in t.name else cfg.num_kv_heads
            order = _qk_row_order(int(t.shape[-1]) if len(t.shape) > 1 else int(t.shape[0]), heads)
        tensors[hf_name] = GGUFTensor(t, qtype, order)
    return GGUFCheckpoint(path=path, reader=reader, architecture=arch, config=cfg, tensors=tensors)


def _tokenizer_metadata(reader: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Returns (architecture, tokenizer dict, tokenizer kwargs) as transformers' GGUF reader makes them.

    Same fields and defaults as `transformers.integrations.gguf.get_gguf_tokenizer`, read with the
    `gguf` package instead of transformers' reader (which needs torch).
    """
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_MAPPING

    grouped = {
        group: {name: read_field(reader, f"tokenizer.{key}") for key, name in renames.items()
                if read_field(reader, f"tokenizer.{key}") is not None}
        for group, renames in GGUF_TOKENIZER_MAPPING.items()
    }
    tokenizer, config = grouped["tokenizer"], grouped["tokenizer_config"]
    if tokenizer.get("tokenizer_type") == "llama":
        config.setdefault("add_bos_token", True)  # llama.cpp adds BOS to sentencepiece vocabularies
    for name, key in (("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"),
                      ("unk_token", "unknown_token_id"), ("pad_token", "padding_token_id")):
        token_id = read_field(reader, f"tokenizer.ggml.{key}")
        config[name] = tokenizer["tokens"][int(token_id)] if token_id is not None else None
    return read_field(reader, "general.architecture"), tokenizer, config


def load_gguf_tokenizer(path: str | os.PathLike):
    """Returns a `transformers` fast tokenizer (with the chat template) built from the GGUF metadata.

    The vocabulary, merges, special tokens and chat template come from the file; transformers'
    GGUF tokenizer conversion builds the `tokenizers` backend (no torch needed). Raises ValueError
    naming the file when the metadata cannot make a tokenizer.
    """
    path = Path(path).expanduser()
    reader = _open_reader(path)
    model = read_field(reader, "tokenizer.ggml.model")
    missing = [k for k in ("tokenizer.ggml.model", "tokenizer.ggml.tokens") if read_field(reader, k) is None]
    if missing:
        raise ValueError(f"GGUF file {path} cannot build a tokenizer: metadata lacks {', '.join(missing)}")
    if model == "gpt2" and read_field(reader, "tokenizer.ggml.merges") is None:
        raise ValueError(f"GGUF file {path} cannot build a tokenizer: a gpt2 (BPE) tokenizer needs tokenizer.ggml.merges")
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

    try:
        architecture, tokenizer_dict, kwargs = _tokenizer_metadata(reader)
        backend, extra = convert_gguf_tokenizer(architecture, tokenizer_dict)
        return PreTrainedTokenizerFast(tokenizer_object=backend, name_or_path=str(path), **kwargs, **extra)
    except Exception as err:
        raise ValueError(
            f"GGUF file {path} cannot build a tokenizer from its metadata (tokenizer.ggml.model={model!r}): {err}"
        ) from err
