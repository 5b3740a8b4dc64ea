"""IFEval as the Open LLM Leaderboard v2 runs it: `leaderboard_ifeval` (wiring only).

0-shot generation over `wis-k/instruction-following-eval` `train`: the prompt is the `prompt`
field verbatim, generation is greedy until EOS with at most 1280 new tokens. The 25 verifiable
instruction checkers and the strict/loose verdicts live in `sos_jax.tasks.ifeval`; this module
declares the task and the four metrics. Instruction-level metrics flatten the per-instruction
verdicts of all prompts before averaging, so they report no stderr.
"""

from __future__ import annotations

from sos_jax.tasks.task import Metric, Task

GENERATION_KWARGS = {"until": [], "do_sample": False, "temperature": 0.0, "max_gen_toks": 1280}


def agg_inst_level_acc(items: list) -> float:
    """Returns the mean over all instructions of all prompts (IFEval's own aggregation)."""
    from sos_jax.tasks import ifeval

    return ifeval.agg_inst_level_acc(items)


def process_results(doc: dict, response: str) -> dict:
    """Returns the four IFEval verdicts for one response."""
    from sos_jax.tasks import ifeval

    return ifeval.process_results(doc, response)


TASK = Task(
    name="leaderboard_ifeval",
    dataset_path="wis-k/instruction-following-eval",
    dataset_name=None,
    split="train",
    output_type="generate_until",
    doc_to_text=lambda doc: doc["prompt"],
    doc_to_target=lambda doc: 0,
    required_fields=("key", "prompt", "instruction_id_list", "kwargs"),
    generation_kwargs=GENERATION_KWARGS,
    metrics=(
        Metric("prompt_level_strict_acc"),
        Metric("inst_level_strict_acc", aggregation=agg_inst_level_acc),
        Metric("prompt_level_loose_acc"),
        Metric("inst_level_loose_acc", aggregation=agg_inst_level_acc),
    ),
    process_results=process_results,
    version=3.0,
)
TASKS = (TASK,)
GROUPS = ()
