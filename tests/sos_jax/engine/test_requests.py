"""Request tokenisation, truncation and gen_kwargs handling, checked against lm-eval's own code."""

from __future__ import annotations

import pytest

from sos_jax.engine.requests import (
    RequestEncoder,
    cut_at_stop_sequences,
    encode_loglikelihood_requests,
    normalize_gen_kwargs,
    truncate_pair,
)

PAIRS = [
    ("The river", " flows"),
    ("The river ", "flows"),  # trailing space moves to the continuation
    ("Question: what is water?\nAnswer:", " a liquid"),
    ("tabs and spaces \t ", " x"),
    ("", "the first word"),  # empty context -> prefix token
    ("", "<|endoftext|>after the end token"),  # empty context, continuation starts with the prefix token
    ("<|endoftext|>already has the special token", " yes"),
    ("héllo wörld ", "ünïcode ✓"),
    ("two\n\nlines", "\n\nmore"),
]


def lm_eval_token_pairs(hflm, pairs, monkeypatch):
    """Returns the (context, continuation) token lists lm-eval builds for `pairs`."""
    from lm_eval.api.instance import Instance

    captured = []

    def capture(requests, disable_tqdm=False, **kw):
        captured.extend(requests)
        return [(0.0, False)] * len(requests)

    monkeypatch.setattr(hflm, "_loglikelihood_tokens", capture)
    instances = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    hflm.loglikelihood(instances, disable_tqdm=True)
    return [(list(c), list(t)) for _, c, t in captured]


@pytest.mark.parametrize("variant", ["plain", "adds_bos"])
def test_encoding_matches_lm_eval(variant, hflm, hflm_bos, monkeypatch):
    lm = hflm if variant == "plain" else hflm_bos
    if variant == "adds_bos":
        assert lm.tokenizer.encode("a")[0] == lm.tokenizer.bos_token_id  # the variant really adds BOS
    expected = lm_eval_token_pairs(lm, PAIRS, monkeypatch)
    ours = [RequestEncoder(lm.tokenizer).encode_pair(c, t) for c, t in PAIRS]
    assert ours == expected


def test_truncation_keeps_the_last_max_length_tokens():
    pair = truncate_pair(list(range(10)), [10, 11, 12], max_length=8)
    # lm-eval feeds (ctx + cont)[-(8 + 1):][:-1] = tokens 4..11 and scores the last 3 positions.
    assert pair.context == (4, 5, 6, 7, 8, 9)
    assert pair.continuation == (10, 11, 12)
    short = truncate_pair([1, 2], [3], max_length=8)
    assert short.context == (1, 2) and short.continuation == (3,)


def test_truncation_errors():
    with pytest.raises(ValueError, match="zero tokens"):
        truncate_pair([1], [], max_length=4)
    with pytest.raises(ValueError, match="more than the model's max_length 4"):
        truncate_pair([1], [1, 2, 3, 4, 5], max_length=4)


def test_bad_requests_have_clear_errors(hflm):
    enc = RequestEncoder(hflm.tokenizer)
    with pytest.raises(ValueError, match="empty request list"):
        encode_loglikelihood_requests(enc, [], 64)
    with pytest.raises(ValueError, match=r"request 1: continuation '' .*zero tokens"):
        encode_loglikelihood_requests(enc, [("a", " b"), ("context", "")], 64)
    with pytest.raises(TypeError, match="request 0: expected a \\(context, continuation\\) pair"):
        encode_loglikelihood_requests(enc, ["just a string"], 64)
    with pytest.raises(TypeError, match="context: str, continuation: str"):
        encode_loglikelihood_requests(enc, [("a", 3)], 64)


@pytest.mark.parametrize(
    "gen_kwargs",
    [
        {},
        {"until": "\n"},
        {"until": ["Q:", "\n\n"], "max_gen_toks": 7},
        {"until": ["<|endoftext|>"], "max_new_tokens": 5},
        {"do_sample": False, "temperature": 0.7},
        {"temperature": 0.5},
        {"do_sample": True, "temperature": 0.8, "top_p": 0.9, "max_tokens": 3},
    ],
)
def test_gen_kwargs_follow_lm_eval(gen_kwargs):
    from lm_eval.models.utils import handle_stop_sequences
    from lm_eval.models.utils import normalize_gen_kwargs as lm_normalize

    eos = "<|endoftext|>"
    ours = normalize_gen_kwargs(gen_kwargs, eos)
    theirs = lm_normalize(gen_kwargs, 256)
    assert list(ours.until) == handle_stop_sequences(theirs["until"], eos=eos)
    assert ours.max_gen_toks == theirs["max_gen_toks"]
    assert ours.do_sample == theirs["do_sample"]
    if not theirs["do_sample"]:
        assert theirs.get("temperature", 0.0) == 0.0


def test_unsupported_gen_kwargs_are_rejected():
    with pytest.raises(ValueError, match=r"unsupported gen_kwargs \['num_beams'\]"):
        normalize_gen_kwargs({"num_beams": 4}, None)
    assert normalize_gen_kwargs({"num_beams": 1}, None).max_gen_toks == 256
    with pytest.raises(ValueError, match="until"):
        normalize_gen_kwargs({"until": 3}, None)
    with pytest.raises(ValueError, match="top_p"):
        normalize_gen_kwargs({"do_sample": True, "top_p": 0.0}, None)


@pytest.mark.parametrize(
    "text,until",
    [
        ("a\nb\n\nc", ["\n\n", "\n"]),
        ("answer: 4. Q: next", ["Q:", "."]),
        ("no stop here", ["xyz", ""]),
        ("stop at start", ["stop"]),
    ],
)
def test_stop_cutting_matches_lm_eval(text, until):
    from lm_eval.models.utils import postprocess_generated_text

    assert cut_at_stop_sequences(text, until) == postprocess_generated_text(text, until, None)
