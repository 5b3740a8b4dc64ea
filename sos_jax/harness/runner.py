"""Runs SOS-Bench tasks through a language model and writes lm-eval-compatible, resumable results.

`evaluate_model` takes one loaded model (anything implementing `LanguageModel`) through the
selected tasks: per task it loads the documents, builds every request (few-shot context, choices
or generation settings), sends them ALL in one engine call (the engine sorts and buckets them),
scores, aggregates and writes the task atomically. A task already complete for the same model and
config hash is read back instead of rerun. `run_suite` does that for a list of models one after
another and writes a summary table across them.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from jaxrun import atomic_write_json, atomic_write_text, is_main_process, log_progress
from sos_jax.harness.config import EvalSettings
from sos_jax.harness.data import TaskDocs, load_task_docs
from sos_jax.harness.lm import LanguageModel
from sos_jax.harness.results import ResultsStore, build_results, model_slug, stable_hash
from sos_jax.harness.scoring import aggregate_task, score_multiple_choice
from sos_jax.tasks.registry import Registry, default_registry
from sos_jax.tasks.task import Task

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TaskRun:
    """One task's outcome: the stored record and whether it was reused from an earlier run."""

    record: dict[str, Any]
    reused: bool
    seconds: float = 0.0


def _hash_string(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def build_requests(task: Task, task_docs: TaskDocs, lm: LanguageModel | None, settings: EvalSettings) -> list[list]:
    """Returns, per document, its request argument tuples (one per choice, or one generation)."""
    chat = lm.apply_chat_template if (settings.apply_chat_template and lm is not None) else None
    shots = task.shots_for(task_docs.docs, task_docs.fewshot_pool, seed=settings.fewshot_seed)
    out = []
    for doc, doc_shots in zip(task_docs.docs, shots):
        ctx = task.context(doc, doc_shots, chat_template=chat)
        if task.output_type == "multiple_choice":
            out.append([(ctx, cont) for cont in task.continuations(doc, chat=chat is not None)])
        else:
            kwargs = copy.deepcopy(dict(task.generation_kwargs))
            if settings.max_gen_toks is not None:
                kwargs["max_gen_toks"] = min(int(kwargs.get("max_gen_toks", settings.max_gen_toks)),
                                             settings.max_gen_toks)
            out.append([(ctx, kwargs)])
    return out


def evaluate_task(lm: LanguageModel, task: Task, task_docs: TaskDocs, settings: EvalSettings
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Returns (aggregated metrics, per-document sample log) for one task, in one engine call."""
    per_doc_requests = build_requests(task, task_docs, lm, settings)
    flat = [r for reqs in per_doc_requests for r in reqs]
    if task.output_type == "multiple_choice":
        responses = list(lm.loglikelihood(flat))
    else:
        responses = list(lm.generate_until(flat))
    if len(responses) != len(flat):
        raise RuntimeError(f"task {task.name!r}: the model answered {len(responses)} of {len(flat)} requests")
    per_doc, samples, i = [], [], 0
    for doc_id, (doc, reqs) in enumerate(zip(task_docs.docs, per_doc_requests)):
        resps = responses[i:i + len(reqs)]
        i += len(reqs)
        if task.output_type == "multiple_choice":
            resps = [(float(ll), bool(g)) for ll, g in resps]
            metrics = score_multiple_choice(task, doc, resps)
            filtered = resps
        else:
            metrics = task.process_results(doc, resps[0])
            filtered = resps
        per_doc.append(metrics)
        if settings.log_samples:
            target = task.doc_to_target(doc)
            samples.append({
                "doc_id": doc_id,
                "doc": doc,
                "target": target,
                "arguments": {f"gen_args_{k}": {"arg_0": a[0], "arg_1": a[1]} for k, a in enumerate(reqs)},
                "resps": [[list(r)] if isinstance(r, tuple) else [r] for r in resps],
                "filtered_resps": [list(r) if isinstance(r, tuple) else r for r in filtered],
                "filter": "none",
                "metrics": [m.name for m in task.metrics],
                "doc_hash": _hash_string(json.dumps(doc, indent=2, default=str, ensure_ascii=False)),
                "prompt_hash": _hash_string(reqs[0][0]),
                "target_hash": _hash_string(str(target)),
                **metrics,
            })
    return aggregate_task(task, per_doc), samples


def evaluate_model(lm: LanguageModel, model: str, settings: EvalSettings, workdir: str | Path,
                   writer: Any = None, run_name: str | None = None,
                   registry: Registry | None = None) -> dict[str, Any]:
    """Returns lm-eval's results dict for `model` over the selected tasks, written under workdir.

    Results go to `<workdir>/<model slug>/`; tasks complete for the same config hash are reused.
    Only the main process writes; every process runs the same requests. Task names resolve in
    `registry` (default: SOS-Bench's).
    """
    registry = registry or default_registry()
    names = registry.resolve(settings.tasks)
    if not names:
        raise ValueError("no tasks selected: pass task, group or tag names (e.g. 'sos', 'leaderboard,safety')")
    store = ResultsStore(Path(workdir) / model_slug(model), writable=is_main_process())
    # One results file per model and config: a rerun (or a resumed kill) replaces it instead of
    # adding another next to it; it says "partial": true until every selected task is in.
    run_name = run_name or stable_hash({"tasks": names, "settings": settings.hashed()})
    loaded = {n: load_task_docs(registry.task(n), settings.data_source, settings.data_dir, settings.limit) for n in names}
    total = sum(len(td.docs) for td in loaded.values())
    records: dict[str, dict[str, Any]] = {}
    extra = {"settings": settings.hashed()}
    log.info("%s: %d tasks, %d documents", model, len(names), total)
    with log_progress(f"sos_eval {model}", total, unit="docs", every_s=0.0) as advance:
        for name in names:
            task, task_docs = registry.task(name), loaded[name]
            run = _run_task(lm, model, task, task_docs, settings, store)
            records[name] = run.record
            if not run.reused:
                rate = len(task_docs.docs) / max(run.seconds, 1e-9)
                log.info("%s / %s: %d docs in %.1fs (%.1f docs/s)", model, name, len(task_docs.docs), run.seconds, rate)
                if writer is not None:
                    writer.scalars(0, {f"{name}/{k.split(',')[0]}": v for k, v in run.record["metrics"].items()
                                       if "_stderr" not in k and isinstance(v, (int, float))})
                    writer.flush()
            else:
                log.info("%s / %s: complete for this config, reused", model, name)
            advance(len(task_docs.docs))
            payload = build_results(records, registry.groups(), model, extra)
            payload["partial"] = len(records) < len(names)
            store.write_results(run_name, payload)
    if writer is not None:
        for g, res in payload["groups"].items():
            writer.scalars(0, {f"{g}/{k.split(',')[0]}": v for k, v in res.items()
                               if "," in k and "_stderr" not in k and isinstance(v, (int, float))})
        writer.flush()
    return payload


def _run_task(lm: LanguageModel, model: str, task: Task, task_docs: TaskDocs, settings: EvalSettings,
              store: ResultsStore) -> TaskRun:
    config = task.spec()
    config_hash = stable_hash({
        "model": model, "task": config, "settings": settings.hashed(),
        "docs": stable_hash(task_docs.docs), "pool": stable_hash(task_docs.fewshot_pool),
    })
    done = store.completed(task.name, config_hash)
    if done is not None:
        return TaskRun(done, reused=True)
    start = time.perf_counter()
    metrics, samples = evaluate_task(lm, task, task_docs, settings)
    seconds = time.perf_counter() - start
    record = {
        "task": task.name,
        "model": model,
        "config_hash": config_hash,
        "config": config,
        "metrics": metrics,
        "n_samples": {"original": task_docs.n_original, "effective": len(task_docs.docs)},
        "seconds": seconds,
    }
    store.write_task(record, samples)
    return TaskRun(record, reused=False, seconds=seconds)


def summary_rows(all_results: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Returns (header, rows): one row per model, one column per task/group main metric."""
    columns: list[tuple[str, str]] = []
    for res in all_results.values():
        for name, entry in res["results"].items():
            main = next((k for k in entry if "," in k and "_stderr" not in k), None)
            if main and (name, main) not in columns:
                columns.append((name, main))
    header = ["model"] + [f"{n}/{k.split(',')[0]}" for n, k in columns]
    rows = [[model] + [res["results"].get(n, {}).get(k, "") for n, k in columns] for model, res in all_results.items()]
    return header, rows


def write_summary(workdir: str | Path, all_results: Mapping[str, Mapping[str, Any]]) -> Path:
    """Writes `summary.json` and `summary.md` (models x task metrics) under workdir; returns the .md path."""
    header, rows = summary_rows(all_results)
    path = Path(workdir) / "summary.md"
    if is_main_process():
        atomic_write_json(Path(workdir) / "summary.json", {"header": header, "rows": rows})
        fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
        atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def run_suite(models: Sequence[str], settings: EvalSettings, workdir: str | Path,
              load_model: Callable[[str], LanguageModel],
              writer_factory: Callable[[Path], Any] | None = None,
              registry: Registry | None = None) -> dict[str, dict[str, Any]]:
    """Returns {model: results} after evaluating each model in turn and writing the summary.

    `load_model(model)` is called once per model (one at a time, so one model is in memory);
    `writer_factory(model_dir)` gives each model its TensorBoard writer; task names resolve in
    `registry` (default: SOS-Bench's, `with_custom_tasks` adds custom ones).
    """
    if not models:
        raise ValueError("run_suite needs at least one model")
    registry = registry or default_registry()
    registry.resolve(settings.tasks)  # fail on a bad task name before loading any model
    all_results: dict[str, dict[str, Any]] = {}
    for model in models:
        lm = load_model(model)
        writer = writer_factory(Path(workdir) / model_slug(model)) if writer_factory else None
        try:
            all_results[model] = evaluate_model(lm, model, settings, workdir, writer, registry=registry)
        finally:
            if writer is not None:
                writer.close()
        del lm
    path = write_summary(workdir, all_results)
    log.info("summary across %d models: %s", len(all_results), path)
    return all_results
