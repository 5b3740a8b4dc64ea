"""Task lookup: a `Registry` of tasks, groups and benchmarks, built from a suite and never mutated.

`Registry.from_suite(suite)` collects each family's tasks (stamped with the factor and inversion
the suite gives them), the families' groups and the suite's own groups; `with_tasks(...)` returns a
new registry with extra (custom) tasks. Lookup goes by lm-eval's task, group and tag names, so our
results and published ones use the same keys. `default_registry()` is SOS-Bench
(`sos_jax.tasks.suite.SOS`); `get_task`, `resolve`, `all_tasks` and `groups` ask it.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from typing import Iterable, Mapping

from sos_jax.tasks.suite import SOS, Benchmark, Family, Suite
from sos_jax.tasks.task import Group, Task

__all__ = ["Registry", "all_tasks", "default_registry", "get_task", "groups", "resolve"]


class Registry:
    """Tasks, groups and benchmarks by name; see the module docstring."""

    def __init__(self, tasks: Mapping[str, Task], group_defs: Mapping[str, Group],
                 families: tuple[Family, ...] = (), custom: tuple[str, ...] = ()):
        self._tasks = dict(tasks)
        self._groups = dict(group_defs)
        self._families = tuple(families)
        self._custom = tuple(custom)
        for name in self._groups:
            if name in self._tasks:
                raise ValueError(f"group name {name!r} collides with a task of that name")
        for g in self._groups.values():
            for m in g.members:
                if m not in self._tasks and m not in self._groups:
                    raise ValueError(f"group {g.name!r}: member {m!r} is neither a task nor a group")

    @classmethod
    def from_suite(cls, suite: Suite) -> Registry:
        """Returns the registry of `suite`: its families' tasks, variants and groups, and its groups."""
        tasks: dict[str, Task] = {}
        group_defs: dict[str, Group] = {}
        for fam in suite.families:
            for t in (*fam.module.TASKS, *getattr(fam.module, "VARIANTS", ())):
                if t.name in tasks:
                    raise ValueError(f"suite {suite.name!r}: task {t.name!r} is defined twice")
                tasks[t.name] = dataclasses.replace(t, factor=fam.factor, invert_in_factor=fam.invert)
            for g in fam.module.GROUPS:
                _add_group(group_defs, g, suite.name)
        for g in suite.groups:
            _add_group(group_defs, g, suite.name)
        return cls(tasks, group_defs, suite.families)

    def with_tasks(self, tasks: Iterable[Task]) -> Registry:
        """Returns a new registry that also holds `tasks`.

        A custom task replaces an earlier custom task of its name; a suite task's or a group's
        name is refused. Custom tasks that name a factor join it as benchmarks of their own.
        """
        new, custom = dict(self._tasks), list(self._custom)
        for t in tasks:
            if t.name in self._groups:
                raise ValueError(f"task name {t.name!r} collides with a group of that name")
            if t.name in self._tasks and t.name not in self._custom:
                raise ValueError(f"task {t.name!r} is already registered by the suite; custom tasks need new names")
            new[t.name] = t
            if t.name not in custom:
                custom.append(t.name)
        return Registry(new, self._groups, self._families, tuple(custom))

    # ---- lookup ---------------------------------------------------------------------------

    def tasks(self) -> dict[str, Task]:
        """Returns every task by name."""
        return dict(self._tasks)

    def groups(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Returns group/tag name -> (members, aggregated metrics; () for a tag)."""
        return {n: (g.members, g.aggregate) for n, g in self._groups.items()}

    def task(self, name: str) -> Task:
        """Returns the task called `name`; an unknown name raises KeyError with close names."""
        if name in self._tasks:
            return self._tasks[name]
        raise KeyError(self._unknown(name))

    def resolve(self, names: str | Iterable[str]) -> list[str]:
        """Returns the task names selected by task/group/tag names (comma-separated or a list), in order."""
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        out: list[str] = []

        def add(n: str) -> None:
            if n in self._tasks:
                if n not in out:
                    out.append(n)
            elif n in self._groups:
                for m in self._groups[n].members:
                    add(m)
            else:
                raise KeyError(self._unknown(n))

        for n in names:
            add(n)
        return out

    def _unknown(self, name: str) -> str:
        known = list(self._tasks) + list(self._groups)
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; groups: " + ", ".join(sorted(self._groups))
        return f"unknown task or group {name!r}{hint}"

    # ---- factors --------------------------------------------------------------------------

    def benchmarks(self) -> list[Benchmark]:
        """Returns the task -> benchmark -> factor table the factor analysis scores.

        One entry per family benchmark (in suite order), then one per custom task that names a
        factor (its first metric). Factor and inversion are read from the tasks themselves.
        """
        out: list[Benchmark] = []
        for fam in self._families:
            tasks = [self._tasks[t.name] for t in fam.module.TASKS]
            if fam.benchmark is None:
                out += [_benchmark(t.name, [t], fam) for t in tasks]
            else:
                out.append(_benchmark(fam.benchmark, tasks, fam))
        for name in self._custom:
            t = self._tasks[name]
            if t.factor is not None:
                out.append(Benchmark(t.name, t.factor, (f"{t.name}/{t.metrics[0].name}",), invert=t.invert_in_factor))
        return out


def _add_group(group_defs: dict[str, Group], g: Group, suite: str) -> None:
    if g.name in group_defs:
        raise ValueError(f"suite {suite!r}: group {g.name!r} is defined twice")
    group_defs[g.name] = g


def _benchmark(name: str, tasks: list[Task], fam: Family) -> Benchmark:
    """Returns the benchmark over `tasks` with the factor and inversion the tasks carry."""
    kinds = {(t.factor, t.invert_in_factor) for t in tasks}
    if len(kinds) != 1:
        raise ValueError(f"benchmark {name!r}: its tasks disagree on factor/inversion: {sorted(kinds, key=str)}")
    (factor, invert), = kinds
    metrics = tuple(f"{t.name}/{m}" for t in tasks for m in fam.metrics)
    weights = group_metric = None
    if fam.weights is not None:
        missing = [t.name for t in tasks if t.name not in fam.weights]
        if missing:
            raise ValueError(f"benchmark {name!r}: no weight for task(s) {missing}")
        weights = tuple(float(fam.weights[t.name]) for t in tasks for _ in fam.metrics)
        # lm-eval's group score is size-weighted too, so with size weights and one metric the
        # group's column stands in for absent subtasks (an equal-weighted mean it would not).
        names = {t.name for t in tasks}
        groups = [g for g in fam.module.GROUPS if set(g.members) == names and fam.metrics[0] in g.aggregate]
        if len(fam.metrics) == 1 and groups:
            group_metric = f"{groups[0].name}/{fam.metrics[0]}"
    # Several metrics of one task are measured on the same questions (IFEval's four).
    same_items = len(tasks) == 1 and len(fam.metrics) > 1
    return Benchmark(name, factor, metrics, weights, invert, same_items, group_metric)


@functools.cache
def default_registry() -> Registry:
    """Returns the SOS-Bench registry (built once)."""
    return Registry.from_suite(SOS)


def all_tasks() -> dict[str, Task]:
    """Returns every SOS-Bench task by name."""
    return default_registry().tasks()


def groups() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Returns SOS-Bench's group/tag name -> (members, aggregated metrics)."""
    return default_registry().groups()


def get_task(name: str) -> Task:
    """Returns the SOS-Bench task called `name`; unknown names raise KeyError with close names."""
    return default_registry().task(name)


def resolve(names: str | Iterable[str]) -> list[str]:
    """Returns the SOS-Bench task names selected by task/group/tag names, in order."""
    return default_registry().resolve(names)
