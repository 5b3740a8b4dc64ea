"""Whole-suite throughput: our runner + JAX engine vs `lm_eval --model hf`, same data, same run.

Both evaluate the built-in sample of every SOS-Bench task (63 tasks) with the engine issue's bench
model (a random ~25M-parameter Llama, `write_random_checkpoint(preset="bench25m")`), float32 on
CPU. lm-eval reads the same JSONL files through task YAMLs that include its shipped definitions
(or restate the fork's), built by `tests/sos_jax/lmeval_tasks.py`. Timed: model load + data load +
every request + scoring, cold (fresh compile caches) on each side.

Settings worth stating:
- Generation is capped at `--max_gen_toks` (default 64) on BOTH sides: a random model never emits
  EOS or "Problem:", so the tasks' own 1024/1280 would make this hours on a 2-core box.
- lm-eval scores MATH with its `process_result_v1` (`exact_match_original`, the later fix with a
  string-equality fallback); ours uses the SOS-era scoring. They differ only for an answer that is
  string-equal to the gold but unparseable by sympy, which a random model does not produce.
- lm-eval's batch size is `--lmeval_batch_size` (default 16; the reference used `auto`, which on
  CPU probes huge batches first). Our engine decodes up to `--gen_batch_size` rows at a time
  (default 16, the engine's default); a batch has only the power of two of rows it needs, so the
  sample's 2-document MATH tasks decode 2 rows.
- GPQA: the reference's answer order comes from the global RNG state of the process that ran it
  (not reproducible); lm-eval here gets the same per-task `random.Random(0)` order as ours.
- `metrics_equal`: every `<metric>,none` of every task within 1e-6 (lm-eval 0.4.13 also prints
  the HEAD-only group aggregates; only per-task numbers are compared).

Last line: {"ours_s", "lmeval_s", "speedup", "metrics_equal"}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# GPQA: the reference shuffles answers with the global RNG, whose state depends on everything that
# ran before in that process; both sides here use the documented per-task Random(0) order.
_GPQA_HELPER = '''
import random

import datasets
from lm_eval.tasks.leaderboard.gpqa import utils as _utils


def process_docs(dataset):
    rnd = random.Random(0)
    out = []
    for doc in dataset:
        correct = _utils.preprocess(doc["Correct Answer"])
        choices = [_utils.preprocess(doc[f"Incorrect Answer {i}"]) for i in (1, 2, 3)] + [correct]
        rnd.shuffle(choices)
        out.append({**doc, "choice1": choices[0], "choice2": choices[1], "choice3": choices[2],
                    "choice4": choices[3], "answer": f"({chr(65 + choices.index(correct))})"})
    return datasets.Dataset.from_list(out)
'''

_MATH_HELPER = '''
from lm_eval.tasks.leaderboard.math import utils as _utils


def process_results(doc, results):
    try:
        return {"exact_match": _utils.process_result_v1(doc, results[0])}
    except Exception:
        return {"exact_match": 0}
'''


def _prepare_lmeval_offline(tmp: Path) -> None:
    """lm-eval's IFEval needs NLTK punkt_tab (a download) and its MATH module imports math_verify."""
    import nltk

    from sos_jax.tasks.ifeval import sentences

    sentences.install_punkt_tab(str(tmp / "nltk"))
    nltk.data.path.insert(0, str(tmp / "nltk"))
    try:
        import math_verify  # noqa: F401
    except ImportError:
        stub = types.ModuleType("math_verify")
        stub.LatexExtractionConfig = stub.parse = stub.verify = None
        sys.modules["math_verify"] = stub


def write_lmeval_yamls(out: Path, names: list[str], max_gen_toks: int) -> dict[str, str]:
    """Returns {task: lm-eval task}; YAMLs over the built-in samples with the same generation cap."""
    import importlib.util

    from sos_jax.tasks import get_task

    # The YAML writer is a test helper shared with the prompt and metric comparisons in tests/.
    path = Path(__file__).resolve().parents[1] / "tests" / "sos_jax" / "lmeval_tasks.py"
    spec = importlib.util.spec_from_file_location("lmeval_tasks", path)
    lmeval_tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lmeval_tasks)
    write_task_yamls = lmeval_tasks.write_task_yamls

    mapping = write_task_yamls(out, names)
    (out / "bench_math.py").write_text(_MATH_HELPER)
    (out / "bench_gpqa.py").write_text(_GPQA_HELPER)
    for name, lm_name in mapping.items():
        task = get_task(name)
        if name.startswith("leaderboard_gpqa_"):
            path = out / f"{lm_name}.yaml"
            path.write_text(path.read_text() + "process_docs: !function bench_gpqa.process_docs\n")
        if task.output_type != "generate_until":
            continue
        gen = dict(task.generation_kwargs)
        gen["max_gen_toks"] = min(gen["max_gen_toks"], max_gen_toks)
        path = out / f"{lm_name}.yaml"
        extra = {"generation_kwargs": gen}
        import yaml

        text = path.read_text() + yaml.safe_dump(extra, sort_keys=False)
        if name.startswith("leaderboard_math_"):
            text += ("process_results: !function bench_math.process_results\n"
                     "metric_list:\n- metric: exact_match\n  aggregation: mean\n  higher_is_better: true\n")
        path.write_text(text)
    return mapping


def run_ours(model_dir: str, names: list[str], max_gen_toks: int, workdir: Path, gen_batch_size: int
             ) -> tuple[float, dict]:
    """Returns (seconds, results) for our runner over the built-in samples."""
    from jaxrun import make_mesh
    from sos_jax.harness.models import load_engine
    from sos_jax.harness.runner import EvalSettings, evaluate_model

    start = time.perf_counter()
    engine = load_engine(model_dir, make_mesh(), engine_kwargs={"gen_batch_size": gen_batch_size})
    results = evaluate_model(engine, model_dir, EvalSettings(tasks=tuple(names), max_gen_toks=max_gen_toks), workdir)
    seconds = time.perf_counter() - start
    print(f"ours: {seconds:.1f}s, {getattr(engine, 'num_compilations', '?')} compilations", flush=True)
    return seconds, results


def run_lmeval(model_dir: str, yaml_dir: Path, mapping: dict[str, str], batch_size: int) -> tuple[float, dict]:
    """Returns (seconds, results) for lm-eval's hf backend over the same documents."""
    import lm_eval
    import torch
    from lm_eval.tasks import TaskManager

    torch.set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model_dir},dtype=float32", tasks=list(mapping.values()),
        task_manager=TaskManager(include_path=str(yaml_dir), include_defaults=False), device="cpu",
        batch_size=batch_size, random_seed=0, numpy_random_seed=1234, torch_random_seed=1234,
        fewshot_random_seed=1234,
    )
    seconds = time.perf_counter() - start
    print(f"lm-eval hf: {seconds:.1f}s", flush=True)
    return seconds, out


def compare(ours: dict, theirs: dict, mapping: dict[str, str], tol: float = 1e-6) -> list[str]:
    """Returns the mismatching `task/metric` entries (empty when every per-task metric agrees)."""
    bad = []
    for name, lm_name in mapping.items():
        a, b = ours["results"][name], theirs["results"][lm_name]
        keys = [k for k in a if k.endswith(",none") and "_stderr" not in k]
        for k in keys:
            if k not in b or abs(float(a[k]) - float(b[k])) > tol:
                bad.append(f"{name}/{k}: ours {a[k]} lm-eval {b.get(k)}")
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="sos", help="task/group names (default: the whole suite)")
    parser.add_argument("--max_gen_toks", type=int, default=64)
    parser.add_argument("--lmeval_batch_size", type=int, default=16)
    parser.add_argument("--preset", default="bench25m")
    parser.add_argument("--gen_batch_size", type=int, default=16, help="most engine rows decoded together")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from sos_jax.models import write_random_checkpoint
    from sos_jax.tasks import resolve

    names = resolve(args.tasks)
    tmp = Path(tempfile.mkdtemp(prefix="suite_bench_"))
    model_dir = str(write_random_checkpoint(tmp / "model", model_type="llama", preset=args.preset, seed=0))
    _prepare_lmeval_offline(tmp)
    mapping = write_lmeval_yamls(tmp / "yaml", names, args.max_gen_toks)
    print(f"{len(names)} tasks, bench model {args.preset} at {model_dir}, max_gen_toks {args.max_gen_toks}", flush=True)

    ours_s, ours = run_ours(model_dir, names, args.max_gen_toks, tmp / "ours", args.gen_batch_size)
    lmeval_s, theirs = run_lmeval(model_dir, tmp / "yaml", mapping, args.lmeval_batch_size)
    bad = compare(ours, theirs, mapping)
    for line in bad[:20]:
        print("MISMATCH", line)
    n_docs = sum(v["effective"] for v in ours["n-samples"].values())
    print(f"{n_docs} documents: ours {ours_s:.1f}s ({n_docs / ours_s:.2f} docs/s), lm-eval {lmeval_s:.1f}s "
          f"({n_docs / lmeval_s:.2f} docs/s), ratio {lmeval_s / ours_s:.2f}x, {len(bad)} metric mismatches")
    print(json.dumps({"ours_s": round(ours_s, 2), "lmeval_s": round(lmeval_s, 2),
                      "speedup": round(lmeval_s / ours_s, 3), "metrics_equal": not bad}))


if __name__ == "__main__":
    main()
