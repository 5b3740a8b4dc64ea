"""The real SOS-Bench suite: all 19 benchmarks from the hub datasets, as the paper ran them.

Reference settings: raw prompts (no chat template), each task's own shot count and generation
length, bf16 weights. Pass the model with `--model=<hf dir or hub id>` or `--models=a,b` / `@file`.
Gated datasets (GPQA) need a logged-in Hugging Face token on the machine.
"""

from sos_jax.harness.config import base_config


def get_config():
    c = base_config()
    c.models = []
    c.data_source = "hub"
    c.dtype = "bfloat16"
    return c
