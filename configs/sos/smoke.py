"""A seconds-long check: one task per prompt family on the built-in tiny model, short generations."""

from sos_jax.harness.config import base_config


def get_config():
    c = base_config()
    c.tasks = ("leaderboard_bbh_boolean_expressions,leaderboard_gpqa_diamond,leaderboard_mmlu_pro,"
               "leaderboard_musr_team_allocation,leaderboard_math_algebra_hard,leaderboard_ifeval,"
               "xstest,SaladBench,bbq_age,wmdp_bio")
    c.max_gen_toks = 16
    return c
