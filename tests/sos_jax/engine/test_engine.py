"""Engine end to end on the tiny random models: loglikelihoods against transformers and lm-eval's
`hf` backend, greedy generation against transformers' `generate`, sharding, compilations, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sos_jax.engine import Engine, kernel_traces
from sos_jax.engine.requests import RequestEncoder, encode_loglikelihood_requests

FAMILIES = ["llama", "mistral", "qwen2", "gpt2", "gpt_neox"]

REQUESTS = [
    ("The river", " flows into the sea"),
    ("The river", " is a city"),
    ("The river ", "flows"),  # trailing space
    ("", "the first word"),  # empty context
    ("Question: what is water?\nAnswer:", " a liquid"),
    ("Question: what is water?\nAnswer:", " energy"),
    ("Question: what is water?\nAnswer:", " a liquid"),  # duplicate request
    ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen", " fifteen sixteen"),
]


def torch_loglikelihoods(hf_model, tokenizer, requests, max_length):
    """Returns (sum logprob, greedy) per request computed directly with the transformers model."""
    pairs = encode_loglikelihood_requests(RequestEncoder(tokenizer), requests, max_length)
    out = []
    for p in pairs:
        ids = torch.tensor([list(p.context) + list(p.continuation)[:-1]])
        with torch.no_grad():
            logp = torch.log_softmax(hf_model(ids).logits[0].float(), dim=-1)
        n = len(p.continuation)
        rows = logp[-n:]
        target = torch.tensor(p.continuation)
        out.append((float(rows[torch.arange(n), target].sum()), bool((rows.argmax(-1) == target).all())))
    return out


def lm_eval_loglikelihoods(hflm, requests):
    from lm_eval.api.instance import Instance

    return hflm.loglikelihood([Instance("loglikelihood", {}, r, i) for i, r in enumerate(requests)], disable_tqdm=True)


def assert_close(ours, ref, tol=1e-4):
    assert len(ours) == len(ref)
    for i, ((a, ga), (b, gb)) in enumerate(zip(ours, ref)):
        assert abs(a - b) < tol, f"request {i}: {a} vs {b}"
        assert ga == gb, f"request {i}: greedy {ga} vs {gb}"


def test_loglikelihood_matches_transformers_and_lm_eval(engine, hf_llama, hflm):
    ours = engine.loglikelihood(REQUESTS)
    assert_close(ours, torch_loglikelihoods(hf_llama, engine.tokenizer, REQUESTS, engine.max_length))
    assert_close(ours, lm_eval_loglikelihoods(hflm, REQUESTS))
    assert ours[2] != ours[0] and ours[4] == ours[6]


def test_truncation_matches_lm_eval(llama_dir, single_mesh, hf_llama, hflm, monkeypatch):
    engine = Engine.from_pretrained(str(llama_dir), single_mesh, max_length=12)
    ours = engine.loglikelihood(REQUESTS)
    assert_close(ours, torch_loglikelihoods(hf_llama, engine.tokenizer, REQUESTS, 12))
    monkeypatch.setattr(hflm, "_max_length", 12)
    assert_close(ours, lm_eval_loglikelihoods(hflm, REQUESTS))
    # Truncation changes the long request's score relative to the full-length engine.
    assert abs(ours[-1][0] - Engine.from_pretrained(str(llama_dir), single_mesh).loglikelihood(REQUESTS[-1:])[0][0]) > 1e-3


def test_greedy_flag_is_true_for_the_models_own_continuation(engine):
    tok = engine.tokenizer
    context = "The river"
    ids = engine.generate_token_ids([(context, {"max_gen_toks": 6})])[0]
    ctx_ids = tok.encode(context)
    # The longest prefix of the greedy ids whose text re-encodes to exactly those ids.
    k = max(k for k in range(len(ids) + 1) if k == 0 or tok.encode(context + tok.decode(ids[:k]))[len(ctx_ids):] == ids[:k])
    assert k >= 1
    greedy_text = tok.decode(ids[:k])
    (ll, greedy), (_, other) = engine.loglikelihood([(context, greedy_text), (context, greedy_text + " water")])
    assert greedy and ll < 0
    assert not other or tok.decode(engine.generate_token_ids([(context, {"max_gen_toks": k + 3})])[0]).startswith(
        greedy_text + " water"
    )


def test_sharded_equals_unsharded(engine, sharded_engine):
    assert dict(sharded_engine.mesh.shape) == {"data": 4, "model": 2}
    a = engine.loglikelihood(REQUESTS)
    b = sharded_engine.loglikelihood(REQUESTS)
    assert_close(a, b, tol=1e-4)
    gen = [("The river", {"max_gen_toks": 12}), ("Question:", {"max_gen_toks": 12, "until": ["\n"]})]
    assert engine.generate_token_ids(gen) == sharded_engine.generate_token_ids(gen)


def test_compilations_are_bounded(llama_dir, single_mesh):
    engine = Engine.from_pretrained(str(llama_dir), single_mesh, batch_size=2)
    rng = np.random.default_rng(0)
    words = "the of and to in is was that for on as with by water river city".split()

    def batch(n):
        return [(" ".join(rng.choice(words, rng.integers(3, 9))), " " + " ".join(rng.choice(words, rng.integers(1, 4))))
                for _ in range(n)]

    requests = batch(20)
    engine.loglikelihood(requests)
    first = engine.num_compilations
    assert 1 <= first <= 2  # a full batch of 2 rows, and maybe a 1-row remainder
    engine.loglikelihood(requests[::-1])  # same shapes: no new compilation
    assert engine.num_compilations == first
    for n in (17, 23, 9, 30):
        engine.loglikelihood(batch(n))
    # Short requests share the minimum row-length bucket; batches are 2 rows or a 1-row remainder.
    assert engine.num_compilations <= 2
    first = engine.num_compilations
    engine.generate_until([("a", {"max_gen_toks": 5}), ("the river", {"max_gen_toks": 5})])
    engine.generate_until([("b c", {"max_gen_toks": 6, "until": ["x"]})])
    gen_compiles = engine.num_compilations - first
    assert gen_compiles <= 3  # one prefill and one decode shape (+1 slack for bucket growth)


def test_second_model_reuses_compiled_kernels(llama_dir, make_tiny_hf_model, single_mesh):
    from transformers import AutoModelForCausalLM

    first = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=4)
    gen = [("The river", {"max_gen_toks": 6}), ("a", {"max_gen_toks": 6})]
    first.loglikelihood(REQUESTS)
    first.generate_token_ids(gen)
    traces = kernel_traces()
    # Same architecture, other weights: the weights are kernel arguments, so nothing recompiles.
    other_dir = make_tiny_hf_model("llama", seed=1)
    second = Engine.from_pretrained(str(other_dir), single_mesh, gen_batch_size=4)
    got = second.loglikelihood(REQUESTS)
    ids = second.generate_token_ids(gen)
    assert kernel_traces() == traces
    assert second.num_compilations == first.num_compilations >= 3  # score, prefill, decode
    hf = AutoModelForCausalLM.from_pretrained(str(other_dir), dtype=torch.float32).eval()
    assert_close(got, torch_loglikelihoods(hf, second.tokenizer, REQUESTS, second.max_length))
    enc = second.tokenizer("The river", return_tensors="pt")
    with torch.no_grad():
        ref = hf.generate(**enc, max_new_tokens=6, do_sample=False, pad_token_id=second.tokenizer.pad_token_id)
    assert ids[0] == ref[0, enc.input_ids.shape[1]:].tolist()


def test_generation_rows_follow_the_prompt_count(engine, single_mesh, llama_dir):
    wide = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=16)
    prompts = [("The river", {"max_gen_toks": 5}), ("a b", {"max_gen_toks": 5}), ("c", {"max_gen_toks": 5})]
    # 3 prompts decode in a 4-row batch, not 16, with the same tokens as a 4-row engine.
    assert wide.generate_token_ids(prompts) == engine.generate_token_ids(prompts)
    assert {v[1] for v in wide._variants if v[0] in ("prefill", "decode")} == {4}
    # One prompt: the smallest row bucket, 16 // 8 = 2 rows.
    assert wide.generate_token_ids(prompts[:1]) == engine.generate_token_ids(prompts[:1])
    assert {v[1] for v in wide._variants if v[0] in ("prefill", "decode")} == {2, 4}


def test_bad_inputs(engine):
    with pytest.raises(ValueError, match="empty request list"):
        engine.loglikelihood([])
    with pytest.raises(ValueError, match="request 0: continuation '' .*zero tokens"):
        engine.loglikelihood([("context", "")])
    with pytest.raises(ValueError, match="empty request list"):
        engine.generate_until([])
    with pytest.raises(ValueError, match=r"request 0: max_gen_toks 4096 must be below the model's max_length"):
        engine.generate_until([("a", {"max_gen_toks": 4096})])
    with pytest.raises(ValueError, match="request 0: unsupported gen_kwargs"):
        engine.generate_until([("a", {"beam_width": 3})])
    with pytest.raises(ValueError, match="request 1: context '' encodes to zero tokens"):
        engine.generate_until([("a", {}), ("", {})])
    with pytest.raises(TypeError, match="request 0: expected a \\(context: str, gen_kwargs: dict\\) pair"):
        engine.generate_until([("a",)])


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_generation_matches_transformers(family, make_tiny_hf_model, single_mesh):
    from transformers import AutoModelForCausalLM

    model_dir = make_tiny_hf_model(family)
    engine = Engine.from_pretrained(str(model_dir), single_mesh, gen_batch_size=4, gen_check_every=8)
    hf = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    tok = engine.tokenizer
    prompts = ["The river", "Question: what is the city of water and energy?", "a"]
    ours = engine.generate_token_ids([(p, {"max_gen_toks": 20}) for p in prompts])
    for prompt, ids in zip(prompts, ours):
        enc = tok(prompt, return_tensors="pt")
        with torch.no_grad():
            ref = hf.generate(**enc, max_new_tokens=20, do_sample=False, pad_token_id=tok.pad_token_id)
        assert ids == ref[0, enc.input_ids.shape[1]:].tolist(), f"{family}: {prompt!r}"


def test_mistral_sliding_window_generation_matches_transformers(make_tiny_hf_model, single_mesh):
    from transformers import AutoModelForCausalLM

    model_dir = make_tiny_hf_model("mistral", sliding_window=8)
    engine = Engine.from_pretrained(str(model_dir), single_mesh, gen_batch_size=2)
    hf = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    prompt = "one two three four five six seven eight nine ten"
    enc = engine.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        ref = hf.generate(**enc, max_new_tokens=16, do_sample=False)
    assert engine.generate_token_ids([(prompt, {"max_gen_toks": 16})])[0] == ref[0, enc.input_ids.shape[1]:].tolist()
    reqs = [(prompt, " eleven twelve"), ("", prompt)]
    assert_close(engine.loglikelihood(reqs), torch_loglikelihoods(hf, engine.tokenizer, reqs, engine.max_length))


def test_generate_until_matches_lm_eval(engine, hflm):
    from lm_eval.api.instance import Instance

    prompts = ["The river", "Question: what is water?\nAnswer:", "a b c", "history of science"]
    # Stop strings taken from the model's own greedy text, so the cut really happens.
    free = engine.generate_until([(p, {"max_gen_toks": 24}) for p in prompts])
    stops = [t[len(t) // 2 : len(t) // 2 + 2] or "zz" for t in free]
    requests = [(p, {"until": [s], "max_gen_toks": 24}) for p, s in zip(prompts, stops)]
    requests += [(p, {"until": ["\n"], "max_gen_toks": 10}) for p in prompts[:2]]
    ours = engine.generate_until(requests)
    theirs = hflm.generate_until(
        [Instance("generate_until", {}, (c, dict(k)), i) for i, (c, k) in enumerate(requests)], disable_tqdm=True
    )
    assert ours == theirs
    assert any(len(o) < len(f) for o, f in zip(ours, free))


def test_sampling_is_seeded_and_respects_top_p(engine):
    reqs = [("The river", {"do_sample": True, "temperature": 1.0, "max_gen_toks": 12, "seed": s}) for s in (1, 2)]
    a, c = engine.generate_token_ids(reqs)
    assert engine.generate_token_ids(reqs) == [a, c]  # reproducible
    assert engine.generate_token_ids(reqs[:1]) == [a]  # independent of batch-mates
    assert a != c
    greedy = engine.generate_token_ids([("The river", {"max_gen_toks": 12})])[0]
    nucleus = engine.generate_token_ids([("The river", {"do_sample": True, "top_p": 1e-6, "max_gen_toks": 12})])[0]
    assert nucleus == greedy


def test_chat_template(engine):
    tok = engine.tokenizer
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    if not getattr(tok, "chat_template", None):
        with pytest.raises(ValueError, match="no chat template"):
            engine.apply_chat_template(messages)
        tok.chat_template = (
            "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}<assistant>{% endif %}"
        )
    try:
        text = engine.apply_chat_template(messages)
        assert text == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert "Be brief." in text and text.endswith("<assistant>")
    finally:
        tok.chat_template = None


def test_bfloat16_engine_is_close_to_float32(llama_dir, single_mesh, engine):
    import jax.numpy as jnp

    bf16 = Engine.from_pretrained(str(llama_dir), single_mesh, dtype=jnp.bfloat16, gen_batch_size=4)
    ref = engine.loglikelihood(REQUESTS)
    got = bf16.loglikelihood(REQUESTS)
    for (a, _), (b, _) in zip(got, ref):
        assert np.isfinite(a) and abs(a - b) <= 0.05 * abs(b) + 0.1
    assert len(bf16.generate_token_ids([("The river", {"max_gen_toks": 8})])[0]) == 8
