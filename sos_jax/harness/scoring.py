"""Per-document metrics and their aggregation into lm-eval's `<metric>,none` numbers.

Multiple choice: the gold is resolved as lm-eval does (string -> choices.index, out of range ->
-100, which scores 0; a list means several right answers), then `acc` / `acc_norm` come from
`sos_jax.engine.multiple_choice_metrics`. Aggregation is the task's (mean unless declared); the
stderr of a mean is the sample standard deviation (ddof=1) over sqrt(n), "N/A" for n = 1 or
non-mean aggregations. Groups take the size-weighted mean of their leaf tasks with the pooled
stderr `sqrt(Σ (n_i-1)·se_i²·n_i / (Σn_i - k) / Σn_i)`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from sos_jax.tasks.task import INVALID_GOLD, Task


def score_multiple_choice(task: Task, doc: Mapping[str, Any], results: Sequence[tuple[float, bool]]) -> dict:
    """Returns the task's metrics for one document from its per-choice (loglikelihood, greedy)."""
    from sos_jax.engine.metrics import multiple_choice_metrics

    choices = task.choices(doc)
    gold = task.gold(doc)
    golds = [g for g in (gold if isinstance(gold, list) else [gold]) if g != INVALID_GOLD]
    if golds:
        m = multiple_choice_metrics(list(results), choices, golds if isinstance(gold, list) else golds[0])
    else:
        m = {"acc": 0.0, "acc_norm": 0.0}
    return {metric.name: m[metric.name] for metric in task.metrics}


def mean(values: Sequence[float]) -> float:
    """Returns the arithmetic mean."""
    return sum(values) / len(values)


def mean_stderr(values: Sequence[float]) -> float | str:
    """Returns sample std (ddof=1) / sqrt(n), or "N/A" for fewer than two values (as lm-eval)."""
    n = len(values)
    if n < 2:
        return "N/A"
    mu = mean(values)
    return math.sqrt(sum((x - mu) ** 2 for x in values) / (n - 1)) / math.sqrt(n)


def aggregate_task(task: Task, per_doc: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Returns `{"<metric>,none": value, "<metric>_stderr,none": stderr or "N/A"}` for a task."""
    out: dict[str, Any] = {}
    for metric in task.metrics:
        items = [d[metric.name] for d in per_doc]
        if metric.aggregation == "mean":
            values = [float(x) for x in items]
            out[f"{metric.name},none"] = mean(values)
            out[f"{metric.name}_stderr,none"] = mean_stderr(values)
        else:
            out[f"{metric.name},none"] = float(metric.aggregation(items))
            out[f"{metric.name}_stderr,none"] = "N/A"
    return out


def aggregate_group(metrics: Sequence[str], members: Mapping[str, Mapping[str, Any]],
                    sizes: Mapping[str, int]) -> dict[str, Any]:
    """Returns the size-weighted group means and pooled stderrs over the members that have each metric."""
    out: dict[str, Any] = {}
    for metric in metrics:
        key, skey = f"{metric},none", f"{metric}_stderr,none"
        have = [name for name, res in members.items() if key in res]
        if not have:
            continue
        n = [sizes[name] for name in have]
        out[key] = sum(members[t][key] * k for t, k in zip(have, n)) / sum(n)
        ses = [members[t].get(skey, "N/A") for t in have]
        if "N/A" in ses or sum(n) - len(n) <= 0:
            out[skey] = "N/A"
        else:
            pooled = sum((k - 1) * se ** 2 * k for k, se in zip(n, ses)) / (sum(n) - len(n))
            out[skey] = math.sqrt(pooled / sum(n))
    return out
