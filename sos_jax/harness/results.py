"""The results store: per-task files that mark completion, and lm-eval-compatible outputs.

Layout under a model's directory (`<workdir>/<model slug>/`):

- `tasks/<task>.json`: one task's metrics, config and config hash, written atomically LAST, after
  its samples; its presence with a matching hash is what "complete" means, so a run killed at
  any point loses at most the task in progress and never leaves a partial file read as complete.
- `samples_<task>.jsonl`: per-document log (lm-eval's `--log_samples` fields).
- `results_<config hash>.json`: lm-eval's aggregate file (`results`, `groups`, `group_subtasks`,
  `configs`, `versions`, `n-shot`, `higher-is-better`, `n-samples`), one per model and config,
  rewritten after every task; `"partial": true` until every selected task is in.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from jaxrun import atomic_write_json, atomic_write_text


def model_slug(model: str) -> str:
    """Returns a directory name for a model id or path, as lm-eval sanitises it (`/` -> `__`)."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "__", model.strip("/").replace("/", "__")) or "model"


def stable_hash(obj: Any) -> str:
    """Returns a short sha256 of `obj`'s canonical JSON."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class ResultsStore:
    """Reads and writes one model's results directory (writes only when `writable`)."""

    def __init__(self, root: str | Path, writable: bool = True):
        self.root = Path(root)
        self.writable = writable

    def task_file(self, task: str) -> Path:
        return self.root / "tasks" / f"{task}.json"

    def completed(self, task: str, config_hash: str) -> dict | None:
        """Returns the stored record of `task` if complete for `config_hash`, else None."""
        path = self.task_file(task)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        if record.get("config_hash") != config_hash or not record.get("complete"):
            return None
        return record

    def write_task(self, record: Mapping[str, Any], samples: Iterable[Mapping[str, Any]]) -> None:
        """Writes the samples, then the task record that marks the task complete."""
        if not self.writable:
            return
        lines = "".join(json.dumps(s, ensure_ascii=False, default=_default) + "\n" for s in samples)
        atomic_write_text(self.root / f"samples_{record['task']}.jsonl", lines)
        atomic_write_json(self.task_file(record["task"]), {**record, "complete": True})

    def write_results(self, name: str, payload: Mapping[str, Any]) -> Path:
        """Writes `results_<name>.json` atomically and returns its path."""
        path = self.root / f"results_{name}.json"
        if self.writable:
            atomic_write_json(path, dict(payload))
        return path


def _default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, (np.floating, np.integer, np.bool_)):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


def build_results(records: Mapping[str, Mapping[str, Any]], group_defs: Mapping[str, tuple], model: str,
                  extra_config: Mapping[str, Any]) -> dict[str, Any]:
    """Returns lm-eval's aggregate results dict for the completed task `records` (in order)."""
    from sos_jax.harness.scoring import aggregate_group

    results: dict[str, Any] = {}
    for name, rec in records.items():
        results[name] = {"alias": name, **rec["metrics"]}
    sizes = {name: rec["n_samples"]["effective"] for name, rec in records.items()}
    groups_out: dict[str, Any] = {}
    group_subtasks: dict[str, list[str]] = {}

    def leaves(g: str) -> list[str]:
        out = []
        for m in group_defs[g][0]:
            out += leaves(m) if m in group_defs else [m]
        return out

    for g, (members, agg) in group_defs.items():
        present = [m for m in members if m in records or (m in group_defs and any(x in records for x in leaves(m)))]
        if not present:
            continue
        group_subtasks[g] = present
        if agg:
            leaf = {t: results[t] for t in leaves(g) if t in records}
            groups_out[g] = {"alias": g, **aggregate_group(agg, leaf, sizes)}
    return {
        "results": {**groups_out, **results},
        "groups": groups_out,
        "group_subtasks": group_subtasks,
        "configs": {name: rec["config"] for name, rec in records.items()},
        "versions": {name: rec["config"]["metadata"]["version"] for name, rec in records.items()},
        "n-shot": {name: rec["config"]["num_fewshot"] for name, rec in records.items()},
        "higher_is_better": {
            name: {m["metric"]: m["higher_is_better"] for m in rec["config"]["metric_list"]}
            for name, rec in records.items()
        },
        "n-samples": {name: rec["n_samples"] for name, rec in records.items()},
        "config": {"model": "sos_jax", "model_args": f"pretrained={model}", **dict(extra_config)},
        "model_name": model,
    }
