"""Runs the SOS-Bench suite: `python -m launch.sos_eval [--config=configs/sos/<suite>.py] [--model=M]`.

With no flags it runs the embedded default: every task of the suite on a small built-in random
model over the built-in sample documents, offline, in a few minutes, and prints where the
results landed (./runs/sos_eval). Real scores need a real checkpoint and the hub datasets:
`--config=configs/sos/full.py --model=<hf dir or hub id>`. `--models=a,b` or `--models=@file`
evaluates several models one after another; `--tasks`, `--limit`, `--apply_chat_template` and
`--config.<field>=` override the config. Rerunning skips tasks already complete for the same model
and config. `--data_dir=DIR` reads every dataset from a local mirror laid out like the hub
(`huggingface-cli download --repo-type dataset <id> --local-dir DIR/<id>`); `--list_datasets` prints
the datasets the selected tasks need (and which the mirror lacks) with those commands, then exits.
`--mesh_model=N` shards each model over N devices (tensor parallel). Multi-host: pass
--coordinator_address/--num_processes/--process_id (or the JAX_* variables); every process runs
the same command and process 0 writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from absl import app, flags

from . import common

common.define_mesh_flags()
common.define_multihost_flags()
common.define_run_flags()
_CONFIG = common.define_config(common.config_path("sos", "default.py"), "SOS-Bench config file (configs/sos/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default ./runs/sos_eval).")
_MODEL = flags.DEFINE_string("model", None, "One model: HF directory, hub id, or builtin:<preset>[:seed].")
_MODELS = flags.DEFINE_string("models", None, "Several models: comma-separated, or @file with one per line.")
_TASKS = flags.DEFINE_string("tasks", None, "Task/group/tag names, comma-separated (overrides config.tasks).")
_LIMIT = flags.DEFINE_integer("limit", None, "Evaluate only the first N documents of each task.")
_CHAT = flags.DEFINE_boolean("apply_chat_template", None, "Wrap prompts in the model's chat template.")
_CUSTOM = flags.DEFINE_list("custom_tasks", None, "Extra .yaml/.py task files, added to this run's task registry.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local hub-like dataset mirror (sets config.data_source=mirror).")
_LIST_DATASETS = flags.DEFINE_boolean("list_datasets", False, "Print the datasets the selected tasks need and exit.")


def default_workdir() -> Path:
    """Returns where a run without --workdir writes: `$SOS_EVAL_WORKDIR` or ./runs/sos_eval."""
    return Path(os.environ.get("SOS_EVAL_WORKDIR", Path("runs") / "sos_eval"))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from jaxrun.checks import check_int
    from sos_jax.harness.config import validate

    config = _CONFIG.value
    if _MODEL.value and _MODELS.value:
        raise app.UsageError("pass --model or --models, not both")
    if _MODEL.value or _MODELS.value:
        config.models = [_MODEL.value] if _MODEL.value else _MODELS.value
    if _TASKS.value:
        config.tasks = _TASKS.value
    if _LIMIT.value is not None:
        config.limit = check_int("--limit", _LIMIT.value, minimum=1)
    if _CHAT.value is not None:
        config.apply_chat_template = _CHAT.value
    if _CUSTOM.value:
        config.custom_tasks = list(config.custom_tasks) + list(_CUSTOM.value)
    if _DATA_DIR.value:
        config.data_source, config.data_dir = "mirror", _DATA_DIR.value
    validate(config)  # before JAX starts or data loads: a bad value creates nothing
    if _LIST_DATASETS.value:
        from sos_jax.harness.config import settings_from_config
        from sos_jax.harness.mirror import dataset_listing
        from sos_jax.tasks.custom import with_custom_tasks
        from sos_jax.tasks.registry import default_registry

        registry = with_custom_tasks(default_registry(), config.custom_tasks)
        tasks = [registry.task(n) for n in registry.resolve(settings_from_config(config).tasks)]
        print(dataset_listing(tasks, config.data_dir or None), flush=True)
        return
    workdir = Path(_WORKDIR.value) if _WORKDIR.value else default_workdir()
    common.start_jax()
    import jaxrun
    from jaxrun.workdir import WorkdirLock

    mesh = common.start_processes_and_mesh()
    from sos_jax.harness.config import run_config

    logging.getLogger("absl").setLevel(logging.WARNING)
    logging.getLogger().setLevel(logging.INFO)
    with contextlib.ExitStack() as stack:
        if jaxrun.is_main_process():
            stack.enter_context(WorkdirLock(workdir, "sos_eval"))
        results = run_config(config, workdir, mesh)
    if jaxrun.is_main_process():
        print(f"SOS-Bench results for {len(results)} model(s) in {workdir.absolute()}\n"
              f"  summary: {workdir / 'summary.md'}\n"
              f"  per model: <model>/results_<config hash>.json, samples_<task>.jsonl\n"
              f"  TensorBoard: tensorboard --logdir {workdir}", flush=True)


def run():
    common.run(main)


if __name__ == "__main__":
    run()
