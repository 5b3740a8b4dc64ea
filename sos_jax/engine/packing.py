"""Prefix-tree packing of loglikelihood requests into fixed-shape rows.

Requests that share a (truncated) context form one group: the context's tokens appear once in a
row, followed by every distinct continuation of it (minus its last token, which is never an
input). Each continuation is a segment that sees the context and itself, never its siblings, so a
context is computed once however many choices it has. Several groups share a row (first-fit
decreasing); the attention mask is block-diagonal over groups. Row length is bucketed (powers of
two, quarter octaves above 512 tokens); rows per batch, request slots per row and continuation
length are rounded up to powers of two, so a whole run compiles a handful of times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from jaxrun.buckets import bucket_size, next_power_of_two, round_up
from sos_jax.engine.requests import ScoredPair

# Short groups share a row of at least this length: packed, they waste little compute, and
# short tasks then all compile one shape.
MIN_ROW_LEN = 128
MIN_CONT_LEN = 8
# Lengths above this get quarter-octave buckets (see `bucket_length`).
_FINE_BUCKETS_ABOVE = 512
# First-fit looks at this many most recent open rows, so packing stays linear in the request count.
_FIT_WINDOW = 64


def bucket_length(n: int, minimum: int = 1) -> int:
    """Returns the sequence-length bucket for `n`: a power of two up to 512, then a quarter octave.

    Long sequences cost compute quadratic in their padded length while compiles cost about the
    same at any length, so above 512 each octave (p/2, p] has four buckets (e.g. 1280, 1536, 1792,
    2048): padding stays under 25% for at most four compiled lengths per octave.
    """
    return bucket_size(n, minimum, per_octave=4, coarse_up_to=_FINE_BUCKETS_ABOVE)


@dataclass
class _Piece:
    """One context with some of its distinct continuations; the unit placed into a row."""

    context: tuple[int, ...]
    continuations: list[tuple[int, ...]]
    requests: list[list[int]]  # request indices served by each continuation

    @property
    def length(self) -> int:
        return len(self.context) + sum(len(c) - 1 for c in self.continuations)


@dataclass
class PackedRows:
    """Host arrays for every packed row plus the map from score slots back to requests.

    Row arrays are [rows, row_len]; `group` is -1 on padding, `segment` is 0 on context tokens and
    k >= 1 on the k-th continuation of a group. Score arrays are [rows, slots, cont_len]: for each
    slot, the row position whose logits predict each continuation token, the token, and a mask.
    `slot_requests[r][s]` lists the input request indices that slot s of row r answers.
    """

    tokens: np.ndarray
    positions: np.ndarray
    group: np.ndarray
    segment: np.ndarray
    score_pos: np.ndarray
    score_tok: np.ndarray
    score_mask: np.ndarray
    slot_requests: list[list[list[int]]] = field(repr=False)
    batches: list[tuple[int, int]] = field(default_factory=list)  # (first row, rows) per step
    real_tokens: int = 0

    @property
    def num_rows(self) -> int:
        return self.tokens.shape[0]


def _pieces(pairs: Sequence[ScoredPair], cap: int) -> list[_Piece]:
    """Groups requests by context, merges duplicate continuations, splits groups longer than cap."""
    groups: dict[tuple[int, ...], dict[tuple[int, ...], list[int]]] = {}
    for i, pair in enumerate(pairs):
        groups.setdefault(pair.context, {}).setdefault(pair.continuation, []).append(i)
    pieces = []
    for context, conts in groups.items():
        piece = _Piece(context, [], [])
        for cont, reqs in conts.items():
            if piece.continuations and piece.length + len(cont) - 1 > cap:
                pieces.append(piece)
                piece = _Piece(context, [], [])
            piece.continuations.append(cont)
            piece.requests.append(reqs)
        pieces.append(piece)
    return pieces


def pack_requests(
    pairs: Sequence[ScoredPair],
    *,
    max_length: int,
    rows_multiple: int = 1,
    batch_rows: int | None = None,
    max_batch_tokens: int = 8192,
) -> PackedRows:
    """Returns `pairs` packed into rows, with the batch schedule that covers them.

    Row length is the `bucket_length` covering the longest group (a group longer than the model's
    `max_length` rounded up is split, each part repeating the context). Rows per batch is
    `batch_rows`, else `max_batch_tokens // row_len`, rounded up to a multiple of `rows_multiple`
    (the mesh's data-parallel size); the last batch may be a smaller power of two.
    """
    if not pairs:
        raise ValueError("no requests to pack")
    cap = next_power_of_two(max_length, MIN_ROW_LEN)
    pieces = _pieces(pairs, cap)
    row_len = bucket_length(max(p.length for p in pieces), MIN_ROW_LEN)
    # Longest first: first-fit decreasing packs tightly, and the largest shapes fail first.
    pieces.sort(key=lambda p: (-p.length, p.context))

    rows: list[list[_Piece]] = []
    free: list[int] = []
    for piece in pieces:
        start = max(0, len(rows) - _FIT_WINDOW)
        for r in range(start, len(rows)):
            if free[r] >= piece.length:
                rows[r].append(piece)
                free[r] -= piece.length
                break
        else:
            rows.append([piece])
            free.append(row_len - piece.length)

    if batch_rows is None:
        batch_rows = max(1, max_batch_tokens // row_len)
    batch_rows = round_up(batch_rows, rows_multiple)
    # Full batches, then the remainder in the power-of-two batch that covers it: padding stays
    # below half a batch, and each row length has at most log2(batch_rows) batch shapes.
    batches = []
    start = 0
    while start < len(rows):
        left = len(rows) - start
        size = batch_rows if left >= batch_rows else next_power_of_two(left)
        size = min(batch_rows, round_up(size, rows_multiple))
        batches.append((start, size))
        start += size
    num_rows = start
    # Floors tied to the row length keep these buckets from varying between similar calls.
    slots = next_power_of_two(max(sum(len(p.continuations) for p in row) for row in rows), row_len // 8)
    longest_cont = max(len(c) for p in pieces for c in p.continuations)
    cont_len = next_power_of_two(longest_cont, max(MIN_CONT_LEN, row_len // 16))

    tokens = np.zeros((num_rows, row_len), np.int32)
    positions = np.zeros((num_rows, row_len), np.int32)
    group = np.full((num_rows, row_len), -1, np.int32)
    segment = np.zeros((num_rows, row_len), np.int32)
    score_pos = np.zeros((num_rows, slots, cont_len), np.int32)
    score_tok = np.zeros((num_rows, slots, cont_len), np.int32)
    score_mask = np.zeros((num_rows, slots, cont_len), bool)
    slot_requests: list[list[list[int]]] = [[] for _ in range(num_rows)]
    real_tokens = 0
    for r, row in enumerate(rows):
        offset = 0
        for g, piece in enumerate(row):
            n = len(piece.context)
            tokens[r, offset : offset + n] = piece.context
            positions[r, offset : offset + n] = np.arange(n)
            group[r, offset : offset + n] = g
            last_context = offset + n - 1
            offset += n
            for k, (cont, reqs) in enumerate(zip(piece.continuations, piece.requests), start=1):
                m = len(cont) - 1
                tokens[r, offset : offset + m] = cont[:-1]
                positions[r, offset : offset + m] = np.arange(n, n + m)
                group[r, offset : offset + m] = g
                segment[r, offset : offset + m] = k
                s = len(slot_requests[r])
                score_pos[r, s, 0] = last_context
                score_pos[r, s, 1 : m + 1] = np.arange(offset, offset + m)
                score_tok[r, s, : m + 1] = cont
                score_mask[r, s, : m + 1] = True
                slot_requests[r].append(reqs)
                offset += m
            real_tokens += piece.length
    return PackedRows(
        tokens, positions, group, segment, score_pos, score_tok, score_mask, slot_requests, batches, real_tokens
    )
