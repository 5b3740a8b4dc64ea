"""MMLU-Pro as the Open LLM Leaderboard v2 runs it: `leaderboard_mmlu_pro`.

5-shot multiple choice (`acc`) over `TIGER-Lab/MMLU-Pro` `test`. The shots are the first five rows
of the `validation` split in dataset order, the same for every item whatever its category
(sampler `first_n`), each rendered `text + " " + letter + "\\n\\n"`; no description, no CoT.
"""

from __future__ import annotations

import string

from sos_jax.tasks.task import ACC, Task


def doc_to_text(doc: dict) -> str:
    """Returns the question, lettered options one per line, then "Answer:"."""
    text = f"{doc['question']}\n"
    for i, option in enumerate(doc["options"]):
        text += f"{string.ascii_uppercase[i]}. {option}\n"
    return text + "Answer:"


def doc_to_choice(doc: dict) -> list[str]:
    """Returns the letters A.. for the options of `doc` (up to 10)."""
    return [string.ascii_uppercase[i] for i in range(len(doc["options"]))]


TASK = Task(
    name="leaderboard_mmlu_pro",
    dataset_path="TIGER-Lab/MMLU-Pro",
    dataset_name=None,
    split="test",
    output_type="multiple_choice",
    doc_to_text=doc_to_text,
    doc_to_target=lambda doc: doc["answer"],
    doc_to_choice=doc_to_choice,
    required_fields=("question", "options", "answer"),
    num_fewshot=5,
    fewshot_split="validation",
    fewshot_sampler="first_n",
    metrics=(ACC,),
    version=0.1,
)
TASKS = (TASK,)
GROUPS = ()
