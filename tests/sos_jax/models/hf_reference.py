"""Test helpers: padded batches and reference logits from the transformers (PyTorch) model."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np


def padded_batch(batch: int = 3, length: int = 12, vocab: int = 512, seed: int = 0):
    """Returns tokens, valid, positions [B, T]: row 0 left-padded, row 1 right-padded, the rest full."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, vocab, (batch, length)).astype(np.int32)
    valid = np.ones((batch, length), bool)
    valid[0, : length // 3] = False
    valid[1, length - length // 4 :] = False
    tokens[~valid] = 1
    positions = np.clip(np.cumsum(valid, 1) - 1, 0, None).astype(np.int32)
    return tokens, valid, positions


def causal_mask(valid: np.ndarray) -> np.ndarray:
    """Returns bool [B, T, T]: causal attention to valid keys only."""
    t = valid.shape[1]
    return np.tril(np.ones((t, t), bool))[None] & valid[:, None, :]


@lru_cache(maxsize=None)
def hf_model(directory: str):
    """Returns the transformers model saved in `directory` (float32, eval mode)."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()


def hf_logits(directory: Path, tokens: np.ndarray, valid: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Returns transformers' float32 logits [B, T, V] for a padded batch with explicit positions."""
    import torch

    with torch.no_grad():
        out = hf_model(str(directory))(
            input_ids=torch.tensor(tokens, dtype=torch.long),
            attention_mask=torch.tensor(valid.astype(np.int64)),
            position_ids=torch.tensor(positions, dtype=torch.long),
        )
    return out.logits.float().numpy()
