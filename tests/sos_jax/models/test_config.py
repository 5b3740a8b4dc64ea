"""Parsing Hugging Face config.json dicts into ModelConfig; RoPE frequencies vs transformers."""

from __future__ import annotations

import numpy as np
import pytest

from sos_jax.models import SUPPORTED_MODEL_TYPES, config_from_hf
from sos_jax.models.config import rope_inverse_frequencies
from sos_jax.models.random_init import hf_config_dict

BASE = dict(model_type="llama", vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, intermediate_size=128, max_position_embeddings=4096)


def test_legacy_and_v5_rope_layouts_agree():
    legacy = config_from_hf({**BASE, "rope_theta": 500000.0, "rope_scaling": {
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 1024}})
    v5 = config_from_hf({**BASE, "rope_parameters": {
        "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 1024}})
    assert legacy == v5 and v5.rope_theta == 500000.0 and hash(v5) == hash(legacy)
    old_type_key = config_from_hf({**BASE, "rope_scaling": {"type": "linear", "factor": 2.0}})
    assert old_type_key.rope_scaling_dict == {"rope_type": "linear", "factor": 2.0}
    neox = config_from_hf({"model_type": "gpt_neox", "vocab_size": 10, "hidden_size": 64, "num_hidden_layers": 1,
                           "num_attention_heads": 4, "intermediate_size": 256, "rotary_pct": 0.5})
    assert neox.rotary_dim == 8 and neox.parallel_residual and neox.activation == "gelu"


@pytest.mark.parametrize("scaling", [
    None,
    {"rope_type": "linear", "factor": 4.0},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 64},
])
def test_rope_frequencies_match_transformers(scaling):
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    params = {"rope_theta": 10000.0, **(scaling or {"rope_type": "default"})}
    hf_cfg = LlamaConfig(**{k: v for k, v in BASE.items() if k != "model_type"}, rope_parameters=params)
    if scaling is None:
        ref, _ = LlamaRotaryEmbedding.compute_default_rope_parameters(hf_cfg)
    else:
        ref, _ = ROPE_INIT_FUNCTIONS[scaling["rope_type"]](hf_cfg)
    ours = rope_inverse_frequencies(config_from_hf(hf_cfg.to_dict()))
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="unsupported model_type 't5'.*" + ", ".join(SUPPORTED_MODEL_TYPES)):
        config_from_hf({**BASE, "model_type": "t5"})
    with pytest.raises(ValueError, match="unsupported rope scaling type 'yarn'.*default, linear, llama3"):
        config_from_hf({**BASE, "rope_scaling": {"rope_type": "yarn", "factor": 2.0}})
    with pytest.raises(ValueError, match="lacks field.*low_freq_factor"):
        config_from_hf({**BASE, "rope_scaling": {"rope_type": "llama3", "factor": 2.0}})
    with pytest.raises(ValueError, match="lacks required field 'hidden_size'"):
        config_from_hf({k: v for k, v in BASE.items() if k != "hidden_size"})
    with pytest.raises(ValueError, match="not a multiple of num_key_value_heads"):
        config_from_hf({**BASE, "num_key_value_heads": 3})


def test_qwen2_sliding_layers_follow_layer_types():
    hf = hf_config_dict("qwen2", "tiny", 512, use_sliding_window=True, sliding_window=8, max_window_layers=1)
    cfg = config_from_hf(hf)
    assert cfg.sliding_window == 8 and [cfg.layer_window(i) for i in range(2)] == [None, 8]
    assert config_from_hf(hf_config_dict("qwen2", "tiny", 512)).sliding_window is None
