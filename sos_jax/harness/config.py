"""The run configuration (`ml_collections.ConfigDict`) and the one call a launcher makes with it.

`base_config()` is the embedded default; `configs/sos/*.py` adjust it. `run_config(config,
workdir, mesh)` builds the task registry (SOS-Bench plus custom tasks), turns the config into
`EvalSettings`, loads each model on the mesh in turn and returns the per-model results.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ml_collections import config_dict

log = logging.getLogger(__name__)


def base_config() -> config_dict.ConfigDict:
    """Returns the embedded default: every task, built-in samples, the built-in tiny random model."""
    c = config_dict.ConfigDict()
    c.models = ["builtin:tiny"]          # HF dirs, hub ids or builtin:<preset>[:seed]
    c.tasks = "sos"                      # task, group or tag names, comma-separated
    c.custom_tasks = []                  # .yaml/.py task files added to the registry
    c.data_source = "sample"             # sample | hub | local (then data_dir)
    c.data_dir = ""
    c.limit = config_dict.placeholder(int)
    c.apply_chat_template = False
    c.fewshot_seed = 1234
    c.max_gen_toks = config_dict.placeholder(int)  # None keeps the tasks' own (1024 MATH, 1280 IFEval)
    c.max_gen_toks = 32                  # random models never emit EOS
    c.log_samples = True
    c.dtype = "float32"
    c.engine = config_dict.ConfigDict({"max_batch_tokens": 8192, "gen_batch_size": 16})
    c.compilation_cache = True           # persist compiled shapes: later models and reruns reuse them
    c.tensorboard = True
    return c


def default_workdir() -> Path:
    """Returns where a run without --workdir writes: `$SOS_EVAL_WORKDIR` or ./runs/sos_eval."""
    return Path(os.environ.get("SOS_EVAL_WORKDIR", Path("runs") / "sos_eval"))


def settings_from_config(config: config_dict.ConfigDict):
    """Returns the `EvalSettings` a config describes."""
    from sos_jax.harness.runner import EvalSettings

    tasks = config.tasks
    tasks = tuple(t.strip() for t in tasks.split(",") if t.strip()) if isinstance(tasks, str) else tuple(tasks)
    return EvalSettings(
        tasks=tasks,
        data_source=config.data_source,
        data_dir=config.data_dir or None,
        limit=config.limit,
        apply_chat_template=bool(config.apply_chat_template),
        fewshot_seed=int(config.fewshot_seed),
        max_gen_toks=config.max_gen_toks,
        log_samples=bool(config.log_samples),
    )


def run_config(config: config_dict.ConfigDict, workdir: str | os.PathLike, mesh: Any) -> dict[str, Any]:
    """Returns {model: lm-eval results} after running the configured suite; see the module docstring."""
    from jaxrun import MetricWriter
    from sos_jax.harness.models import enable_compilation_cache, load_engine, parse_models, resolve_model
    from sos_jax.harness.runner import run_suite
    from sos_jax.tasks.custom import with_custom_tasks
    from sos_jax.tasks.registry import default_registry

    workdir = Path(workdir)
    registry = with_custom_tasks(default_registry(), config.custom_tasks)
    if config.custom_tasks:
        log.info("custom task files %s added to the registry", list(config.custom_tasks))
    settings = settings_from_config(config)
    registry.resolve(settings.tasks)  # unknown names fail here, before any model loads
    models = parse_models(list(config.models) if not isinstance(config.models, str) else config.models)
    if not models:
        raise ValueError("no model given: pass --model=<hf dir or hub id> or --models=a,b (or @file)")
    cache_dir = workdir / "models"
    for m in models:  # a missing path fails before the first model runs
        if not m.startswith("builtin:"):
            resolve_model(m, cache_dir)
    if config.compilation_cache:
        enable_compilation_cache(workdir / ".jax_cache")
    engine_kwargs = dict(config.engine)
    return run_suite(
        models, settings, workdir,
        lambda m: load_engine(m, mesh, dtype=config.dtype, engine_kwargs=engine_kwargs, cache_dir=cache_dir),
        writer_factory=(lambda d: MetricWriter(d / "tb")) if config.tensorboard else None,
        registry=registry,
    )
