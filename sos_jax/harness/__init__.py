"""SOS-Bench runner: tasks through a model, lm-eval-compatible resumable results, built-in demo.

`run_suite(models, settings, workdir, load_model)` evaluates models one after another;
`evaluate_model` does one; `demo_results(workdir)` runs the embedded default on built-in random
models. Results land in `<workdir>/<model slug>/results_<timestamp>.json` + `samples_<task>.jsonl`.
"""

from sos_jax.harness.demo import demo_results, demo_settings
from sos_jax.harness.lm import LanguageModel
from sos_jax.harness.models import load_engine, parse_models, resolve_model
from sos_jax.harness.runner import EvalSettings, evaluate_model, evaluate_task, run_suite

__all__ = [
    "EvalSettings",
    "LanguageModel",
    "demo_results",
    "demo_settings",
    "evaluate_model",
    "evaluate_task",
    "load_engine",
    "parse_models",
    "resolve_model",
    "run_suite",
]
