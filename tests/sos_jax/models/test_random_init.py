"""Random checkpoints written without torch load identically in transformers and here."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sos_jax.models import config_from_hf, load_pretrained, load_tokenizer, write_random_checkpoint
from sos_jax.models.hf_weights import checkpoint_tensor_shapes
from sos_jax.models.random_init import hf_config_dict

from .hf_reference import causal_mask, hf_logits, padded_batch


@nnx.jit
def _forward(model, tokens, positions, mask):
    return model(tokens, positions, mask)[0]


@pytest.mark.parametrize("model_type", ["llama", "gpt2", "gpt_neox"])
def test_written_checkpoint_matches_transformers(tmp_path, model_type):
    directory = write_random_checkpoint(tmp_path / model_type, model_type=model_type, init_std=0.2)
    assert sorted(p.name for p in directory.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert not list(tmp_path.glob(".*tmp*"))  # scratch directory cleaned up
    model, cfg = load_pretrained(directory)
    tokens, valid, positions = padded_batch(vocab=cfg.vocab_size)
    ref = hf_logits(directory, tokens, valid, positions)
    ours = np.asarray(_forward(model, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid))))
    assert np.abs(ours - ref)[valid].max() < 1e-4


def test_deterministic_sharded_and_tokenizer(tmp_path):
    a = write_random_checkpoint(tmp_path / "a", seed=3)
    b = write_random_checkpoint(tmp_path / "b", seed=3, num_shards=3)
    c = write_random_checkpoint(tmp_path / "c", seed=4)
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    assert len(json.loads((b / "model.safetensors.index.json").read_text())["weight_map"]) == 21
    ma, _ = load_pretrained(a)
    mb, _ = load_pretrained(b)
    np.testing.assert_array_equal(np.asarray(ma.lm_head.kernel.value), np.asarray(mb.lm_head.kernel.value))
    tok = load_tokenizer(a)
    text = "Question: which river is longest?\nAnswer: the Nile, 6650 km."
    assert tok.decode(tok(text)["input_ids"]) == text
    assert len(tok(text)["input_ids"]) < 0.6 * len(text)  # BPE merges learned, not bytes


def test_bench_preset_is_a_25m_gqa_llama():
    cfg = config_from_hf(hf_config_dict("llama", "bench25m", 8192))
    params = sum(int(np.prod(s)) for s in checkpoint_tensor_shapes(cfg).values())
    assert 23e6 < params < 27e6 and cfg.num_kv_heads < cfg.num_heads


def test_unknown_preset_and_family(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        write_random_checkpoint(tmp_path / "x", preset="huge")
    with pytest.raises(ValueError, match="supports llama, mistral, qwen2, gpt2, gpt_neox; got 'bert'"):
        write_random_checkpoint(tmp_path / "y", model_type="bert")
