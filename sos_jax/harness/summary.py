"""summary.md of an evaluation run, laid out by factor: one table per factor (WK, IF, SAFE) with
its benchmarks as rows and the models as columns, then the tasks no factor scores.

A benchmark's value is the mean of its task metrics (weighted as the suite says, 1 - mean for
inverted ones), the same formula as `sos_jax.analysis.factors` without normalisation. A
size-weighted benchmark (BBQ, WMDP) shows the results' own group score when the run wrote one:
on a partial run it weights the subtasks by the documents actually evaluated. A benchmark with
only some subtasks shows `partial k/m` instead of a number that would not be comparable.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from sos_jax.tasks.suite import Benchmark
from sos_jax.tasks.task import FACTOR_LABELS, FACTORS


def _metric(res: Mapping[str, Any], column: str) -> float | None:
    task, _, metric = column.partition("/")
    v = res.get("results", {}).get(task, {}).get(f"{metric},none")
    return float(v) if isinstance(v, (int, float)) else None


def benchmark_value(res: Mapping[str, Any], b: Benchmark) -> tuple[float | None, str]:
    """Returns (value, note) of benchmark `b` in one model's results; value None when not computable."""
    vals = [_metric(res, c) for c in b.metrics]
    have = sum(v is not None for v in vals)
    group = _metric(res, b.group_metric) if b.group_metric else None
    if b.weights is not None and group is not None:
        v = group  # the results' own size-weighted group score
    elif have == len(vals):
        w = np.ones(len(vals)) if b.weights is None else np.asarray(b.weights, float)
        v = float(np.dot(w / w.sum(), vals))
    elif group is not None:
        v = group
    else:
        return None, (f"partial {have}/{len(vals)}" if have else "")
    return (1.0 - v if b.invert else v), ""


def summary_markdown(all_results: Mapping[str, Mapping[str, Any]], benchmarks: Sequence[Benchmark]) -> str:
    """Returns summary.md: per factor, benchmarks x models; then the remaining task metrics."""
    models = list(all_results)
    used_tasks = set()
    L = ["# Evaluation summary", "",
         "Benchmarks grouped by SOS-Bench factor; each cell is the benchmark score (0-1; WMDP as 1 - acc). "
         "Per-task metrics are in summary.json and each model's results file.", ""]
    head = "| benchmark | " + " | ".join(models) + " |"
    sep = "|---|" + "---|" * len(models)
    for f in FACTORS:
        rows = []
        for b in benchmarks:
            if b.factor != f:
                continue
            cells = [benchmark_value(all_results[m], b) for m in models]
            if all(v is None and not note for v, note in cells):
                continue  # no model ran this benchmark
            used_tasks |= {c.split("/", 1)[0] for c in b.metrics} | ({b.group_metric.split("/", 1)[0]}
                                                                     if b.group_metric else set())
            n_sub = len({c.split("/", 1)[0] for c in b.metrics})
            label = b.name + (f" ({n_sub} subtasks)" if n_sub > 1 else "")
            rows.append(f"| {label} | " + " | ".join(f"{v:.4f}" if v is not None else (note or "n/a")
                                                     for v, note in cells) + " |")
        if rows:
            L += [f"## {FACTOR_LABELS.get(f, f)} ({f.replace('_', ' ')})", "", head, sep, *rows, ""]
    rest = []
    for m in models:
        for task, entry in all_results[m].get("results", {}).items():
            if task in used_tasks:
                continue
            for k, v in entry.items():
                if "," in k and "_stderr" not in k and isinstance(v, (int, float)) and (task, k) not in rest:
                    rest.append((task, k))
    if rest:
        L += ["## Tasks outside the factors", "", "| task/metric | " + " | ".join(models) + " |", sep]
        for task, k in rest:
            cells = [all_results[m].get("results", {}).get(task, {}).get(k) for m in models]
            L.append(f"| {task}/{k.split(',')[0]} | " + " | ".join(
                f"{v:.4f}" if isinstance(v, (int, float)) else "n/a" for v in cells) + " |")
        L.append("")
    return "\n".join(L)


__all__ = ["benchmark_value", "summary_markdown"]
