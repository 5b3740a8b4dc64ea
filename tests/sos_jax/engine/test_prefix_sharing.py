"""Cross-document prefix sharing: few-shot blocks computed once, results equal to lm-eval's `hf`
backend and to the engine without sharing, bounded compilations."""

from __future__ import annotations

import numpy as np

from sos_jax.engine import Engine
from sos_jax.engine.packing import pack_requests, shared_prefix_lengths
from sos_jax.engine.requests import ScoredPair

from .test_engine import assert_close, lm_eval_loglikelihoods

WORDS = "the of and to in is was that for on as with by water river city stone light north".split()


def fewshot_requests(rng, n_docs, shots=3, header="The following are questions.", letters=True):
    """Returns requests of one few-shot task: a shared block, a question per document, its choices."""

    def sentence(k):
        return " ".join(rng.choice(WORDS, k))

    block = header + "\n\n" + "".join(f"Question: {sentence(12)}?\nAnswer: {sentence(3)}\n\n" for _ in range(shots))
    out = []
    for _ in range(n_docs):
        ctx = block + f"Question: {sentence(int(rng.integers(4, 14)))}?\nAnswer:"
        choices = [" A", " B", " C", " D"] if letters else [" " + sentence(int(rng.integers(1, 5))) for _ in range(4)]
        out += [(ctx, c) for c in choices]
    return out


def suite_requests(seed=0):
    rng = np.random.default_rng(seed)
    return (
        fewshot_requests(rng, 6, header="Task one: letters.")
        + fewshot_requests(rng, 5, header="Task two: words.", letters=False)
        + [("Question: a short zero-shot one?\nAnswer:", " yes"), ("Question: a short zero-shot one?\nAnswer:", " no")]
    )


def test_shared_prefix_lengths():
    a = tuple(range(100, 160))
    contexts = [a + (1, 2), a + (3,), a + (1, 2, 5), tuple(range(7, 20)), a[:40] + (9,) * 5]
    got = shared_prefix_lengths(contexts, min_length=32)
    # The first three share all of `a`; the fourth shares nothing; the fifth joins the cluster and
    # shortens its common prefix to 40 tokens.
    assert got[contexts[3]] == 0
    assert {got[c] for c in contexts if c != contexts[3]} == {40}
    got = shared_prefix_lengths(contexts[:3], min_length=32)
    assert set(got.values()) == {60}
    # A context that is all prefix keeps its last token in the row.
    got = shared_prefix_lengths([a, a + (1,)], min_length=32)
    assert set(got.values()) == {59}
    assert shared_prefix_lengths([a], min_length=32) == {a: 0}


def test_packing_lays_each_prefix_out_once():
    shared = tuple(range(200, 260))
    pairs = [ScoredPair(shared + (k, k + 1), (c,)) for k in range(10) for c in (1, 2, 3)]
    pairs += [ScoredPair((5, 6, 7), (8, 9))]
    packed = pack_requests(pairs, max_length=256)
    assert packed.prefixes == [shared]
    # Rows hold only the documents' own tokens; the 60 shared tokens are computed once.
    assert packed.real_tokens == 10 * 2 + 4
    assert packed.prefix_tokens == 60
    assert [c for c in packed.batch_prefixes] == [(), (0,)]
    first_prefixed = packed.batches[1][0]
    # Positions continue after the prefix.
    assert packed.positions[first_prefixed, 0] == 60
    served = sorted(i for row in packed.slot_requests for slot in row for i in slot)
    assert served == list(range(len(pairs)))
    unshared = pack_requests(pairs, max_length=256, min_shared_prefix=None)
    assert unshared.prefixes == [] and unshared.real_tokens == 10 * 62 + 4


def test_shared_prefixes_match_lm_eval_and_unshared(engine, llama_dir, single_mesh, hflm):
    requests = suite_requests()
    before = engine.tokens_scored
    ours = engine.loglikelihood(requests)
    assert_close(ours, lm_eval_loglikelihoods(hflm, requests))
    plain = Engine.from_pretrained(str(llama_dir), single_mesh, min_shared_prefix=None)
    assert_close(ours, plain.loglikelihood(requests), tol=2e-5)
    assert any(v[0] == "score_after_prefix" for v in engine._variants)
    assert engine.tokens_scored - before < plain.tokens_scored / 2


def test_shared_prefixes_sharded(engine, sharded_engine):
    requests = suite_requests(seed=1)
    assert_close(sharded_engine.loglikelihood(requests), engine.loglikelihood(requests), tol=1e-4)


def test_shared_prefix_compilations_are_bounded(llama_dir, single_mesh):
    engine = Engine.from_pretrained(str(llama_dir), single_mesh, batch_size=2)
    for seed in (2, 3, 4, 5):
        engine.loglikelihood(suite_requests(seed=seed))
    seen = engine.num_compilations
    # Shapes come from buckets only: prefix chunks of a power of two of prefixes, prefix lengths
    # on the row-length buckets, rows of 2 (or a 1-row remainder).
    for v in engine._variants:
        if v[0] == "prefix":
            assert v[1] in (1, 2, 4, 8) and v[2] in (128, 256)
    assert seen <= 10
    for seed in (5, 4, 3, 2):
        engine.loglikelihood(suite_requests(seed=seed))
    assert engine.num_compilations == seen
    assert {v[0] for v in engine._variants} == {"score", "prefix", "score_after_prefix"}
