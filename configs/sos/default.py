"""The embedded default: the whole SOS-Bench suite on a small built-in random model, offline.

Built-in sample documents (a few per task, in the real datasets' schemas) and a random Llama
checkpoint written on first use: the complete pipeline in minutes, scores meaningless. Real scores
need a real checkpoint and the hub datasets: see `full.py`.
"""

from sos_jax.harness.config import base_config


def get_config():
    c = base_config()
    c.max_gen_toks = 32  # a random model never emits EOS: cap generation so the run takes minutes
    return c
