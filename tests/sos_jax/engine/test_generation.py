"""Sampling filters against transformers' logits warpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sos_jax.engine.generation import SamplingParams, process_logits


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 0.9), (0.7, 50, 1.0), (1.3, 5, 0.5), (1.0, 0, 1.0), (0.5, 3, 0.95)])
def test_process_logits_matches_transformers(temperature, top_k, top_p):
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 64)).astype(np.float32) * 3
    logits[1, :10] = logits[1, 0]  # ties
    procs = [TemperatureLogitsWarper(temperature)]
    if top_k:
        procs.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p))
    ref = LogitsProcessorList(procs)(torch.zeros(4, 1, dtype=torch.long), torch.tensor(logits)).numpy()
    ours = np.asarray(process_logits(logits, SamplingParams(np.float32(temperature), np.float32(top_p), np.int32(top_k))))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
    kept = ~np.isinf(ref)
    np.testing.assert_allclose(ours[kept], ref[kept], rtol=1e-6)


def test_draft_tokens_follow_the_latest_longest_match():
    from sos_jax.engine.generation import draft_tokens

    history = np.array([
        [5, 6, 7, 8, 9, 5, 6, 7, 1, 2, 5, 6, 0, 0],  # last token at slot 11: "5 6" last seen at 5 (then 7 1 2...)
        [1, 2, 3, 1, 2, 4, 9, 3, 0, 0, 0, 0, 0, 0],  # last token 3 at slot 7: 1-gram "3" at 2, then 1 2 4
        [4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # "4 4 4" at 0 (ends before 3): then slot 3, past it the last token
        [7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # no earlier 9: the last token repeated
    ], np.int32)
    length = np.array([11, 7, 3, 2], np.int32)
    got = np.asarray(draft_tokens(history, length, 4))
    np.testing.assert_array_equal(got, [[7, 1, 2, 5], [1, 2, 4, 9], [4, 4, 4, 4], [9, 9, 9, 9]])
