"""SOS-Bench tasks: task definitions, the suite that groups them into factors, and lookup.

`task` defines what a task is (`Task`, `Metric`, `Group`); one module per task family exports its
tasks as data; `suite` declares SOS-Bench once (families, groups, factors, inversion, weights);
`registry` builds a `Registry` from a suite. `get_task(name)`, `resolve("leaderboard,safety")` and
`all_tasks()` ask the default SOS-Bench registry. IFEval verifiers live in `sos_jax.tasks.ifeval`,
MATH answer checking in `sos_jax.tasks.math_answers`, custom tasks in `sos_jax.tasks.custom`.
"""

from sos_jax.tasks.registry import Registry, all_tasks, default_registry, get_task, groups, resolve
from sos_jax.tasks.suite import SOS, Benchmark, Family, Suite
from sos_jax.tasks.task import FACTOR_LABELS, FACTORS, Group, Metric, Task

__all__ = ["FACTORS", "FACTOR_LABELS", "SOS", "Benchmark", "Family", "Group", "Metric", "Registry", "Suite", "Task",
           "all_tasks", "default_registry", "get_task", "groups", "resolve"]
