"""SOS-Bench runner: tasks through a model, lm-eval-compatible resumable results.

`run_suite(models, settings, workdir, load_model)` evaluates models one after another;
`evaluate_model` does one. Results land in `<workdir>/<model slug>/results_<config hash>.json` +
`samples_<task>.jsonl`.

The names below load on first use, so `sos_jax.harness.config` (which config files import) stays
free of jax and the task suite.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EvalSettings": "sos_jax.harness.config",
    "LanguageModel": "sos_jax.harness.lm",
    "evaluate_model": "sos_jax.harness.runner",
    "evaluate_task": "sos_jax.harness.runner",
    "load_engine": "sos_jax.harness.models",
    "parse_models": "sos_jax.harness.models",
    "resolve_model": "sos_jax.harness.models",
    "run_suite": "sos_jax.harness.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sos_jax.harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
