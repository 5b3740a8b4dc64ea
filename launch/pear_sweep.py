"""Sweeps λ × seeds and writes the accuracy-vs-agreement trade-off:
`python -m launch.pear_sweep --config=configs/pear/<name>.py --workdir=DIR [--lams=0,0.5,1] [--seeds=0,1,2]`.

Each cell is a full `launch.pear_train` run in DIR/lam_<λ>/seed_<s>; DIR gets tradeoff.csv,
tradeoff.png and report.md. Rerunning skips finished cells and resumes an interrupted one.
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
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default ./runs/pear_sweep_<dataset>).")
_LAMS = flags.DEFINE_list("lams", ["0", "0.25", "0.5", "0.75", "1"], "λ values to sweep.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds per λ.")


def _parse(values, kind, flag):
    try:
        return tuple(kind(v) for v in values)
    except ValueError:
        raise app.UsageError(f"--{flag} must be a comma-separated list of {kind.__name__}, got {values}") from None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    lams, seeds = _parse(_LAMS.value, float, "lams"), _parse(_SEEDS.value, int, "seeds")
    import jaxrun

    mesh = common.start_processes_and_mesh()
    from pear_jax import sweep

    logging.getLogger("absl").setLevel(logging.WARNING)
    logging.getLogger().setLevel(logging.INFO)
    config = _CONFIG.value
    workdir = Path(_WORKDIR.value or Path("runs") / f"pear_sweep_{config.dataset.name}")
    if jaxrun.is_main_process():
        print(f"PEAR sweep in {workdir.absolute()}: λ={list(lams)} × seeds={list(seeds)}\n"
              f"  TensorBoard: tensorboard --logdir {workdir}", flush=True)
    sweep.sweep(config, workdir, lams=lams, seeds=seeds, mesh=mesh,
                make_writer=lambda d: jaxrun.MetricWriter(d / "tb"))
    if jaxrun.is_main_process():
        print(f"report: {workdir / 'report.md'}\n  trade-off: {workdir / 'tradeoff.csv'}, {workdir / 'tradeoff.png'}",
              flush=True)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
