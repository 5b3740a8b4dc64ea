"""What a task is: the `Task` definition, its metrics and groups, and how documents become prompts.

A `Task` declares everything lm-evaluation-harness's YAML declares for the same task (dataset id,
config, splits, few-shot source and count, doc -> prompt, choices, gold, generation settings,
metrics). Task family modules (`bbh`, `gpqa`, `safety`, ...) build `Task`s and `Group`s from these
classes and export them as data; the suite (`sos_jax.tasks.suite`) says which factor each feeds,
and a `Registry` (`sos_jax.tasks.registry`) looks them up. This module holds no state.

Prompt assembly follows the SOS-era harness (penfever fork, d1f73313; docs/tasks.md, "Prompt
assembly"): `description + Σ(text(shot) + " " + target(shot) + "\\n\\n") + text(doc)`,
continuation `" " + choice`.
"""

from __future__ import annotations

import ast
import dataclasses
import random
from typing import Any, Callable, Mapping, Sequence

# The SOS-Bench factors, by the one name code and files use; FACTOR_LABELS gives the short labels
# that tables and reports print (the paper's WK / IF / SAFE).
FACTORS = ("world_knowledge", "instruction_following", "safety")
FACTOR_LABELS = {"world_knowledge": "WK", "instruction_following": "IF", "safety": "SAFE"}
OUTPUT_TYPES = ("multiple_choice", "generate_until")
INVALID_GOLD = -100


@dataclasses.dataclass(frozen=True)
class Metric:
    """One reported metric: its name, how per-document values aggregate, and its direction.

    `aggregation` is "mean" or a callable over the list of per-document values. `stderr` says
    whether a `<name>_stderr` is reported (lm-eval reports none for non-mean aggregations).
    """

    name: str
    aggregation: str | Callable[[list], float] = "mean"
    higher_is_better: bool = True

    @property
    def stderr(self) -> bool:
        return self.aggregation == "mean"


ACC = Metric("acc")
ACC_NORM = Metric("acc_norm")


@dataclasses.dataclass(frozen=True)
class Task:
    """A task definition; see the module docstring. Fields mirror lm-eval's TaskConfig."""

    name: str
    dataset_path: str
    dataset_name: str | None
    split: str
    output_type: str
    doc_to_text: Callable[[dict], str]
    doc_to_target: Callable[[dict], Any]
    doc_to_choice: Callable[[dict], list[str]] | None = None
    required_fields: tuple[str, ...] = ()
    nullable_fields: tuple[str, ...] = ()
    description: str = ""
    num_fewshot: int = 0
    fewshot_split: str | None = None
    fewshot_samples: tuple[Mapping[str, Any], ...] | None = None
    fewshot_sampler: str = "first_n"
    fewshot_target: Callable[[dict], Any] | None = None
    process_docs: Callable[[list[dict]], list[dict]] | None = None
    generation_kwargs: Mapping[str, Any] | None = None
    metrics: tuple[Metric, ...] = (ACC,)
    process_results: Callable[[dict, str], dict] | None = None
    # Set by the suite (`sos_jax.tasks.suite`), not by the family: the factor the task's score
    # feeds (None: in no factor) and whether it enters as 1 - score.
    factor: str | None = None
    invert_in_factor: bool = False
    version: float = 0.0
    notes: str = ""
    dataset_kwargs: Mapping[str, Any] | None = None
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"

    def __post_init__(self):
        if self.factor is not None and self.factor not in FACTORS:
            raise ValueError(f"task {self.name!r}: factor must be one of {FACTORS} or None, got {self.factor!r}")
        if self.output_type not in OUTPUT_TYPES:
            raise ValueError(f"task {self.name!r}: output_type must be one of {OUTPUT_TYPES}, got {self.output_type!r}")
        if self.output_type == "multiple_choice" and self.doc_to_choice is None:
            raise ValueError(f"task {self.name!r}: a multiple_choice task needs doc_to_choice")
        if self.output_type == "generate_until" and self.generation_kwargs is None:
            raise ValueError(f"task {self.name!r}: a generate_until task needs generation_kwargs")
        if self.num_fewshot and self.fewshot_split is None and self.fewshot_samples is None:
            raise ValueError(f"task {self.name!r}: num_fewshot={self.num_fewshot} but no fewshot_split or samples")
        if self.fewshot_sampler not in ("first_n", "default"):
            raise ValueError(f"task {self.name!r}: fewshot_sampler must be 'first_n' or 'default'")

    # ---- documents -> prompt pieces -------------------------------------------------------

    def check_fields(self, docs: Sequence[Mapping[str, Any]], split: str | None = None) -> None:
        """Raises KeyError naming the task, field and document index when a doc lacks a field.

        A null value counts as missing (a `datasets` split fills absent keys with None) unless
        the field is in `nullable_fields`.
        """
        for i, doc in enumerate(docs):
            for field in self.required_fields:
                if field not in doc or (doc[field] is None and field not in self.nullable_fields):
                    what = "has no field" if field not in doc else "has a null field"
                    raise KeyError(
                        f"task {self.name!r}: document {i} of split {split or self.split!r} in "
                        f"{self.dataset_path!r} {what} {field!r} (fields: {sorted(doc)})"
                    )

    def choices(self, doc: Mapping[str, Any]) -> list[str] | None:
        """Returns the answer choices of `doc` (None for generation tasks)."""
        return None if self.doc_to_choice is None else list(self.doc_to_choice(doc))

    def gold(self, doc: Mapping[str, Any]) -> int | list[int] | str:
        """Returns the gold answer: choice index (-100 when invalid), list of indices, or a string."""
        target = self.doc_to_target(doc)
        choices = self.choices(doc)
        return resolve_gold(target, choices) if choices is not None else target

    def shots_for(self, docs: Sequence[Mapping[str, Any]], fewshot_pool: Sequence[dict] | None = None,
                  seed: int = 1234) -> list[list[dict]]:
        """Returns the shots for each of `docs`, in order, as lm-eval's samplers pick them.

        `first_n`: the first n of the pool (fixed samples or the few-shot split) for every doc.
        `default`: one `random.Random(seed)` per task drawing n (n + 1 when the few-shot split is
        the eval split, then dropping the doc itself) per document in order.
        """
        n = self.num_fewshot
        if n == 0:
            return [[] for _ in docs]
        pool = [dict(d) for d in (self.fewshot_samples if self.fewshot_samples is not None else fewshot_pool or [])]
        if len(pool) < n:
            raise ValueError(f"task {self.name!r}: {n} shots requested, only {len(pool)} few-shot documents")
        same_split = self.fewshot_samples is None and self.fewshot_split == self.split
        if self.fewshot_sampler == "first_n":
            if not same_split:
                return [pool[:n] for _ in docs]
            return [[d for d in pool if d != doc][:n] for doc in docs]
        rnd = random.Random(seed)
        out = []
        for doc in docs:
            if same_split:
                out.append([d for d in rnd.sample(pool, n + 1) if d != doc][:n])
            else:
                out.append(rnd.sample(pool, n))
        return out

    def shot_text(self, shot: Mapping[str, Any]) -> str:
        """Returns one rendered shot: text + target delimiter + target + few-shot delimiter."""
        target = (self.fewshot_target or self.doc_to_target)(shot)
        choices = self.choices(shot) if self.doc_to_choice is not None else None
        if isinstance(target, list):
            target = target[0]
        if isinstance(target, int) and not isinstance(target, bool) and choices is not None:
            target = choices[target]
        elif isinstance(target, bool) and choices is not None:
            target = choices[int(target)]
        return self.doc_to_text(shot) + self.target_delimiter + str(target) + self.fewshot_delimiter

    def context(self, doc: Mapping[str, Any], shots: Sequence[Mapping[str, Any]] = (),
                chat_template: Callable[[list[dict]], str] | None = None) -> str:
        """Returns the prompt for `doc`: raw string, or the chat-templated one when given a template.

        With a template, the description becomes the system turn and shots + doc one user turn
        (lm-eval's `--apply_chat_template` without `--fewshot_as_multiturn`).
        """
        body = "".join(self.shot_text(s) for s in shots) + self.doc_to_text(doc)
        if chat_template is None:
            return self.description + body
        messages = ([{"role": "system", "content": self.description}] if self.description else [])
        messages.append({"role": "user", "content": body})
        return chat_template(messages)

    def continuations(self, doc: Mapping[str, Any], chat: bool = False) -> list[str]:
        """Returns the scored continuations, `" " + choice` (no delimiter under a chat template)."""
        delim = "" if chat else self.target_delimiter
        return [delim + c for c in self.choices(doc)]

    def spec(self) -> dict[str, Any]:
        """Returns a JSON-able summary of the definition (for results' `configs` and hashing)."""
        return {
            "task": self.name,
            "dataset_path": self.dataset_path,
            "dataset_name": self.dataset_name,
            "dataset_kwargs": dict(self.dataset_kwargs) if self.dataset_kwargs else None,
            "test_split": self.split,
            "fewshot_split": self.fewshot_split,
            "num_fewshot": self.num_fewshot,
            "fewshot_sampler": self.fewshot_sampler,
            "description": self.description,
            "output_type": self.output_type,
            "target_delimiter": self.target_delimiter,
            "fewshot_delimiter": self.fewshot_delimiter,
            "generation_kwargs": dict(self.generation_kwargs) if self.generation_kwargs else None,
            "metric_list": [
                {"metric": m.name, "aggregation": m.aggregation if isinstance(m.aggregation, str)
                 else m.aggregation.__name__, "higher_is_better": m.higher_is_better}
                for m in self.metrics
            ],
            "factor": self.factor,
            "invert_in_factor": self.invert_in_factor,
            "metadata": {"version": self.version},
        }


def resolve_gold(target: Any, choices: Sequence[str]) -> int | list[int]:
    """Returns the gold choice index (or list of them) as lm-eval resolves `doc_to_target`.

    bool counts as int (True -> 1); a string is looked up in `choices`; anything out of range
    becomes -100, which always scores 0.
    """
    if isinstance(target, (list, tuple)):
        return [int(t) if 0 <= int(t) < len(choices) else INVALID_GOLD for t in target]
    if isinstance(target, str):
        return choices.index(target) if target in choices else INVALID_GOLD
    t = int(target)
    return t if 0 <= t < len(choices) else INVALID_GOLD


def template_target(rendered: str) -> int | list | str:
    """Returns what lm-eval makes of a rendered Jinja `doc_to_target`: int, list, or the string."""
    if rendered.isdigit():
        return ast.literal_eval(rendered)
    if len(rendered) >= 2 and rendered[0] == "[" and rendered[-1] == "]":
        try:
            return ast.literal_eval(rendered)
        except (SyntaxError, ValueError):
            return rendered
    return rendered


@dataclasses.dataclass(frozen=True)
class Group:
    """A named selection of tasks (or other groups).

    With `aggregate` metrics it is an lm-eval group: results report those metrics averaged over
    its tasks, weighted by document count. Without, it is a tag: it selects, never aggregates.
    """

    name: str
    members: tuple[str, ...]
    aggregate: tuple[str, ...] = ()
