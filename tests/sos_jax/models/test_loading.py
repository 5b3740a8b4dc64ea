"""Checkpoint loading: sharded safetensors index, bfloat16, tokenizers, and clear errors on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sos_jax.models import load_pretrained, load_tokenizer, write_random_checkpoint

from .hf_reference import causal_mask, hf_logits, padded_batch


@nnx.jit
def _forward(model, tokens, positions, mask):
    return model(tokens, positions, mask)[0]


def _logits(model, tokens, valid, positions):
    return np.asarray(_forward(model, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid))))


@pytest.fixture(scope="module")
def llama_dir(make_tiny_hf_model) -> Path:
    return make_tiny_hf_model("llama")


@pytest.fixture()
def llama_copy(llama_dir, tmp_path) -> Path:
    """A private copy of the tiny llama checkpoint that a test may damage."""
    out = tmp_path / "ckpt"
    shutil.copytree(llama_dir, out)
    return out


def test_sharded_index_checkpoint_loads(make_tiny_hf_model):
    directory = make_tiny_hf_model("llama", max_shard_size="100KB")
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    assert not (directory / "model.safetensors").exists()
    model, _ = load_pretrained(directory)
    tokens, valid, positions = padded_batch()
    ref = hf_logits(directory, tokens, valid, positions)
    assert np.abs(_logits(model, tokens, valid, positions) - ref)[valid].max() < 1e-4


def test_bfloat16_load_is_close_to_float32(llama_dir):
    model32, _ = load_pretrained(llama_dir)
    model16, _ = load_pretrained(llama_dir, dtype=jnp.bfloat16)
    assert model16.layers[0].attn.q.kernel.value.dtype == jnp.bfloat16
    tokens, valid, positions = padded_batch()
    l32, l16 = _logits(model32, tokens, valid, positions), _logits(model16, tokens, valid, positions)
    assert l16.dtype == np.float32
    scale = np.abs(l32[valid]).max()
    assert np.abs(l16 - l32)[valid].max() < 0.05 * scale
    # bf16 still ranks the vocabulary like fp32 on almost every position
    assert (l16.argmax(-1) == l32.argmax(-1))[valid].mean() > 0.9


def test_bfloat16_checkpoint_file_loads_exactly(tmp_path):
    directory = write_random_checkpoint(tmp_path / "bf16", dtype="bfloat16", seed=1)
    from safetensors import safe_open

    with safe_open(str(directory / "model.safetensors"), framework="numpy") as f:
        stored = f.get_tensor("model.layers.1.self_attn.k_proj.weight")
    assert str(stored.dtype) == "bfloat16"
    model, cfg = load_pretrained(directory)  # upcast to float32
    assert cfg.vocab_size == 512
    np.testing.assert_array_equal(np.asarray(model.layers[1].attn.k.kernel.value), stored.astype(np.float32).T)


def test_tokenizer_loads_from_checkpoint_dir(llama_dir):
    tok = load_tokenizer(llama_dir)
    ids = tok("The answer is 42.")["input_ids"]
    assert tok.decode(ids) == "The answer is 42." and tok.eos_token_id == 0 and tok.pad_token_id == 1


def test_missing_weight_file(llama_copy):
    (llama_copy / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no weight file in .*model.safetensors"):
        load_pretrained(llama_copy)


def test_missing_shard_named_in_index(make_tiny_hf_model, tmp_path):
    directory = tmp_path / "sharded"
    shutil.copytree(make_tiny_hf_model("llama", max_shard_size="100KB"), directory)
    shard = sorted(directory.glob("model-*.safetensors"))[-1]
    shard.unlink()
    with pytest.raises(FileNotFoundError, match=f"{shard.name}.*missing"):
        load_pretrained(directory)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupted_or_truncated_safetensors(llama_copy, damage):
    path = llama_copy / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000] if damage == "truncate" else b"\x07" * 64)
    with pytest.raises(ValueError, match="corrupted or truncated safetensors file .*model.safetensors"):
        load_pretrained(llama_copy)


def test_missing_tokenizer(llama_copy):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (llama_copy / name).unlink()
    with pytest.raises(FileNotFoundError, match="no tokenizer in .*tokenizer.json"):
        load_tokenizer(llama_copy)


def test_unsupported_architecture_lists_supported(llama_copy):
    cfg = json.loads((llama_copy / "config.json").read_text())
    cfg["model_type"] = "bert"
    (llama_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="unsupported model_type 'bert'.*llama, mistral, qwen2, gpt2, gpt_neox"):
        load_pretrained(llama_copy)


def test_config_weights_shape_mismatch_names_tensor_and_shapes(llama_copy):
    cfg = json.loads((llama_copy / "config.json").read_text())
    cfg["intermediate_size"] = 96
    (llama_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"mlp\.(gate|up|down)_proj\.weight.*config.json implies shape \((96, 64|64, 96)\).*checkpoint has \((128, 64|64, 128)\)"):
        load_pretrained(llama_copy)


def test_missing_tensor_is_named(llama_copy):
    from safetensors.numpy import load_file, save_file

    path = llama_copy / "model.safetensors"
    tensors = load_file(str(path))
    del tensors["model.layers.1.post_attention_layernorm.weight"]
    save_file(tensors, str(path), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="no tensor 'model.layers.1.post_attention_layernorm.weight'"):
        load_pretrained(llama_copy)


def test_missing_config_and_directory(llama_copy, tmp_path):
    (llama_copy / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_pretrained(llama_copy)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pretrained(tmp_path / "nowhere" / "at" / "all")
    with pytest.raises(FileNotFoundError, match="neither a local directory nor a downloadable hub model"):
        load_pretrained("nobody-org/no-such-model-xyz")  # tests run with HF_HUB_OFFLINE=1
