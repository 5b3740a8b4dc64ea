"""Trains one PEAR model: `python -m launch.pear_train [--config=configs/pear/<name>.py] [--workdir=DIR]`.

With no flags it runs the README's main job: PEAR (λ = 0.5, grad vs IG) on Electricity from the
pear-xai wheel, a short schedule, writing TensorBoard logs, checkpoints, per-epoch metrics and the
final disagreement matrix under ./runs/pear_electricity. Override any field with
`--config.lam=0.25`; rerunning the same command resumes from the newest checkpoint.
Multi-host: pass --coordinator_address/--num_processes/--process_id (or set JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID); every process runs the same command.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from absl import app, flags

from . import common

common.define_mesh_flags()
common.define_multihost_flags()
common.define_run_flags(config_change=True)
_CONFIG = common.define_config(common.config_path("pear", "electricity.py"), "PEAR config file (configs/pear/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default ./runs/pear_<dataset>).")


def default_workdir(config) -> str:
    """Returns ./runs/pear_<dataset>[_noisy]."""
    return str(Path("runs") / f"pear_{config.dataset.name}{'_noisy' if config.dataset.noise else ''}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from pear_jax.config import validate

    config = validate(_CONFIG.value)  # before JAX starts or data loads: a bad value creates nothing
    workdir = Path(_WORKDIR.value or default_workdir(config))
    common.start_jax()
    import jaxrun
    from jaxrun.workdir import WorkdirLock

    mesh = common.start_processes_and_mesh()
    from pear_jax import train

    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax's per-save INFO chatter
    logging.getLogger().setLevel(logging.INFO)
    writers = []

    def make_writer(purge_step):
        writers.append(jaxrun.MetricWriter(workdir / "tb", purge_step=purge_step))
        return writers[-1]

    with contextlib.ExitStack() as stack:
        if jaxrun.is_main_process():
            stack.enter_context(WorkdirLock(workdir, "pear_train"))
            print(f"PEAR run in {workdir.absolute()}\n  TensorBoard: tensorboard --logdir {workdir / 'tb'}", flush=True)
        stack.callback(lambda: [w.close() for w in writers])
        summary = train.train_and_evaluate(config, workdir, mesh=mesh, make_writer=make_writer,
                                           allow_config_change=common.allow_config_change())
    if jaxrun.is_main_process():
        ev = summary["final_eval"] or {}
        print(f"done: {summary['steps']} steps, test accuracy {ev.get('accuracy', float('nan')):.4f}, "
              f"consensus {ev.get('consensus', float('nan')):.4f}\n"
              f"  metrics: {workdir / 'final_metrics.json'} (per epoch: {workdir / 'history.json'})\n"
              f"  disagreement matrix: {workdir / 'disagreement.json'}, {workdir / 'disagreement.png'}", flush=True)


def run():
    common.run(main)


if __name__ == "__main__":
    run()
