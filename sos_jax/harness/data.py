"""Loads a task's documents: from the hub, from a local folder, or from the built-in samples.

All three go through `datasets.load_dataset`: the hub path with the task's dataset id / config /
split, the others with the `json` builder over `<root>/<owner>__<name>/<config or default>/
<split>.jsonl` (the layout of `sos_jax/tasks/sample_data`). Built-in samples are documents written
for this project in the real datasets' schemas, a few per task: enough to exercise every prompt
path and metric, never enough for a real score.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Any

from sos_jax.tasks.task import Task

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "tasks" / "sample_data"
SOURCES = ("hub", "sample", "local")


@dataclasses.dataclass(frozen=True)
class TaskDocs:
    """A task's evaluation documents (processed, limited) and its few-shot pool."""

    docs: list[dict]
    fewshot_pool: list[dict]
    n_original: int


def local_path(root: str | os.PathLike, task: Task, split: str) -> Path:
    """Returns where a local/sample copy of `task`'s `split` lives under `root`."""
    return Path(root) / task.dataset_path.replace("/", "__") / (task.dataset_name or "default") / f"{split}.jsonl"


@functools.lru_cache(maxsize=512)
def _load_json(path: str, mtime_ns: int, size: int) -> tuple[dict, ...]:
    # (mtime, size) in the key: an edited file is read again.
    import datasets

    ds = datasets.load_dataset("json", data_files=path, split="train", keep_in_memory=True)
    return tuple(ds.to_list())


def load_split(task: Task, split: str, source: str = "sample", root: str | os.PathLike | None = None) -> list[dict]:
    """Returns the raw documents of `task`'s `split` from `source` ("hub", "sample" or "local")."""
    if source not in SOURCES:
        raise ValueError(f"data source must be one of {SOURCES}, got {source!r}")
    if source == "hub" or task.dataset_kwargs:
        # A task that declares its own files (custom tasks) always reads them.
        import datasets

        ds = datasets.load_dataset(task.dataset_path, task.dataset_name, split=split, **(task.dataset_kwargs or {}))
        return ds.to_list()
    if source == "local" and root is None:
        raise ValueError("data source 'local' needs a data_dir")
    path = local_path(SAMPLE_ROOT if source == "sample" else root, task, split)
    if not path.is_file():
        raise FileNotFoundError(
            f"task {task.name!r}: no {source} data for split {split!r}: expected {path}"
        )
    stat = path.stat()
    return [dict(d) for d in _load_json(str(path), stat.st_mtime_ns, stat.st_size)]


def load_task_docs(task: Task, source: str = "sample", root: str | os.PathLike | None = None,
                   limit: int | None = None) -> TaskDocs:
    """Returns `task`'s checked, processed documents (first `limit`) and few-shot pool."""
    raw = load_split(task, task.split, source, root)
    task.check_fields(raw, task.split)
    n_original = len(raw)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        raw = raw[:limit]
    docs = task.process_docs(raw) if task.process_docs else raw
    pool: list[dict[str, Any]] = []
    if task.num_fewshot and task.fewshot_samples is None:
        pool = load_split(task, task.fewshot_split, source, root)
        task.check_fields(pool, task.fewshot_split)
        if task.process_docs:
            pool = task.process_docs(pool)
    return TaskDocs(docs=docs, fewshot_pool=pool, n_original=n_original)
