"""The run configuration (`ml_collections.ConfigDict`), the settings it holds, and the one call a
launcher makes with it.

`EvalSettings` holds the evaluation defaults (their one home); `base_config()` is a run config
with those defaults plus the model and engine settings; `configs/sos/*.py` adjust it. `run_config(config,
workdir, mesh)` builds the task registry (SOS-Bench plus custom tasks), turns the config into
`EvalSettings`, loads each model on the mesh in turn and returns the per-model results.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from ml_collections import config_dict

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """What to run and how; everything here is part of each task's config hash.

    `max_gen_toks` caps generation lengths (smoke runs on random models); None keeps each
    task's own (1024 MATH, 1280 IFEval).
    """

    tasks: tuple[str, ...] = ("sos",)
    data_source: str = "sample"
    data_dir: str | None = None
    limit: int | None = None
    apply_chat_template: bool = False
    fewshot_seed: int = 1234
    max_gen_toks: int | None = None
    log_samples: bool = True

    def hashed(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("tasks")
        d.pop("log_samples")
        return d


def base_config() -> config_dict.ConfigDict:
    """Returns a run config with `EvalSettings`' defaults on the built-in tiny random model."""
    d = EvalSettings()
    c = config_dict.ConfigDict()
    c.models = ["builtin:tiny"]          # HF dirs, hub ids or builtin:<preset>[:seed]
    c.tasks = ",".join(d.tasks)          # task, group or tag names, comma-separated
    c.custom_tasks = []                  # .yaml/.py task files added to the registry
    c.data_source = d.data_source        # sample | hub | local | mirror (local/mirror read data_dir)
    c.data_dir = d.data_dir or ""
    c.limit = config_dict.placeholder(int)
    c.apply_chat_template = d.apply_chat_template
    c.fewshot_seed = d.fewshot_seed
    c.max_gen_toks = config_dict.placeholder(int)  # None: each task's own length (1024 MATH, 1280 IFEval)
    c.log_samples = d.log_samples
    c.dtype = "float32"
    # max_batch_tokens "auto": sized from the compiled kernel's memory on accelerators, 8192 on CPUs
    # (an integer, e.g. --config.engine.max_batch_tokens=4096, fixes it). scan_layers: the stacked
    # layer layout, compile time flat in depth (8B-class models). gen_lookahead: prompt-lookup draft
    # tokens a greedy decode step verifies (0: one token a step; the output is the same).
    c.engine = config_dict.ConfigDict(
        {"max_batch_tokens": "auto", "gen_batch_size": 16, "gen_lookahead": 3, "scan_layers": False})
    c.compilation_cache = True           # persist compiled shapes: later models and reruns reuse them
    c.tensorboard = True
    return c


def settings_from_config(config: config_dict.ConfigDict):
    """Returns the `EvalSettings` a config describes."""
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


DTYPES = ("float32", "bfloat16", "float16")


def validate(config: config_dict.ConfigDict) -> config_dict.ConfigDict:
    """Returns `config` after checking every field `run_config` reads; raises
    `jaxrun.checks.ConfigError` naming the first bad field, its value and what is allowed.

    Runs before JAX starts or data loads (the launcher calls it first): unknown fields, task
    names (with "did you mean"), custom task files, sources, sizes and model paths fail at once.
    """
    from jaxrun.checks import ConfigError, check_choice, check_int, unknown_fields
    from sos_jax.harness.data import SOURCES
    from sos_jax.harness.models import parse_models, resolve_model
    from sos_jax.tasks.custom import with_custom_tasks
    from sos_jax.tasks.registry import default_registry

    unknown = unknown_fields(config.to_dict(), base_config().to_dict())
    if unknown:
        raise ConfigError(f"config: unknown field {unknown[0]}")
    models = parse_models(list(config.models) if not isinstance(config.models, str) else config.models)
    if not models:
        raise ConfigError("config.models is empty: pass --model=<hf dir or hub id> or --models=a,b (or @file)")
    for m in models:  # a missing local path fails before anything runs; built-ins are written later
        if not m.startswith("builtin:"):
            resolve_model(m)
    check_choice("config.data_source", config.data_source, SOURCES)
    if config.data_source in ("local", "mirror") and not config.data_dir:
        raise ConfigError(f"config.data_dir is required for data_source={config.data_source!r}")
    if config.limit is not None:
        check_int("config.limit", config.limit, minimum=1)
    check_int("config.fewshot_seed", config.fewshot_seed)
    if config.max_gen_toks is not None:
        check_int("config.max_gen_toks", config.max_gen_toks, minimum=1)
    check_choice("config.dtype", config.dtype, DTYPES)
    for key, value in config.engine.items():
        if key == "max_batch_tokens" and value != "auto":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"config.engine.max_batch_tokens must be 'auto' or a positive integer, got {value!r}") from None
            check_int(f"config.engine.{key}", value, minimum=1)
        elif isinstance(value, int) and not isinstance(value, bool):
            check_int(f"config.engine.{key}", value, minimum=0 if key == "gen_lookahead" else 1)
    registry = with_custom_tasks(default_registry(), config.custom_tasks)
    settings = settings_from_config(config)
    if not settings.tasks:
        raise ConfigError("config.tasks is empty: name tasks, groups or tags (e.g. 'sos' or 'leaderboard,safety')")
    try:
        registry.resolve(settings.tasks)
    except (KeyError, ValueError) as e:
        raise ConfigError(f"config.tasks={config.tasks!r}: {str(e).strip(chr(34) + chr(39))}") from None
    return config


def run_config(config: config_dict.ConfigDict, workdir: str | os.PathLike, mesh: Any) -> dict[str, Any]:
    """Returns {model: lm-eval results} after running the configured suite; see the module docstring."""
    from jaxrun import MetricWriter
    from jaxrun.workdir import enable_compilation_cache
    from sos_jax.harness.mirror import require_datasets
    from sos_jax.harness.models import default_cache_dir, load_engine, parse_models, resolve_model
    from sos_jax.harness.runner import run_suite
    from sos_jax.tasks.custom import with_custom_tasks
    from sos_jax.tasks.registry import default_registry

    workdir = Path(workdir)
    registry = with_custom_tasks(default_registry(), config.custom_tasks)
    if config.custom_tasks:
        log.info("custom task files %s added to the registry", list(config.custom_tasks))
    settings = settings_from_config(config)
    names = registry.resolve(settings.tasks)  # unknown names fail here, before any model loads
    require_datasets([registry.task(n) for n in names], settings.data_source, settings.data_dir)  # so do missing data
    models = parse_models(list(config.models) if not isinstance(config.models, str) else config.models)
    if not models:
        raise ValueError("no model given: pass --model=<hf dir or hub id> or --models=a,b (or @file)")
    cache_dir = default_cache_dir()  # built-in random checkpoints: a cache, shared by every run
    for m in models:  # a missing path fails before the first model runs
        if not m.startswith("builtin:"):
            resolve_model(m, cache_dir)
    if config.compilation_cache:
        # Each model gets its own engine and jitted functions; the persistent cache lets later
        # models and reruns reuse the shapes the first one compiled.
        enable_compilation_cache()
    engine_kwargs = dict(config.engine)
    return run_suite(
        models, settings, workdir,
        lambda m: load_engine(m, mesh, dtype=config.dtype, engine_kwargs=engine_kwargs, cache_dir=cache_dir),
        writer_factory=(lambda d: MetricWriter(d / "tb")) if config.tensorboard else None,
        registry=registry,
    )
