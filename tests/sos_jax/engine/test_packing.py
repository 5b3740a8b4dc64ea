"""Prefix-tree packing: every request gets one slot, each context is laid out once, shapes bucketed."""

from __future__ import annotations

import numpy as np
import pytest

from sos_jax.engine.packing import MIN_ROW_LEN, bucket_length, next_power_of_two, pack_requests
from sos_jax.engine.requests import ScoredPair


def P(ctx, cont):
    return ScoredPair(tuple(ctx), tuple(cont))


def test_next_power_of_two():
    assert [next_power_of_two(n) for n in (0, 1, 2, 3, 4, 5, 129)] == [1, 1, 2, 4, 4, 8, 256]
    assert next_power_of_two(3, minimum=16) == 16


def test_bucket_length():
    # Powers of two up to 512, then four buckets per octave.
    assert [bucket_length(n, 128) for n in (1, 129, 512, 513, 700, 1025, 1170, 1537, 2048)] == [
        128, 256, 512, 640, 768, 1280, 1280, 1792, 2048]
    lengths = {bucket_length(n) for n in range(513, 4097)}
    assert lengths == {640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096}
    assert all(n <= bucket_length(n) < 1.25 * n + 1 for n in range(513, 4097))


def test_shared_context_is_laid_out_once():
    ctx = list(range(10, 40))
    pairs = [P(ctx, [1, 2, 3]), P(ctx, [4]), P(ctx, [5, 6]), P(ctx, [1, 2, 3]), P([7, 8], [9])]
    packed = pack_requests(pairs, max_length=64)
    # 30 context tokens once + (3-1) + (1-1) + (2-1) continuation inputs, the duplicate merged, + 2.
    assert packed.real_tokens == 30 + 2 + 0 + 1 + 2
    assert int((packed.group >= 0).sum()) == packed.real_tokens
    assert packed.tokens.shape == (1, MIN_ROW_LEN) and packed.batches == [(0, 1)]
    served = sorted(i for row in packed.slot_requests for slot in row for i in slot)
    assert served == [0, 1, 2, 3, 4]


def test_score_positions_point_at_the_predicting_token():
    ctx = [11, 12, 13]
    pairs = [P(ctx, [21, 22, 23]), P(ctx, [31])]
    packed = pack_requests(pairs, max_length=32)
    row = packed.tokens[0]
    for s, reqs in enumerate(packed.slot_requests[0]):
        pair = pairs[reqs[0]]
        n = len(pair.continuation)
        pos = packed.score_pos[0, s, :n]
        assert packed.score_mask[0, s, :n].all() and not packed.score_mask[0, s, n:].any()
        assert list(packed.score_tok[0, s, :n]) == list(pair.continuation)
        # Token j of the continuation is predicted from the token before it: the last context token,
        # then the continuation's own tokens, at consecutive positions after the context.
        assert row[pos[0]] == ctx[-1] and packed.positions[0, pos[0]] == len(ctx) - 1
        assert list(row[pos[1:]]) == list(pair.continuation[:-1])
        assert list(packed.positions[0, pos[1:]]) == list(range(len(ctx), len(ctx) + n - 1))


def test_rows_batches_and_splitting():
    rng = np.random.default_rng(0)
    pairs = [P(rng.integers(5, 100, rng.integers(1, 60)), rng.integers(5, 100, rng.integers(1, 6))) for _ in range(200)]
    packed = pack_requests(pairs, max_length=64, rows_multiple=4, max_batch_tokens=1024)
    assert packed.tokens.shape[1] == MIN_ROW_LEN
    sizes = [size for _, size in packed.batches]
    # Full batches of 1024 // 128 = 8 rows, then a power-of-two remainder; all multiples of 4.
    assert all(s == 8 for s in sizes[:-1]) and sizes[-1] in (4, 8)
    assert [start for start, _ in packed.batches] == list(np.cumsum([0] + sizes[:-1]))
    assert packed.num_rows == sum(sizes)
    assert packed.score_pos.shape[1] & (packed.score_pos.shape[1] - 1) == 0  # power of two slots
    # Packing fills rows: little padding beyond the last batch.
    fill = packed.real_tokens / (packed.num_rows * MIN_ROW_LEN)
    assert fill > 0.5
    # A context with many continuations longer than the row cap is split, each part repeating it.
    ctx = list(range(100, 150))
    many = [P(ctx, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10][: 2 + k % 8] + [k]) for k in range(40)]
    packed = pack_requests(many, max_length=64)
    assert packed.tokens.shape[1] == 128
    starts = sum(int(((r[:-50] == 100) & (np.roll(r, -1)[:-50] == 101)).sum()) for r in packed.tokens)
    assert starts >= 2
    served = sorted(i for row in packed.slot_requests for slot in row for i in slot)
    assert served == list(range(40))


def test_empty_input():
    with pytest.raises(ValueError, match="no requests"):
        pack_requests([], max_length=8)
