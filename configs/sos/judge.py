"""Settings of `launch/sos_judge.py`: the local pairwise judge (model, inputs, prompt, generation).

With the defaults the launcher judges its built-in demo set with a random built-in model
(offline smoke run: verdicts will be malformed). The mesh comes from `--mesh_model`. Real runs:
    --config.judge_model=<HF dir or hub id> --config.questions=question.jsonl
    --config.answers=model_answer/ --config.baseline=gpt-4-0314
"""

from ml_collections import config_dict


def get_config() -> config_dict.ConfigDict:
    c = config_dict.ConfigDict()
    c.judge_model = "builtin:tiny"      # HF dir, hub id or builtin:<preset>[:seed]
    c.judge_name = ""                   # recorded in each judgment; defaults to judge_model
    c.dtype = "float32"
    c.questions = ""                    # Arena-Hard question.jsonl; "" = the launcher's demo set
    c.answers = ""                      # answer .jsonl or a directory of them
    c.baseline = "baseline"             # model whose answers every other model is compared with
    c.models = []                       # judged models; [] = every model with answers but the baseline
    c.prompt = "arena_hard"             # or "multi_criteria"
    c.max_gen_toks = 1024
    c.until = []
    c.batch_size = 16
    c.apply_chat_template = None        # None: the judge's chat template if it has one; True/False force
    return c
