"""BIG-Bench Hard as the Open LLM Leaderboard v2 runs it: `leaderboard_bbh_<name>`, 24 tasks.

3-shot multiple choice (`acc_norm`) over `SaylorTwift/bbh`, shots = the three standard non-CoT
exemplars per task in a fixed order (kept as data in `bbh_fewshot.json`). The SOS-era harness
rendered descriptions with Jinja's default `keep_trailing_newline=False`, so each description
runs straight into the first "Q:", except snarks, whose YAML description ended in a blank line and
keeps one "\\n" (docs/tasks.md, BBH). lm-eval >= 0.4.4 drops that "\\n" too.
"""

from __future__ import annotations

import json
from pathlib import Path

from sos_jax.tasks.task import ACC_NORM, Group, Task, template_target

_DATA = json.loads((Path(__file__).with_name("bbh_fewshot.json")).read_text(encoding="utf-8"))
NAMES = tuple(sorted(_DATA))


def _doc_to_text(doc: dict) -> str:
    return "Q: " + doc["input"] + "\nA:"


def _doc_to_target(doc: dict):
    # "{{target}}" in the YAML: an all-digit target (object_counting) becomes a choice index.
    return template_target(str(doc["target"]))


def make_task(name: str) -> Task:
    """Returns the `leaderboard_bbh_<name>` task."""
    spec = _DATA[name]
    description = spec["description"] + ("\n" if name == "snarks" else "")
    choices = list(spec["choices"])
    return Task(
        name=f"leaderboard_bbh_{name}",
        dataset_path="SaylorTwift/bbh",
        dataset_name=name,
        split="test",
        output_type="multiple_choice",
        doc_to_text=_doc_to_text,
        doc_to_target=_doc_to_target,
        doc_to_choice=lambda doc, _c=tuple(choices): list(_c),
        required_fields=("input", "target"),
        description=description,
        num_fewshot=3,
        fewshot_samples=tuple(spec["shots"]),
        fewshot_sampler="first_n",
        metrics=(ACC_NORM,),
        version=0.0,
    )


TASKS = tuple(make_task(n) for n in NAMES)
GROUPS = (Group("leaderboard_bbh", tuple(t.name for t in TASKS), aggregate=("acc_norm",)),)
