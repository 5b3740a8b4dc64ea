"""GPQA as the Open LLM Leaderboard v2 runs it: `leaderboard_gpqa_{diamond,extended,main}`.

0-shot multiple choice over the `train` split of `Idavidrein/gpqa` (its only split), `acc_norm`,
choices "(A)".."(D)". The answers are cleaned and shuffled; the reference shuffles with Python's
*global* RNG, seeded only by the harness's `random.seed(0)` and advanced by whatever ran before, so
its order cannot be reproduced outside that process (docs/tasks.md, GPQA). We shuffle with a
`random.Random(0)` per task, advanced once per document in dataset order: the same permutation
lm-eval gives when this task's documents are the first thing processed after `random.seed(0)`.
Item-level results may therefore differ from published ones; the distribution does not.
"""

from __future__ import annotations

import random
import re

from sos_jax.tasks.task import ACC_NORM, Group, Task

CONFIGS = ("diamond", "extended", "main")
_FIELDS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


def clean_answer(text: str | None) -> str:
    """Returns an answer string cleaned as the reference does (None -> " ", [..] spans dropped)."""
    if text is None:
        return " "
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def process_docs(docs: list[dict], seed: int = 0) -> list[dict]:
    """Returns docs with `choice1..4` (shuffled, cleaned answers) and `answer` "(A)".."(D)"."""
    rnd = random.Random(seed)
    out = []
    for doc in docs:
        choices = [clean_answer(doc[f"Incorrect Answer {i}"]) for i in (1, 2, 3)]
        choices.append(clean_answer(doc["Correct Answer"]))
        rnd.shuffle(choices)
        gold = choices.index(clean_answer(doc["Correct Answer"]))
        new = dict(doc)
        new.update({f"choice{i + 1}": c for i, c in enumerate(choices)})
        new["answer"] = f"({chr(65 + gold)})"
        out.append(new)
    return out


def _doc_to_text(doc: dict) -> str:
    return (
        f"What is the correct answer to this question:{doc['Question']}\nChoices:\n(A) {doc['choice1']}\n"
        f"(B) {doc['choice2']}\n(C) {doc['choice3']}\n(D) {doc['choice4']}\nAnswer: "
    )


def make_task(config: str) -> Task:
    """Returns the `leaderboard_gpqa_<config>` task."""
    return Task(
        name=f"leaderboard_gpqa_{config}",
        dataset_path="Idavidrein/gpqa",
        dataset_name=f"gpqa_{config}",
        split="train",
        output_type="multiple_choice",
        doc_to_text=_doc_to_text,
        doc_to_target=lambda doc: doc["answer"],
        doc_to_choice=lambda doc: ["(A)", "(B)", "(C)", "(D)"],
        required_fields=_FIELDS,
        nullable_fields=_FIELDS[1:],  # the reference cleans a missing answer to " "
        process_docs=process_docs,
        metrics=(ACC_NORM,),
        version=1.0,
        notes="choice order: seeded per-task permutation; the reference's global-RNG order is not reproducible",
    )


TASKS = tuple(make_task(c) for c in CONFIGS)
GROUPS = (Group("leaderboard_gpqa", tuple(t.name for t in TASKS), aggregate=("acc_norm",)),)
