"""SOS-Bench at full size: the loglikelihood work of the real suite, ours vs lm-eval's hf backend.

Workload: every multiple-choice task of SOS-Bench with its real document count, few-shot
structure and choice structure (`SUITE` below), and token lengths drawn from the per-task
statistics there; the text is synthetic (random words of the bench model's vocabulary, each one
token, so the token ids are exactly those the statistics ask for).

What is measured, in one run:
- `tokens_ours`: tokens the engine computes for the WHOLE workload (one engine call per task, as
  the harness makes them): each task's shared prefix once, then each document's own context once,
  then each choice's tokens (`pack_requests`, the engine's own packer, on the real requests).
- `tokens_lmeval`: tokens lm-eval's hf backend computes for the same requests with its logits
  cache on: its `Collator(group_by="contexts")` runs one forward per distinct
  `context + continuation[:-1]` (so single-token choices of one context share a forward, longer
  choices each get their own), each over the whole left-truncated input. Padding is counted on
  neither side; `row_fill` is the engine's real tokens over its padded row slots.
- `work_ratio` = tokens_lmeval / tokens_ours; `work_ratio_limit` = tokens_lmeval / the number of
  nodes of the token tries of every task's request inputs (each distinct token prefix computed
  once; the best any prefix sharing could do; tasks' inputs share no real prefix, since each
  starts with its own template). `compile_shapes_full_workload`: the kernel shapes the packer
  would ask for over the full workload.
- A stratified slice (`--fraction` of every task's documents, at least `--min_docs`) runs through
  our engine and through lm-eval's HFLM on the same requests: `speedup` = lm-eval's wall time
  over ours (warm: ours runs the slice once to compile, then is timed), `docs_per_s` ours warm,
  `compiles` the engine's compiled kernel shapes for the slice, `metrics_equal` = every
  loglikelihood within 1e-4 and every task's acc / acc_norm equal. `speedup_from_prefix_sharing`:
  the same engine with cross-document sharing off (warm) over ours, the measurement behind the
  mechanism.

The model is a small random Llama (256 hidden, 4 layers, 8192 vocab, 4096 positions), float32 on
CPU, so a slice of ~100k tokens runs in minutes on two shared cores.

Last line: {"tokens_ours", "tokens_lmeval", "work_ratio", "work_ratio_limit", "row_fill",
"compiles", "docs_per_s", "speedup", "metrics_equal", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass(frozen=True)
class TaskShape:
    """One task's shape: documents, shared prefix, per-document tokens and choices."""

    name: str
    docs: int  # documents evaluated (SOS-Bench W&B logs)
    shared: int  # tokens every document starts with: description, instruction template, shots
    question: tuple[int, int]  # (mean, sd) tokens of a document's own context
    choices: int  # choices per document
    choice_tokens: tuple[int, int]  # (mean, sd) tokens per choice; (1, 0) = single-token letters
    fixed_choices: bool  # the same choice strings for every document (letters, yes/no)


# Document counts: the W&B-implied n of the SOS-Bench runs (anchors TASKS.md: safety table §2.1,
# BBQ §3, WMDP §4, BBH §5.2, GPQA §5.3, MMLU-Pro §5.4, MuSR §5.5). Shot counts and prompt/choice
# formats: the tasks' YAMLs as described there (MMLU-Pro 5-shot of the first 5 validation rows
# for every document; BBH 3 fixed shots per task; the rest 0-shot with a fixed instruction
# template or description). Token lengths (Llama-tokenizer tokens) are ESTIMATES from the
# datasets' published descriptions (MMLU-Pro: ~10 options of a few words; MuSR: ~1,000-word
# murder-mystery narratives, shorter placement/allocation stories; JailbreakHub: long role-play
# prompts; BBH: the standard 3-shot exemplars), not counts over the data, which this machine
# cannot download. The sharing structure, which decides the ratios, is exact.
_BBH = [
    ("boolean_expressions", 250, 2, 1), ("causal_judgement", 187, 2, 1), ("date_understanding", 250, 6, 3),
    ("disambiguation_qa", 250, 3, 3), ("formal_fallacies", 250, 2, 1), ("geometric_shapes", 250, 11, 3),
    ("hyperbaton", 250, 2, 3), ("logical_deduction_three_objects", 250, 3, 3),
    ("logical_deduction_five_objects", 250, 5, 3), ("logical_deduction_seven_objects", 250, 7, 3),
    ("movie_recommendation", 250, 6, 3), ("navigate", 250, 2, 1), ("object_counting", 250, 19, 1),
    ("penguins_in_a_table", 146, 5, 3), ("reasoning_about_colored_objects", 250, 18, 3), ("ruin_names", 250, 6, 3),
    ("salient_translation_error_detection", 250, 6, 3), ("snarks", 178, 2, 3), ("sports_understanding", 250, 2, 1),
    ("temporal_sequences", 250, 4, 3), ("tracking_shuffled_objects_three_objects", 250, 3, 3),
    ("tracking_shuffled_objects_five_objects", 250, 5, 3), ("tracking_shuffled_objects_seven_objects", 250, 7, 3),
    ("web_of_lies", 250, 2, 1),
]
_BBH_LEN = {  # (3-shot prefix incl. description, question) tokens, estimated
    "boolean_expressions": (110, 20), "causal_judgement": (750, 220), "date_understanding": (420, 100),
    "disambiguation_qa": (560, 130), "formal_fallacies": (700, 170), "geometric_shapes": (850, 200),
    "hyperbaton": (320, 70), "logical_deduction_three_objects": (620, 130),
    "logical_deduction_five_objects": (780, 180), "logical_deduction_seven_objects": (900, 230),
    "movie_recommendation": (420, 90), "navigate": (230, 60), "object_counting": (190, 45),
    "penguins_in_a_table": (950, 250), "reasoning_about_colored_objects": (650, 160), "ruin_names": (360, 80),
    "salient_translation_error_detection": (1150, 300), "snarks": (360, 80), "sports_understanding": (110, 25),
    "temporal_sequences": (820, 230), "tracking_shuffled_objects_three_objects": (640, 150),
    "tracking_shuffled_objects_five_objects": (800, 200), "tracking_shuffled_objects_seven_objects": (950, 250),
    "web_of_lies": (330, 80),
}
_BBQ = [("age", 3680), ("disabilitystatus", 1556), ("genderidentity", 5672), ("nationality", 3080),
        ("physicalappearance", 1576), ("raceethnicity", 6880), ("racexses", 11160), ("racexgender", 15960),
        ("religion", 1200), ("ses", 6864), ("sexualorientation", 864)]

SUITE: list[TaskShape] = (
    [TaskShape("leaderboard_mmlu_pro", 12032, 1150, (230, 90), 10, (1, 0), True)]
    + [TaskShape(f"leaderboard_bbh_{n}", d, _BBH_LEN[n][0], (_BBH_LEN[n][1], _BBH_LEN[n][1] // 4), c, (t, 0), True)
       for n, d, c, t in _BBH]
    + [TaskShape(f"leaderboard_gpqa_{n}", d, 12, (280, 120), 4, (3, 0), True)
       for n, d in (("diamond", 198), ("extended", 546), ("main", 448))]
    + [TaskShape("leaderboard_musr_murder_mysteries", 250, 0, (1300, 200), 2, (4, 1), False),
       TaskShape("leaderboard_musr_object_placements", 256, 0, (850, 150), 5, (3, 1), False),
       TaskShape("leaderboard_musr_team_allocation", 250, 0, (700, 120), 3, (12, 3), False)]
    + [TaskShape(f"bbq_{n}", d, 60, (95, 30), 3, (4, 2), False) for n, d in _BBQ]
    + [TaskShape(f"wmdp_{n}", d, 16, q, 4, (1, 0), True)
       for n, d, q in (("bio", 1273, (90, 50)), ("chem", 408, (75, 40)), ("cyber", 1987, (280, 300)))]
    + [TaskShape("BeaverTailsEval", 700, 30, (25, 15), 2, (1, 0), True),
       TaskShape("CDNA", 2726, 30, (35, 15), 2, (1, 0), True),
       TaskShape("DTToxicity", 2396, 30, (28, 10), 2, (1, 0), True),
       TaskShape("JailbreakHub", 15140, 30, (420, 380), 2, (1, 0), True),
       TaskShape("SaladBench", 3840, 0, (140, 60), 4, (18, 8), False),
       TaskShape("SGXSTest", 200, 30, (18, 8), 2, (2, 0), True),
       TaskShape("StrongREJECT", 313, 30, (70, 50), 2, (1, 0), True),
       TaskShape("toxigen", 940, 25, (25, 10), 2, (1, 0), True),
       TaskShape("WildGuardTest", 1725, 30, (160, 200), 2, (2, 0), True),
       TaskShape("xstest", 450, 30, (15, 6), 2, (2, 0), True)]
)
MAX_LENGTH = 4096  # the bench model's context; the longest synthetic input stays below it


def clean_words(tokenizer) -> np.ndarray:
    """Returns token ids that are one space-led word each and re-encode to themselves alone, so a
    text made of them encodes to exactly its ids (byte-level BPE splits before each space)."""
    ids = []
    for t in range(len(tokenizer)):
        text = tokenizer.decode([t])
        if len(text) >= 3 and text[0] == " " and text[1:].isalpha() and tokenizer.encode(text) == [t]:
            ids.append(t)
    return np.asarray(ids)


def lengths(rng, mean_sd: tuple[int, int], n: int, lo: int = 1, hi: int = 3000) -> np.ndarray:
    """Returns n token lengths, log-normal with the given mean and sd (long tails, as prompts have)."""
    mean, sd = mean_sd
    if sd == 0:
        return np.full(n, mean)
    sigma2 = np.log1p((sd / mean) ** 2)
    return np.clip(np.round(rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), n)), lo, hi).astype(int)


def make_task(shape: TaskShape, words: np.ndarray, seed: int) -> list[dict]:
    """Returns the task's documents as token ids: shared prefix + own context, choices, gold."""
    rng = np.random.default_rng(seed)
    shared = rng.choice(words, shape.shared).tolist()
    fixed = [rng.choice(words, shape.choice_tokens[0]).tolist() for _ in range(shape.choices)]
    docs = []
    for q in lengths(rng, shape.question, shape.docs):
        if shape.fixed_choices:
            choices = fixed
        else:
            choices = [rng.choice(words, n).tolist() for n in lengths(rng, shape.choice_tokens, shape.choices)]
        docs.append({"context": shared + rng.choice(words, q).tolist(), "choices": choices,
                     "gold": int(rng.integers(shape.choices))})
    return docs


def task_pairs(docs: list[dict]):
    from sos_jax.engine.requests import truncate_pair

    return [truncate_pair(d["context"], c, MAX_LENGTH) for d in docs for c in d["choices"]]


def lmeval_tokens(pairs) -> int:
    """Returns the tokens lm-eval's hf backend computes: one forward per distinct
    context + continuation[:-1] (its logits-cache grouping), each over the truncated input."""
    seen = set()
    total = 0
    for p in pairs:
        key = p.context + p.continuation[:-1]
        if key not in seen:
            seen.add(key)
            total += len(key)
    return total


def trie_nodes(sequences) -> int:
    """Returns the number of distinct non-empty prefixes of `sequences` (token-trie nodes)."""
    from sos_jax.engine.packing import _common_prefix_length

    order = sorted(set(sequences))
    total, prev = 0, ()
    for s in order:
        total += len(s) - _common_prefix_length(prev, s)
        prev = s
    return total


def texts(tokenizer, docs: list[dict]) -> list[tuple[str, str]]:
    return [(tokenizer.decode(d["context"]), tokenizer.decode(c)) for d in docs for c in d["choices"]]


def task_metrics(docs: list[dict], results, tokenizer) -> dict:
    from sos_jax.engine import multiple_choice_metrics

    accs, norms, i = [], [], 0
    for d in docs:
        k = len(d["choices"])
        lls = [r[0] for r in results[i : i + k]]
        m = multiple_choice_metrics(lls, [tokenizer.decode(c).lstrip() for c in d["choices"]], d["gold"])
        accs.append(m["acc"])
        norms.append(m["acc_norm"])
        i += k
    return {"acc": float(np.mean(accs)), "acc_norm": float(np.mean(norms))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.001, help="share of each task's documents run")
    parser.add_argument("--min_docs", type=int, default=2)
    parser.add_argument("--lmeval_batch_size", type=int, default=16)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    import jax

    from jaxrun import make_mesh
    from sos_jax.engine import Engine
    from sos_jax.engine.packing import MIN_ROW_LEN, bucket_length, next_power_of_two, pack_requests
    from sos_jax.models.random_init import write_random_checkpoint

    work = Path(args.workdir or tempfile.mkdtemp(prefix="suite_at_scale_"))
    model_dir = work / "llama_small"
    if not (model_dir / "config.json").exists():
        write_random_checkpoint(model_dir, model_type="llama", preset="bench25m", seed=0, hidden_size=256,
                                num_hidden_layers=4, intermediate_size=688, num_attention_heads=4,
                                num_key_value_heads=2, max_position_embeddings=MAX_LENGTH)
    engine = Engine.from_pretrained(str(model_dir), make_mesh())
    tok = engine.tokenizer
    words = clean_words(tok)
    print(f"model: {engine.cfg.hidden_size} hidden, {engine.cfg.num_layers} layers, vocab {engine.cfg.vocab_size}; "
          f"{len(words)} one-token words; devices {jax.devices()}; load avg {os.getloadavg()}", flush=True)

    # --- full workload: token counts (no model run)
    t0 = time.perf_counter()
    tasks = {s.name: make_task(s, words, seed) for seed, s in enumerate(SUITE)}
    ours = lm = padded = in_rows = limit_nodes = 0
    shapes = set()
    for s in SUITE:
        pairs = task_pairs(tasks[s.name])
        packed = pack_requests(pairs, max_length=engine.max_length, max_batch_tokens=engine.max_batch_tokens)
        ours += packed.real_tokens + packed.prefix_tokens
        padded += packed.num_rows * packed.tokens.shape[1]
        in_rows += packed.real_tokens
        lm += lmeval_tokens(pairs)
        # Per task: different tasks' inputs share at most a coincidental first word.
        limit_nodes += trie_nodes([p.context + p.continuation[:-1] for p in pairs])
        shapes.add(("score", packed.tokens.shape, packed.score_pos.shape[1:]))
        for (_, size), chunk in zip(packed.batches, packed.batch_prefixes):
            prefix = () if not chunk else (
                next_power_of_two(len(chunk)), bucket_length(max(len(packed.prefixes[c]) for c in chunk), MIN_ROW_LEN))
            shapes.add((size, packed.tokens.shape[1], packed.score_pos.shape[1:]) + prefix)
            if chunk:
                shapes.add(("prefix",) + prefix)
    n_docs = sum(s.docs for s in SUITE)
    n_requests = sum(s.docs * s.choices for s in SUITE)
    print(f"full workload: {len(SUITE)} tasks, {n_docs} documents, {n_requests} requests; "
          f"tokens ours {ours:,}, lm-eval {lm:,}, trie {limit_nodes:,} ({time.perf_counter() - t0:.0f}s to count)",
          flush=True)

    # --- measured slice: ours (compile run, then timed) and lm-eval on the same requests
    rng = np.random.default_rng(0)
    slice_docs = {}
    for s in SUITE:
        k = max(args.min_docs, int(round(args.fraction * s.docs)))
        idx = np.sort(rng.choice(s.docs, k, replace=False))
        slice_docs[s.name] = [tasks[s.name][i] for i in idx]
    slice_requests = {name: texts(tok, docs) for name, docs in slice_docs.items()}
    sample = slice_requests[SUITE[0].name][0]
    if tok.encode(sample[0] + sample[1]) != slice_docs[SUITE[0].name][0]["context"] + slice_docs[SUITE[0].name][0]["choices"][0]:
        raise RuntimeError("synthetic text does not re-encode to its token ids")
    n_slice = sum(len(d) for d in slice_docs.values())
    n_req = sum(len(r) for r in slice_requests.values())

    def run_ours():
        return {name: engine.loglikelihood(reqs) for name, reqs in slice_requests.items()}

    t = time.perf_counter()
    run_ours()
    cold = time.perf_counter() - t
    t = time.perf_counter()
    ours_res = run_ours()
    ours_s = time.perf_counter() - t
    print(f"slice: {n_slice} documents, {n_req} requests; ours cold {cold:.1f}s, warm {ours_s:.1f}s, "
          f"{engine.num_compilations} kernel shapes; load avg {os.getloadavg()}", flush=True)

    # The mechanism's own measurement: the same engine with cross-document sharing off (each
    # document's whole context laid out in its rows, the engine before shared prefixes).
    plain = Engine.from_pretrained(str(model_dir), make_mesh(), min_shared_prefix=None)
    for reqs in slice_requests.values():
        plain.loglikelihood(reqs)
    t = time.perf_counter()
    for reqs in slice_requests.values():
        plain.loglikelihood(reqs)
    plain_s = time.perf_counter() - t
    print(f"ours without cross-document sharing: warm {plain_s:.1f}s; load avg {os.getloadavg()}", flush=True)

    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    hflm = HFLM(pretrained=str(model_dir), device="cpu", dtype="float32", batch_size=args.lmeval_batch_size)
    flat = [(name, r) for name, reqs in slice_requests.items() for r in reqs]
    t = time.perf_counter()
    theirs_flat = hflm.loglikelihood([Instance("loglikelihood", {}, r, i) for i, (_, r) in enumerate(flat)],
                                     disable_tqdm=True)
    lm_s = time.perf_counter() - t
    print(f"lm-eval hf: {lm_s:.1f}s; load avg {os.getloadavg()}", flush=True)

    theirs, i = {}, 0
    for name, reqs in slice_requests.items():
        theirs[name] = theirs_flat[i : i + len(reqs)]
        i += len(reqs)
    max_diff = max(abs(a[0] - b[0]) for name in ours_res for a, b in zip(ours_res[name], theirs[name]))
    metrics_equal = max_diff < 1e-4 and all(
        task_metrics(slice_docs[n], ours_res[n], tok) == task_metrics(slice_docs[n], theirs[n], tok) for n in ours_res
    )
    result = {
        "tokens_ours": ours,
        "tokens_lmeval": lm,
        "work_ratio": round(lm / ours, 3),
        "work_ratio_limit": round(lm / limit_nodes, 3),
        "row_fill": round(in_rows / padded, 3),
        "compiles": engine.num_compilations,
        "compile_shapes_full_workload": len(shapes),
        "docs_per_s": round(n_slice / ours_s, 2),
        "speedup": round(lm_s / ours_s, 3),
        "speedup_cold": round(lm_s / cold, 3),
        "speedup_from_prefix_sharing": round(plain_s / ours_s, 3),
        "metrics_equal": bool(metrics_equal),
        "max_abs_ll_diff": float(max_diff),
        "documents": n_docs,
        "slice_documents": n_slice,
        "fraction": args.fraction,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
