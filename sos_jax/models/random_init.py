"""Deterministic random Hugging Face checkpoints written without torch, plus a locally trained tokenizer.

`write_random_checkpoint` produces a directory that both this package and `transformers` load:
config.json (written by transformers' own config class, so its layout is current), safetensors
weights written with numpy (optionally split into shards with an index), and a byte-level BPE
tokenizer trained with `tokenizers` (tokenizer.json + tokenizer_config.json for AutoTokenizer).
Weights follow transformers' initialisation: normal(0, init_std) matrices, norm weights 1, biases 0.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

from sos_jax.models.config import config_from_hf
from sos_jax.models.hf_weights import weight_sources

# Special tokens of the trained tokenizer: id 0 is BOS/EOS (GPT-2 style, no token added
# automatically when encoding), id 1 is padding.
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<pad>"

# Family-neutral sizes; mapped onto each family's config keys below.
PRESETS = {
    # Tests and the harness's embedded default: seconds to build, GQA for the llama-like families.
    "tiny": dict(hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, max_pos=512, vocab=512),
    # The engine benchmark: about 25M parameters (GQA Llama, untied head).
    "bench25m": dict(hidden=512, layers=6, heads=8, kv_heads=2, ffn=1408, max_pos=2048, vocab=8192),
}

# The transformers class that loads each family (lm-eval's hf backend reads it from config.json).
ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "gpt2": "GPT2LMHeadModel",
    "gpt_neox": "GPTNeoXForCausalLM",
}

_WORDS = (
    "the of and to in is was that for on as with by he she it they we you at from his her an which "
    "or be are this had not but were have one all their there been has when who will more no if out "
    "so said what up its about into than them can only other new some could time these two may then do "
    "first any my now such like our over man me even most made after also did many before must through "
    "back years where much your way well down should because each just those people how too little state "
    "good very make world still own see men work long get here between both life being under never day "
    "same another know while last might us great old year off come since against go came right used take "
    "three question answer choice correct because therefore water energy plant animal city river history "
    "science number reason system example result model language style substance quality helpful response"
).split()


def builtin_corpus(num_sentences: int = 4000, seed: int = 0) -> list[str]:
    """Returns deterministic pseudo-English sentences (words, digits, punctuation, newlines)."""
    rng = np.random.default_rng(seed)
    words = np.array(_WORDS)
    lines = []
    for i in range(num_sentences):
        n = int(rng.integers(4, 18))
        sent = " ".join(words[rng.integers(0, len(words), n)])
        sent = sent[0].upper() + sent[1:]
        tail = rng.choice([".", "?", "!", ",", ":"])
        if i % 7 == 0:
            sent += f" {int(rng.integers(0, 2000))}"
        if i % 11 == 0:
            sent = f"Question: {sent}?\nAnswer:"
        lines.append(sent + tail)
    return lines


def write_tokenizer(out_dir: str | os.PathLike, *, corpus: Iterable[str] | None = None, vocab_size: int = 512) -> Path:
    """Returns `out_dir` after training a byte-level BPE tokenizer there (tokenizer.json + config)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(builtin_corpus() if corpus is None else corpus), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS_TOKEN, eos_token=EOS_TOKEN, unk_token=EOS_TOKEN, pad_token=PAD_TOKEN
    )
    fast.save_pretrained(str(out_dir))
    return out_dir


def hf_config_dict(model_type: str, preset: str | dict, vocab_size: int, **overrides) -> dict:
    """Returns a transformers config.json dict for `model_type` at `preset` sizes."""
    from transformers import AutoConfig

    p = dict(PRESETS[preset]) if isinstance(preset, str) else dict(preset)
    special = dict(bos_token_id=0, eos_token_id=0, pad_token_id=1)
    if model_type in ("llama", "mistral", "qwen2"):
        kw = dict(
            vocab_size=vocab_size, hidden_size=p["hidden"], num_hidden_layers=p["layers"],
            num_attention_heads=p["heads"], num_key_value_heads=p["kv_heads"], intermediate_size=p["ffn"],
            max_position_embeddings=p["max_pos"], rms_norm_eps=1e-6, tie_word_embeddings=False,
        )
    elif model_type == "gpt2":
        kw = dict(vocab_size=vocab_size, n_embd=p["hidden"], n_layer=p["layers"], n_head=p["heads"],
                  n_positions=p["max_pos"], n_inner=p["ffn"])
    elif model_type == "gpt_neox":
        kw = dict(vocab_size=vocab_size, hidden_size=p["hidden"], num_hidden_layers=p["layers"],
                  num_attention_heads=p["heads"], intermediate_size=p["ffn"], max_position_embeddings=p["max_pos"],
                  rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False)
    else:
        raise ValueError(f"write_random_checkpoint supports llama, mistral, qwen2, gpt2, gpt_neox; got {model_type!r}")
    config = AutoConfig.for_model(model_type, **{**kw, **special, **overrides})
    config.architectures = [ARCHITECTURES[model_type]]
    return config.to_diff_dict()


def random_tensors(hf: dict, *, seed: int = 0, init_std: float = 0.02, dtype: str = "float32") -> dict[str, np.ndarray]:
    """Returns {HF tensor name: array} for config dict `hf`, initialised like transformers."""
    cfg = config_from_hf(hf)
    np_dtype = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}[dtype]
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}
    for path, source in weight_sources(cfg).items():
        if source.name in tensors:
            continue  # GPT-2's fused c_attn feeds three parameters
        if path[-1] == "bias":
            value = np.zeros(source.source_shape, np.float32)
        elif path[-2:-1] and path[-2] in ("attn_norm", "mlp_norm", "final_norm"):
            value = np.ones(source.source_shape, np.float32)
        else:
            value = rng.normal(0.0, init_std, source.source_shape).astype(np.float32)
        tensors[source.name] = value.astype(np_dtype)
    return tensors


def write_safetensors(out_dir: Path, tensors: dict[str, np.ndarray], num_shards: int = 1) -> None:
    """Writes `tensors` as model.safetensors, or as `num_shards` files plus model.safetensors.index.json."""
    meta = {"format": "pt"}  # transformers refuses safetensors files without it
    if num_shards <= 1:
        save_file(tensors, str(out_dir / "model.safetensors"), metadata=meta)
        return
    names = list(tensors)
    groups = np.array_split(np.arange(len(names)), num_shards)
    weight_map, total = {}, 0
    for i, group in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{num_shards:05d}.safetensors"
        part = {names[j]: tensors[names[j]] for j in group}
        save_file(part, str(out_dir / fname), metadata=meta)
        weight_map.update({n: fname for n in part})
        total += sum(a.nbytes for a in part.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def write_random_checkpoint(
    out_dir: str | os.PathLike,
    *,
    model_type: str = "llama",
    preset: str = "tiny",
    seed: int = 0,
    tokenizer_corpus: Iterable[str] | None = None,
    vocab_size: int | None = None,
    init_std: float = 0.02,
    dtype: str = "float32",
    num_shards: int = 1,
    **config_overrides,
) -> Path:
    """Returns `out_dir` holding a random HF checkpoint (config, safetensors, tokenizer) for `model_type`.

    The tokenizer is trained on `tokenizer_corpus` (a built-in pseudo-English corpus by default)
    with the preset's vocabulary size; the model's vocab_size is `vocab_size` or the preset's,
    never smaller than the tokenizer. `config_overrides` go to the transformers config.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = vocab_size or PRESETS[preset]["vocab"]
    # Build everything in a scratch directory beside out_dir, then move the files in with
    # os.replace, config.json last: a reader that finds config.json finds a complete checkpoint.
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-") as scratch:
        scratch = Path(scratch)
        write_tokenizer(scratch, corpus=tokenizer_corpus, vocab_size=size)
        from transformers import AutoTokenizer

        tok_len = len(AutoTokenizer.from_pretrained(str(scratch)))
        hf = hf_config_dict(model_type, preset, max(size, tok_len), **config_overrides)
        tensors = random_tensors(hf, seed=seed, init_std=init_std, dtype=dtype)
        hf["dtype"] = dtype
        write_safetensors(scratch, tensors, num_shards)
        (scratch / "config.json").write_text(json.dumps(hf, indent=2, sort_keys=True))
        for f in sorted(scratch.iterdir(), key=lambda f: f.name == "config.json"):
            os.replace(f, out_dir / f.name)
    return out_dir
