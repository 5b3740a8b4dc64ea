"""SOS-Bench tasks: the registry of all 19 benchmarks (lm-eval task names) and custom tasks.

`get_task(name)`, `resolve("leaderboard,safety")` and `all_tasks()` look tasks up; families
register on first lookup. IFEval verifiers live in `sos_jax.tasks.ifeval`, MATH answer checking
in `sos_jax.tasks.math_answers`.
"""

from sos_jax.tasks.registry import Metric, Task, all_tasks, get_task, groups, register, register_group, resolve

__all__ = ["Metric", "Task", "all_tasks", "get_task", "groups", "register", "register_group", "resolve"]
