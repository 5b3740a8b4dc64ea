"""Trains one PEAR model: `python -m launch.pear_train [--config=configs/pear/<name>.py] [--workdir=DIR]`.

With no flags it runs the README's main job: PEAR (λ = 0.5, grad vs IG) on Electricity from the
pear-xai wheel, a short schedule, writing TensorBoard logs, checkpoints, per-epoch metrics and the
final disagreement matrix under ./runs/pear_electricity. Override any field with
`--config.lam=0.25`; rerunning the same command resumes from the newest checkpoint.
Multi-host: pass --coordinator_address/--num_processes/--process_id (or set JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID); every process runs the same command.
"""

from __future__ import annotations

import logging
from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from . import common

common.define_mesh_flags()
common.define_multihost_flags()
_CONFIG = config_flags.DEFINE_config_file(
    "config", default=common.config_path("pear", "electricity.py"), help_string="PEAR config file (configs/pear/*.py)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default ./runs/pear_<dataset>).")


def default_workdir(config) -> str:
    """Returns ./runs/pear_<dataset>[_noisy]."""
    return str(Path("runs") / f"pear_{config.dataset.name}{'_noisy' if config.dataset.noise else ''}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import jaxrun

    mesh = common.start_processes_and_mesh()
    from pear_jax import train

    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax's per-save INFO chatter
    logging.getLogger().setLevel(logging.INFO)
    config = _CONFIG.value
    workdir = Path(_WORKDIR.value or default_workdir(config))
    writer = jaxrun.MetricWriter(workdir / "tb")
    if jaxrun.is_main_process():
        print(f"PEAR run in {workdir.absolute()}\n  TensorBoard: tensorboard --logdir {workdir / 'tb'}", flush=True)
    summary = train.train_and_evaluate(config, workdir, mesh=mesh, writer=writer)
    writer.close()
    if jaxrun.is_main_process():
        ev = summary["final_eval"] or {}
        print(f"done: {summary['steps']} steps, test accuracy {ev.get('accuracy', float('nan')):.4f}, "
              f"consensus {ev.get('consensus', float('nan')):.4f}\n"
              f"  metrics: {workdir / 'final_metrics.json'} (per epoch: {workdir / 'history.json'})\n"
              f"  disagreement matrix: {workdir / 'disagreement.json'}, {workdir / 'disagreement.png'}", flush=True)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
