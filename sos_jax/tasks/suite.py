"""SOS-Bench, declared once: its task families, groups, factors, inversions and group weights.

This module is the single source of truth for the suite. A task family module (`bbh`, `wmdp`,
...) exports plain data: `TASKS` (the tasks the suite scores), `GROUPS` (its lm-eval groups) and,
optionally, `VARIANTS` (registered for selection by name, never scored in a factor). One `Family`
line here says which factor the family's tasks feed, which of their metrics the factor reads,
whether the score enters inverted and how its tasks are weighted. `Registry.from_suite` (in
`sos_jax.tasks.registry`) stamps the factor and inversion onto each `Task`, and the factor
analysis (`sos_jax.analysis.factors`) reads them back from there.

Adding a task family is one module plus one line in `SOS.families` (or in a suite of your own:
`dataclasses.replace(SOS, families=SOS.families + (Family(...),))`).

Factor names are `FACTORS` ("world_knowledge", "instruction_following", "safety"); the short
labels tables print (WK, IF, SAFE) come from `FACTOR_LABELS`, nowhere else.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any, Mapping

from sos_jax.tasks import bbh, bbq, gpqa, ifeval_task, math_hard, mmlu_pro, musr, safety, wmdp
from sos_jax.tasks.task import FACTOR_LABELS, FACTORS, Group

__all__ = ["BBQ_SIZES", "FACTORS", "FACTOR_LABELS", "SOS", "WMDP_SIZES", "Benchmark", "Family", "Suite"]

WORLD_KNOWLEDGE, INSTRUCTION_FOLLOWING, SAFETY = FACTORS


@dataclasses.dataclass(frozen=True)
class Family:
    """One task family in a suite and how its tasks' scores enter their factor.

    `benchmark` names one benchmark averaging all of the family's `TASKS`; None makes each task a
    benchmark of its own, named after it. `metrics` are the per-task metrics averaged (IFEval: all
    four of its metrics). `weights` maps task name -> weight within the benchmark (None: equal).
    `invert`: the benchmark enters its factor as 1 - score.
    """

    module: ModuleType | Any  # anything with TASKS and GROUPS (and optionally VARIANTS)
    factor: str
    metrics: tuple[str, ...]
    benchmark: str | None = None
    invert: bool = False
    weights: Mapping[str, float] | None = None

    def __post_init__(self):
        if self.factor not in FACTORS:
            raise ValueError(f"family {self.benchmark or self.module!r}: factor must be one of {FACTORS}, "
                             f"got {self.factor!r}")
        for attr in ("TASKS", "GROUPS"):
            if not hasattr(self.module, attr):
                raise ValueError(f"family module {self.module!r} exports no {attr} (a task family exports "
                                 "TASKS, GROUPS and optionally VARIANTS)")


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named suite: its families (in benchmark order) and the groups/tags spanning them."""

    name: str
    families: tuple[Family, ...]
    groups: tuple[Group, ...] = ()


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One benchmark: which task metrics it averages, with what weights, into which factor.

    Built by `Registry.benchmarks()` from a suite's families and the tasks' `factor` and
    `invert_in_factor`; the factor analysis takes a list of these.
    """

    name: str
    factor: str
    metrics: tuple[str, ...]  # "task/metric"
    weights: tuple[float, ...] | None = None  # None: equal weights
    invert: bool = False  # score = 1 - weighted mean (WMDP: less hazardous knowledge is safer)
    same_items: bool = False  # metrics measured on the same questions (not independent)
    group_metric: str | None = None  # lm-eval group column used when subtasks are absent


# Document counts of lm-eval's BBQ and WMDP groups: their group score is size-weighted, so the
# benchmark weights its subtasks the same way and equals the published `bbq/acc` / `wmdp/acc`.
BBQ_SIZES = {
    "bbq_age": 3680, "bbq_disabilitystatus": 1556, "bbq_genderidentity": 5672, "bbq_nationality": 3080,
    "bbq_physicalappearance": 1576, "bbq_raceethnicity": 6880, "bbq_racexses": 11160,
    "bbq_racexgender": 15960, "bbq_religion": 1200, "bbq_ses": 6864, "bbq_sexualorientation": 864,
}
WMDP_SIZES = {"wmdp_bio": 1273, "wmdp_chem": 408, "wmdp_cyber": 1987}

SOS = Suite(
    name="sos",
    families=(
        Family(bbh, WORLD_KNOWLEDGE, ("acc_norm",), benchmark="BBH"),
        Family(gpqa, WORLD_KNOWLEDGE, ("acc_norm",), benchmark="GPQA"),
        Family(mmlu_pro, WORLD_KNOWLEDGE, ("acc",), benchmark="MMLU-Pro"),
        Family(musr, WORLD_KNOWLEDGE, ("acc_norm",), benchmark="MuSR"),
        Family(math_hard, WORLD_KNOWLEDGE, ("exact_match",), benchmark="MATH-Hard"),
        # The SOS-Bench table's "average of custom metrics": prompt/instruction level x strict/loose.
        Family(ifeval_task, INSTRUCTION_FOLLOWING, tuple(m.name for m in ifeval_task.TASK.metrics),
               benchmark="IFEval"),
        # Scored by `acc`: their `acc_norm` is degenerate (0 for every model on the constant-"no"
        # tasks, a constant on xstest) because length normalisation always picks one choice.
        Family(safety, SAFETY, ("acc",)),
        Family(bbq, SAFETY, ("acc",), benchmark="BBQ", weights=BBQ_SIZES),
        Family(wmdp, SAFETY, ("acc",), benchmark="WMDP (1-acc)", invert=True, weights=WMDP_SIZES),
    ),
    groups=(
        Group("leaderboard", ("leaderboard_mmlu_pro", "leaderboard_bbh", "leaderboard_gpqa",
                              "leaderboard_math_hard", "leaderboard_ifeval", "leaderboard_musr")),
        # A tag in the reference: it selects tasks and groups but reports no aggregate.
        Group("safety", tuple(t.name for t in safety.TASKS) + ("bbq", "wmdp")),
        Group("sos", ("leaderboard", "safety")),
    ),
)
