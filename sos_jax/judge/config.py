"""Checks of the local judge's settings (`configs/sos/judge.py`), run before the judge model loads.

Imports nothing heavy at module level, so a launcher can check a config before JAX starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def validate(config: Any) -> Any:
    """Returns `config` after checking every field `runner.run_judge` reads; raises
    `jaxrun.checks.ConfigError` naming the first bad field, its value and what is allowed."""
    from jaxrun.checks import ConfigError, check_choice, check_int, check_keys
    from sos_jax.harness.config import DTYPES
    from sos_jax.harness.models import resolve_model
    from sos_jax.judge.prompts import PROMPTS

    known = ("judge_model", "judge_name", "dtype", "questions", "answers", "baseline", "models", "prompt",
             "max_gen_toks", "until", "batch_size", "apply_chat_template")
    check_keys("config", list(config.keys()), known)
    if not str(config.judge_model).startswith("builtin:"):
        resolve_model(config.judge_model)  # a missing path fails now, not after start-up
    check_choice("config.dtype", config.dtype, DTYPES)
    check_choice("config.prompt", config.prompt, sorted(PROMPTS))
    check_int("config.max_gen_toks", config.max_gen_toks, minimum=1)
    check_int("config.batch_size", config.batch_size, minimum=1)
    for field in ("questions", "answers"):
        if config[field] and not Path(config[field]).expanduser().exists():
            raise ConfigError(f"config.{field}={config[field]!r}: no such file or directory")
    if config.answers and not config.questions:
        raise ConfigError("config.answers is set but config.questions is not: name both, or neither for the demo set")
    if not config.baseline:
        raise ConfigError("config.baseline is empty: name the model every other model is compared with")
    if any(not isinstance(u, str) or not u for u in config.until):
        raise ConfigError(f"config.until={list(config.until)!r}: expected non-empty stop strings")
    if config.apply_chat_template not in (None, True, False):
        raise ConfigError(f"config.apply_chat_template={config.apply_chat_template!r}: expected None, True or False")
    return config
