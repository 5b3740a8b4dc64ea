"""MuSR as the Open LLM Leaderboard v2 runs it: `leaderboard_musr_<split>`, 3 tasks.

0-shot multiple choice (`acc_norm`) over `TAUR-Lab/MuSR`, one split per task. `choices` is a
*string* holding a Python list; the prompt numbers the choices "1 - ..", but the scored
continuation is `" " + answer text`, not the number.
"""

from __future__ import annotations

import ast

from sos_jax.tasks.task import ACC_NORM, Group, Task, template_target

SPLITS = ("murder_mysteries", "object_placements", "team_allocation")


def doc_to_choice(doc: dict) -> list[str]:
    """Returns the answer strings parsed from the doc's `choices` list literal."""
    return list(ast.literal_eval(doc["choices"]))


def doc_to_text(doc: dict) -> str:
    """Returns narrative, question, numbered choices and "Answer:"."""
    choices = "".join(f"{i + 1} - {c}\n" for i, c in enumerate(doc_to_choice(doc)))
    return f"{doc['narrative']}\n\n{doc['question']}\n\n{choices}\nAnswer:"


def make_task(split: str) -> Task:
    """Returns the `leaderboard_musr_<split>` task."""
    return Task(
        name=f"leaderboard_musr_{split}",
        dataset_path="TAUR-Lab/MuSR",
        dataset_name=None,
        split=split,
        output_type="multiple_choice",
        doc_to_text=doc_to_text,
        doc_to_target=lambda doc: template_target(str(doc["answer_choice"])),
        doc_to_choice=doc_to_choice,
        required_fields=("narrative", "question", "choices", "answer_choice"),
        metrics=(ACC_NORM,),
        version=1.0,
    )


TASKS = tuple(make_task(s) for s in SPLITS)
GROUPS = (Group("leaderboard_musr", tuple(t.name for t in TASKS), aggregate=("acc_norm",)),)
