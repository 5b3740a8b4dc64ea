"""The prefix-tree attention mask and the packed scorer against one forward per request."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from sos_jax.engine.packing import pack_requests
from sos_jax.engine.requests import ScoredPair
from sos_jax.engine.scoring import first_argmax, prefix_tree_mask, score_packed_rows


def test_first_argmax_breaks_ties_like_argmax():
    x = np.array([[1.0, 3.0, 3.0, -2.0], [0.0, 0.0, 0.0, 0.0], [-np.inf, -1.0, -np.inf, -1.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(first_argmax(jnp.asarray(x))), np.argmax(x, axis=-1))
    y = np.random.default_rng(0).normal(size=(3, 5, 97)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(first_argmax(jnp.asarray(y))), np.argmax(y, axis=-1))


def test_prefix_tree_mask():
    # group 0: context [0,1], continuation A at 2-3, continuation B at 4; group 1 at 5-6; padding at 7.
    group = jnp.array([[0, 0, 0, 0, 0, 1, 1, -1]])
    segment = jnp.array([[0, 0, 1, 1, 2, 0, 0, 0]])
    m = np.asarray(prefix_tree_mask(group, segment))[0]
    allowed = {i: set(np.nonzero(m[i])[0]) for i in range(8)}
    assert allowed[1] == {0, 1}
    assert allowed[3] == {0, 1, 2, 3}  # A sees the context and itself
    assert allowed[4] == {0, 1, 4}  # B never sees A
    assert allowed[6] == {5, 6}  # no attention across groups
    assert allowed[7] == {7}  # padding only itself, so no empty softmax row


def test_packed_scores_equal_one_forward_per_request():
    from sos_jax.models import ModelConfig, build_model

    cfg = ModelConfig(model_type="llama", vocab_size=97, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2,
                      head_dim=8, intermediate_size=64, max_position_embeddings=256, rotary_dim=8)
    model = build_model(cfg)
    rng = np.random.default_rng(0)
    ctxs = [tuple(rng.integers(1, 97, n)) for n in (5, 17, 40)]
    pairs = [ScoredPair(c, tuple(rng.integers(1, 97, rng.integers(1, 6)))) for c in ctxs for _ in range(3)]
    packed = pack_requests(pairs, max_length=256)
    ll, greedy = jax.jit(lambda *a: score_packed_rows(model, *a))(
        packed.tokens, packed.positions, packed.group, packed.segment,
        packed.score_pos, packed.score_tok, packed.score_mask,
    )
    # Reference: each request alone, right-padded to one length (padding after it cannot change it).
    width = 64
    forward = jax.jit(lambda ids: model(ids, jnp.arange(width)[None], jnp.tril(jnp.ones((width, width), bool))[None])[0])
    for r, row in enumerate(packed.slot_requests):
        for s, reqs in enumerate(row):
            for i in reqs:
                p = pairs[i]
                ids = list(p.context) + list(p.continuation)[:-1]
                t, n = len(ids), len(p.continuation)
                logits = np.asarray(forward(jnp.array([ids + [0] * (width - t)])))[0, t - n : t]
                logp = np.asarray(jax.nn.log_softmax(logits, axis=-1))
                want = float(sum(logp[j, tok] for j, tok in enumerate(p.continuation)))
                assert abs(float(ll[r, s]) - want) < 1e-4
                assert bool(greedy[r, s]) == all(int(np.argmax(logp[j])) == tok for j, tok in enumerate(p.continuation))
