"""Prefix-tree packing of loglikelihood requests into fixed-shape rows, with shared prefixes.

The token-id prefix tree of a call's requests has three levels that are computed once each:

1. Shared prefix (across documents): contexts whose token ids start with the same long block (a
   task's few-shot examples) form a cluster; the block is computed once per call as a key/value
   cache (`prefixes`) that every row of the cluster attends to.
2. Context (one document): the rest of a context appears once in a row, positions continuing
   after its shared prefix.
3. Continuation (one choice): each distinct continuation (minus its last token, never an input)
   is a segment that sees the context and itself, never its siblings.

Exact by construction: sharing is decided on token ids, never strings, so every request sees
exactly the tokens (and positions) it would see alone. Several groups of one cluster share a row
(first-fit decreasing); the attention mask is block-diagonal over groups. Row length is bucketed
(powers of two, quarter octaves above 512 tokens); rows per batch, request slots per row,
continuation length, prefix length and prefixes per chunk are bucketed too, so a whole run
compiles a handful of times.

Why a cached prefix and not the prefix laid out once per row with several documents after it
(cascade-style, in-row): a 5-shot block is 500-2,000 tokens, as long as a row, so in-row sharing
would recompute it for every handful of documents, while the cache computes it once per chunk of
a task and leaves the rows for questions and choices. On the suite-shaped workload of
`bench/suite_at_scale.py` the cache brings the engine's tokens to within 5% of the token-trie
limit (work ratio 4.07 of 4.26 against lm-eval with its logits cache), and its
`speedup_from_prefix_sharing` measures it against the engine without cross-document sharing.
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
# A shared prefix shorter than this is laid out in each row instead: its cache would cost an
# extra kernel shape and a key/value gather for little saved compute.
MIN_SHARED_PREFIX = 32
# Prefixes whose caches are held at once (one chunk); rows of a batch pick theirs from the chunk.
PREFIX_CHUNK = 8


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

    context: tuple[int, ...]  # the context after its shared prefix
    continuations: list[tuple[int, ...]]
    requests: list[list[int]]  # request indices served by each continuation
    prefix: int = -1  # index into the shared prefixes, -1 for none
    offset: int = 0  # length of that prefix: the context's first position

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

    A batch `b` whose rows continue shared prefixes has `batch_prefixes[b]`, the ids (into
    `prefixes`) of the chunk of prefix caches its rows read; `row_prefix[r]` is row r's index
    within that chunk. Batches of rows without a shared prefix have an empty chunk.
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
    real_tokens: int = 0  # tokens in rows (not padding)
    row_prefix: np.ndarray | None = None
    prefixes: list[tuple[int, ...]] = field(default_factory=list)
    batch_prefixes: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def prefix_tokens(self) -> int:
        """Returns the tokens of the shared prefixes, each computed once."""
        return sum(len(p) for p in self.prefixes)

    @property
    def num_rows(self) -> int:
        return self.tokens.shape[0]


def _common_prefix_length(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Returns the length of the longest common prefix of two token tuples (binary search on
    C-speed slice comparisons, so long few-shot contexts cost no Python loop per token)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def shared_prefix_lengths(contexts: Sequence[tuple[int, ...]], min_length: int = MIN_SHARED_PREFIX) -> dict[tuple[int, ...], int]:
    """Returns, per distinct context, how many of its leading tokens come from a shared prefix.

    Sorted contexts are cut into clusters of neighbours whose common prefix stays at least
    `min_length` long; a cluster of two or more contexts shares that common prefix, less one token
    when a context would otherwise be all prefix (its last token must be in a row, as it predicts
    the first continuation token). Contexts in no cluster get 0.
    """
    order = sorted(set(contexts))
    out: dict[tuple[int, ...], int] = {}
    i = 0
    while i < len(order):
        shared, j = len(order[i]), i + 1
        while j < len(order):
            common = min(shared, _common_prefix_length(order[j - 1], order[j]))
            if common < min_length:
                break
            shared, j = common, j + 1
        members = order[i:j]
        length = min(shared, min(len(c) for c in members) - 1) if len(members) > 1 else 0
        for c in members:
            out[c] = length if length >= min_length else 0
        i = j
    return out


def _pieces(pairs: Sequence[ScoredPair], cap: int, min_shared_prefix: int | None) -> tuple[list[_Piece], list[tuple[int, ...]]]:
    """Returns the pieces (contexts with their continuations, split when longer than `cap`) and the
    shared prefixes they continue; `min_shared_prefix=None` shares none."""
    groups: dict[tuple[int, ...], dict[tuple[int, ...], list[int]]] = {}
    for i, pair in enumerate(pairs):
        groups.setdefault(pair.context, {}).setdefault(pair.continuation, []).append(i)
    shared = {} if min_shared_prefix is None else shared_prefix_lengths(list(groups), min_shared_prefix)
    prefix_ids: dict[tuple[int, ...], int] = {}
    pieces = []
    for context, conts in groups.items():
        n = shared.get(context, 0)
        prefix = prefix_ids.setdefault(context[:n], len(prefix_ids)) if n else -1
        piece = _Piece(context[n:], [], [], prefix, n)
        for cont, reqs in conts.items():
            if piece.continuations and piece.length + len(cont) - 1 > cap:
                pieces.append(piece)
                piece = _Piece(context[n:], [], [], prefix, n)
            piece.continuations.append(cont)
            piece.requests.append(reqs)
        pieces.append(piece)
    return pieces, list(prefix_ids)


def _first_fit(pieces: list[_Piece], row_len: int) -> list[list[_Piece]]:
    """Returns `pieces` packed into rows, first-fit decreasing over a window of recent rows."""
    rows: list[list[_Piece]] = []
    free: list[int] = []
    for piece in sorted(pieces, key=lambda p: (-p.length, p.context)):
        start = max(0, len(rows) - _FIT_WINDOW)
        for r in range(start, len(rows)):
            if free[r] >= piece.length:
                rows[r].append(piece)
                free[r] -= piece.length
                break
        else:
            rows.append([piece])
            free.append(row_len - piece.length)
    return rows


def _batch_sizes(num_rows: int, batch_rows: int, rows_multiple: int) -> list[int]:
    """Returns full batches, then the remainder in the power-of-two batch that covers it: padding
    stays below half a batch, and each row length has at most log2(batch_rows) batch shapes."""
    sizes = []
    left = num_rows
    while left > 0:
        size = batch_rows if left >= batch_rows else next_power_of_two(left)
        size = min(batch_rows, round_up(size, rows_multiple))
        sizes.append(size)
        left -= size
    return sizes


def pack_requests(
    pairs: Sequence[ScoredPair],
    *,
    max_length: int,
    rows_multiple: int = 1,
    batch_rows: int | None = None,
    max_batch_tokens: int = 8192,
    min_shared_prefix: int | None = MIN_SHARED_PREFIX,
    prefix_chunk: int = PREFIX_CHUNK,
) -> PackedRows:
    """Returns `pairs` packed into rows, with the batch schedule that covers them.

    Row length is the `bucket_length` covering the longest group (a group longer than the model's
    `max_length` rounded up is split, each part repeating the context). Rows per batch is
    `batch_rows`, else `max_batch_tokens // row_len`, rounded up to a multiple of `rows_multiple`
    (the mesh's data-parallel size); the last batch of a chunk may be a smaller power of two.
    Contexts sharing a prefix of at least `min_shared_prefix` tokens continue a cached prefix
    (None: no cross-document sharing); up to `prefix_chunk` prefixes of one length bucket form a
    chunk, and a batch holds rows of one chunk only.
    """
    if not pairs:
        raise ValueError("no requests to pack")
    cap = next_power_of_two(max_length, MIN_ROW_LEN)
    pieces, prefixes = _pieces(pairs, cap, min_shared_prefix)
    row_len = bucket_length(max(p.length for p in pieces), MIN_ROW_LEN)
    if batch_rows is None:
        batch_rows = max(1, max_batch_tokens // row_len)
    batch_rows = round_up(batch_rows, rows_multiple)

    # Chunks: rows without a prefix, then prefixes of one length bucket, `prefix_chunk` at a time.
    by_prefix: dict[int, list[_Piece]] = {}
    for piece in pieces:
        by_prefix.setdefault(piece.prefix, []).append(piece)
    ids = sorted((p for p in by_prefix if p >= 0), key=lambda p: (bucket_length(len(prefixes[p]), MIN_ROW_LEN), p))
    chunks: list[tuple[int, ...]] = [()] if -1 in by_prefix else []
    for p in ids:
        last = chunks[-1] if chunks and chunks[-1] else None
        if last and len(last) < prefix_chunk and bucket_length(len(prefixes[last[0]]), MIN_ROW_LEN) == bucket_length(
            len(prefixes[p]), MIN_ROW_LEN
        ):
            chunks[-1] = last + (p,)
        else:
            chunks.append((p,))

    rows: list[list[_Piece]] = []
    row_prefix_list: list[int] = []
    batches: list[tuple[int, int]] = []
    batch_prefixes: list[tuple[int, ...]] = []
    for chunk in chunks:
        # A row holds one prefix's pieces only: its cache is the one the row's keys continue.
        chunk_rows, chunk_prefix = [], []
        for k, p in enumerate(chunk or (-1,)):
            packed_rows = _first_fit(by_prefix[p], row_len)
            chunk_rows += packed_rows
            chunk_prefix += [k] * len(packed_rows)
        start = len(rows)
        for size in _batch_sizes(len(chunk_rows), batch_rows, rows_multiple):
            batches.append((start, size))
            batch_prefixes.append(chunk)
            start += size
        pad = start - len(rows) - len(chunk_rows)
        rows += chunk_rows + [[] for _ in range(pad)]
        row_prefix_list += chunk_prefix + [0] * pad
    num_rows = len(rows)
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
            n, first = len(piece.context), piece.offset
            tokens[r, offset : offset + n] = piece.context
            positions[r, offset : offset + n] = np.arange(first, first + n)
            group[r, offset : offset + n] = g
            last_context = offset + n - 1
            offset += n
            for k, (cont, reqs) in enumerate(zip(piece.continuations, piece.requests), start=1):
                m = len(cont) - 1
                tokens[r, offset : offset + m] = cont[:-1]
                positions[r, offset : offset + m] = np.arange(first + n, first + n + m)
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
        tokens, positions, group, segment, score_pos, score_tok, score_mask, slot_requests, batches, real_tokens,
        np.asarray(row_prefix_list, np.int32), prefixes, batch_prefixes,
    )
