"""GGUF reading: dequantization against the `gguf` package's own dequantizer, llama.cpp names and
q/k permutation on tiny Llama/Mistral/Qwen2 files written from transformers models, streaming onto a
tensor-parallel mesh, and the errors for unsupported or broken files."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

from sos_jax.models import load_pretrained, load_tokenizer, open_gguf
from sos_jax.models.gguf import SUPPORTED_QUANT_TYPES, dequantize
from tests.sos_jax.models.hf_reference import causal_mask, hf_logits, padded_batch

# Byte offsets of the float16 scale fields in each block, set to finite values (random bytes there
# would give inf/NaN scales, which compare unequal to themselves).
_F16_FIELDS = {"Q8_0": [0], "Q4_0": [0], "Q4_1": [0, 2], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}


def _random_rows(quant_type: str, rows: int, blocks: int, rng) -> np.ndarray:
    """Returns uint8 [rows, bytes]: random blocks of `quant_type` (every bit pattern of the quants)."""
    import ml_dtypes
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    if quant_type in ("F32", "F16", "BF16"):
        dtype = {"F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16}[quant_type]
        return rng.standard_normal((rows, blocks)).astype(dtype).view(np.uint8)
    _, type_size = GGML_QUANT_SIZES[GGMLQuantizationType[quant_type]]
    raw = rng.integers(0, 256, (rows, blocks, type_size), dtype=np.uint8)
    for off in _F16_FIELDS[quant_type]:
        raw[..., off : off + 2] = (0.01 * rng.standard_normal((rows, blocks, 1))).astype(np.float16).view(np.uint8)
    return raw.reshape(rows, -1)


@pytest.mark.parametrize("quant_type", SUPPORTED_QUANT_TYPES)
def test_dequantize_equals_gguf_reference(quant_type):
    import gguf

    raw = _random_rows(quant_type, rows=5, blocks=6, rng=np.random.default_rng(len(quant_type)))
    ours = dequantize(raw, quant_type)
    ref = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType[quant_type])
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)
    assert np.isfinite(ours).all() and np.ptp(ours) > 0


def _permute_qk(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf's permutation of q/k rows (what the reader must undo)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


_GGUF_NAMES = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def write_gguf(model_dir, out_path, arch: str, *, quant: str = "F32", arch_name: str | None = None,
               skip_tensor: str | None = None):
    """Writes the transformers checkpoint in `model_dir` as a llama.cpp GGUF file (as its converter would)."""
    import json

    import gguf

    hf = json.loads((model_dir / "config.json").read_text())
    tensors = load_file(str(model_dir / "model.safetensors"))
    writer = gguf.GGUFWriter(str(out_path), arch_name or arch)
    a = arch_name or arch
    writer.add_uint32(f"{a}.block_count", hf["num_hidden_layers"])
    writer.add_uint32(f"{a}.context_length", hf["max_position_embeddings"])
    writer.add_uint32(f"{a}.embedding_length", hf["hidden_size"])
    writer.add_uint32(f"{a}.feed_forward_length", hf["intermediate_size"])
    writer.add_uint32(f"{a}.attention.head_count", hf["num_attention_heads"])
    writer.add_uint32(f"{a}.attention.head_count_kv", hf["num_key_value_heads"])
    writer.add_float32(f"{a}.rope.freq_base", float(hf.get("rope_theta", hf.get("rope_parameters", {}).get("rope_theta"))))
    writer.add_float32(f"{a}.attention.layer_norm_rms_epsilon", hf["rms_norm_eps"])
    writer.add_uint32(f"{a}.vocab_size", hf["vocab_size"])
    heads, kv = hf["num_attention_heads"], hf["num_key_value_heads"]
    for name, w in tensors.items():
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        elif name == "lm_head.weight":
            gname = "output.weight"
        else:
            _, _, layer, rest = name.split(".", 3)
            module, suffix = rest.rsplit(".", 1)
            gname = f"blk.{layer}.{_GGUF_NAMES[module]}.{suffix}"
        if arch in ("llama", "mistral") and module_is(gname, "attn_q"):
            w = _permute_qk(w, heads)
        elif arch in ("llama", "mistral") and module_is(gname, "attn_k"):
            w = _permute_qk(w, kv)
        if gname == skip_tensor:
            continue
        if w.ndim == 2 and quant != "F32":
            writer.add_tensor(gname, gguf.quants.quantize(w.astype(np.float32), gguf.GGMLQuantizationType[quant]),
                              raw_dtype=gguf.GGMLQuantizationType[quant])
        else:
            writer.add_tensor(gname, w.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


def module_is(gguf_name: str, module: str) -> bool:
    return gguf_name.split(".")[2:3] == [module]


def _our_logits(model, tokens, valid, positions):
    return np.asarray(model(tokens, positions, causal_mask(valid))[0])


@pytest.mark.parametrize("arch", ["llama", "mistral", "qwen2"])
def test_gguf_logits_equal_transformers(arch, make_tiny_hf_model, tmp_path):
    model_dir = make_tiny_hf_model(arch)
    path = write_gguf(model_dir, tmp_path / f"{arch}.gguf", arch)
    model, cfg = load_pretrained(path)
    assert cfg.model_type == arch and cfg.num_kv_heads == 2
    tokens, valid, positions = padded_batch()
    ours = _our_logits(model, tokens, valid, positions)
    ref = hf_logits(model_dir, tokens, valid, positions)
    np.testing.assert_allclose(ours[valid], ref[valid], atol=2e-5, rtol=1e-5)


def test_quantized_gguf_streams_onto_tensor_parallel_mesh(make_tiny_hf_model, tmp_path):
    from jaxrun import make_mesh

    path = write_gguf(make_tiny_hf_model("llama"), tmp_path / "q8.gguf", "llama", quant="Q8_0")
    single, _ = load_pretrained(path)
    sharded, _ = load_pretrained(path, mesh=make_mesh(model=2))
    q = sharded.layers[0].attn.q.kernel.value
    assert len({str(s.index) for s in q.addressable_shards}) == 2  # two distinct column slices
    tokens, valid, positions = padded_batch()
    np.testing.assert_allclose(_our_logits(sharded, tokens, valid, positions),
                               _our_logits(single, tokens, valid, positions), atol=1e-5)
    ckpt = open_gguf(path)
    assert ckpt.tensors["model.layers.0.mlp.up_proj.weight"].quant_type == "Q8_0"


def test_quantized_gguf_loads_into_scanned_layout(make_tiny_hf_model, tmp_path):
    path = write_gguf(make_tiny_hf_model("llama"), tmp_path / "q4.gguf", "llama", quant="Q4_0")
    per_layer, _ = load_pretrained(path)
    scanned, _ = load_pretrained(path, scan_layers=True)
    tokens, valid, positions = padded_batch()
    np.testing.assert_allclose(_our_logits(scanned, tokens, valid, positions),
                               _our_logits(per_layer, tokens, valid, positions), atol=1e-5)


def test_unsupported_architecture_is_named(make_tiny_hf_model, tmp_path):
    path = write_gguf(make_tiny_hf_model("llama"), tmp_path / "g.gguf", "llama", arch_name="gemma")
    with pytest.raises(ValueError, match=r"architecture 'gemma'.*supported: llama, mistral, qwen2"):
        load_pretrained(path)


def test_unsupported_quant_type_is_named(make_tiny_hf_model, tmp_path):
    path = write_gguf(make_tiny_hf_model("llama"), tmp_path / "q5.gguf", "llama", quant="Q5_0")
    with pytest.raises(ValueError, match=r"Q5_0.*not supported; supported: F32, F16, BF16, Q8_0"):
        load_pretrained(path)


def test_truncated_file(make_tiny_hf_model, tmp_path):
    path = write_gguf(make_tiny_hf_model("llama"), tmp_path / "full.gguf", "llama")
    data = path.read_bytes()
    for cut in (len(data) - 100, 64):
        short = tmp_path / f"cut{cut}.gguf"
        short.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated"):
            load_pretrained(short)


def test_missing_tensor_is_named(make_tiny_hf_model, tmp_path):
    path = write_gguf(make_tiny_hf_model("llama"), tmp_path / "m.gguf", "llama", skip_tensor="blk.1.ffn_up.weight")
    with pytest.raises(ValueError, match=r"no tensor 'model.layers.1.mlp.up_proj.weight'"):
        load_pretrained(path)


def test_tokenizer_metadata_missing(make_tiny_hf_model, tmp_path):
    path = write_gguf(make_tiny_hf_model("llama"), tmp_path / "notok.gguf", "llama")
    with pytest.raises(ValueError, match=r"cannot build a tokenizer: metadata lacks tokenizer.ggml.model"):
        load_tokenizer(path)
