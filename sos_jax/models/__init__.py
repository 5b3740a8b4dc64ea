"""Flax NNX decoders built from Hugging Face checkpoints (Llama, Mistral, Qwen2, GPT-2, GPT-NeoX),
safetensors and GGUF loading straight onto shardings, and the tensor-parallel sharding rules."""

from sos_jax.models.cache import KVCache, init_cache
from sos_jax.models.config import SUPPORTED_MODEL_TYPES, ModelConfig, config_from_hf
from sos_jax.models.decoder import Decoder, build_model
from sos_jax.models.gguf import gguf_config, open_gguf
from sos_jax.models.loading import load_gguf, load_params, load_pretrained, load_tokenizer, read_config
from sos_jax.models.random_init import write_random_checkpoint
from sos_jax.models.sharding import cache_specs, param_shardings, partition_specs, shard_model

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "Decoder",
    "KVCache",
    "ModelConfig",
    "build_model",
    "cache_specs",
    "config_from_hf",
    "gguf_config",
    "init_cache",
    "load_gguf",
    "load_params",
    "load_pretrained",
    "load_tokenizer",
    "param_shardings",
    "open_gguf",
    "partition_specs",
    "read_config",
    "shard_model",
    "write_random_checkpoint",
]
