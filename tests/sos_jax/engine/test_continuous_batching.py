"""Continuous-batching generation: rows leave at EOS or a stop string, queued prompts take their
rows, and greedy tokens stay equal to transformers' `generate` token for token."""

from __future__ import annotations

import torch

from sos_jax.engine import Engine
from sos_jax.engine.requests import cut_at_stop_sequences

PROMPTS = [
    "The river",
    "Question: what is the city of water and energy?",
    "a",
    "one two three four five six seven eight",
    "history of science and the north",
    "x",
    "light and stone",
]


def reference(hf_model, tok, prompt, max_new):
    enc = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = hf_model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id)
    return out[0, enc.input_ids.shape[1]:].tolist()


def test_queued_prompts_take_finished_rows(llama_dir, single_mesh, hf_llama):
    engine = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=2, gen_check_every=4)
    tok = engine.tokenizer
    refs = [reference(hf_llama, tok, p, 16) for p in PROMPTS]
    # Stop strings from the model's own text for every other prompt, so those rows leave early.
    stops = [tok.decode(r[4:6]) if i % 2 == 0 else "@@" for i, r in enumerate(refs)]
    requests = [(p, {"max_gen_toks": 16, "until": [s]}) for p, s in zip(PROMPTS, stops)]
    ids = engine.generate_token_ids(requests)
    texts = engine.generate_until(requests)
    for i, (got, ref) in enumerate(zip(ids, refs)):
        assert got == ref[: len(got)], f"prompt {i}"
        if stops[i] == "@@":
            assert got == ref
        assert texts[i] == cut_at_stop_sequences(tok.decode(ref, skip_special_tokens=True), [stops[i], tok.decode([0])])
    assert any(len(g) < 16 for g in ids)
    # Seven prompts went through two rows.
    assert {v[1] for v in engine._variants if v[0] in ("prefill", "decode")} == {2}


def test_decode_reading_windows_of_the_cache_keeps_tokens_equal(llama_dir, single_mesh, hf_llama):
    """With windows from 4 slots up, decode attends to the first few cache slots, a window that
    grows with the rows (several window shapes run), and greedy tokens still equal transformers'
    token for token."""
    engine = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=2, gen_check_every=3, gen_min_window=4)
    refs = [reference(hf_llama, engine.tokenizer, p, 16) for p in PROMPTS]
    assert engine.generate_token_ids([(p, {"max_gen_toks": 16}) for p in PROMPTS]) == refs
    # ("decode", rows, slots, new, sample, span, prefix, lookahead)
    spans = {v[5] for v in engine._variants if v[0] == "decode"}
    assert len(spans - {None}) >= 2, spans


def test_prompts_sharing_a_prefix_compute_it_once_and_keep_tokens_equal(llama_dir, single_mesh, hf_llama):
    """Prompts that start with one instruction block (as a task's few-shot prompts do) prefill it
    once and decode reading it once for all rows; tokens still equal transformers' own."""
    engine = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=2, gen_check_every=3, min_shared_prefix=4)
    prompts = ["Answer in the style of the river and the city. " + p for p in PROMPTS]
    assert engine._shared_prompt_prefix([engine._encode_prompt(p) for p in prompts]) >= 4
    refs = [reference(hf_llama, engine.tokenizer, p, 12) for p in prompts]
    assert engine.generate_token_ids([(p, {"max_gen_toks": 12}) for p in prompts]) == refs
    assert {v[-1] for v in engine._variants if v[0] == "decode"} - {None}
    assert any(v[0] == "prefix" for v in engine._variants)


def test_eos_frees_the_row(llama_dir, single_mesh, hf_llama):
    probe = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=2)
    refs = [reference(hf_llama, probe.tokenizer, p, 12) for p in PROMPTS]
    eos = refs[0][2]
    engine = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=2, eos_token_ids=[eos])
    ids = engine.generate_token_ids([(p, {"max_gen_toks": 12}) for p in PROMPTS])
    for got, ref in zip(ids, refs):
        want = ref[: ref.index(eos) + 1] if eos in ref else ref
        assert got == want
    assert len(ids[0]) == 3


def test_generation_compilations_are_bounded(llama_dir, single_mesh):
    engine = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=4, gen_check_every=4)
    engine.generate_until([(p, {"max_gen_toks": 8}) for p in PROMPTS])
    seen = engine.num_compilations
    engine.generate_until([(p + " again", {"max_gen_toks": 7, "until": ["e"]}) for p in PROMPTS[::-1]])
    # Prefill shapes: a power of two of prompts (<= 4 rows) times a prompt-length bucket; one
    # decode shape per (rows, ring size, new-token bucket).
    kinds = [v for v in engine._variants if v[0] in ("prefill", "decode")]
    assert all(v[2] in (1, 2, 4) for v in kinds if v[0] == "prefill")
    assert len([v for v in kinds if v[0] == "decode"]) == 1
    assert engine.num_compilations <= seen + 2


def test_lookahead_drafts_keep_greedy_tokens_and_save_steps(llama_dir, single_mesh, hf_llama):
    """Prompt-lookup drafts verified in one pass emit the very tokens of one-token-a-step decoding
    (and of transformers), in fewer forward passes once the model repeats itself."""
    requests = [(p, {"max_gen_toks": 24}) for p in PROMPTS]
    plain = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=4, gen_check_every=5, gen_lookahead=0)
    drafted = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=4, gen_check_every=5, gen_lookahead=3)
    want = plain.generate_token_ids(requests)
    assert drafted.generate_token_ids(requests) == want
    assert want == [reference(hf_llama, plain.tokenizer, p, 24) for p in PROMPTS]
    tokens = sum(len(w) - 1 for w in want)  # the first token of each comes from prefill
    assert plain.gen_steps >= tokens / 4  # one token a row a step (4 rows at most)
    assert drafted.gen_steps < plain.gen_steps
    assert {v[-1] for v in drafted._variants if v[0] == "decode"} == {3}


def test_lookahead_stops_at_eos_and_limits_inside_a_step(llama_dir, single_mesh, hf_llama):
    """An EOS or the token limit reached within a step's accepted drafts ends the row right there."""
    probe = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=2, gen_lookahead=0)
    refs = [reference(hf_llama, probe.tokenizer, p, 20) for p in PROMPTS]
    eos = refs[3][9]
    engine = Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=2, eos_token_ids=[eos], gen_lookahead=5)
    ids = engine.generate_token_ids([(p, {"max_gen_toks": 20 - i}) for i, p in enumerate(PROMPTS)])
    for i, (got, ref) in enumerate(zip(ids, refs)):
        ref = ref[: 20 - i]
        assert got == (ref[: ref.index(eos) + 1] if eos in ref else ref), f"prompt {i}"
