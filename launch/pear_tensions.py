"""Runs the tensions study: `python -m launch.pear_tensions [--config=configs/pear/tensions/<name>.py] [--workdir=DIR]`.

Trains every grid cell's models as stacked programs, measures accuracy, fairness, privacy and
explanation consensus on each, and writes report.md, results.json, PNGs and TensorBoard logs under
--workdir (default ./runs/pear_tensions). Rerunning the same command trains only the missing cells.
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
    "config", default=common.config_path("pear", "tensions", "grid.py"),
    help_string="Tensions config file (configs/pear/tensions/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/pear_tensions", "Output directory.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import jaxrun

    mesh = common.start_processes_and_mesh()
    from pear_jax.tensions import grid

    logging.getLogger().setLevel(logging.INFO)
    workdir = Path(_WORKDIR.value)
    writer = jaxrun.MetricWriter(workdir / "tb")
    result = grid.run(_CONFIG.value, workdir, mesh=mesh, writer=writer)
    writer.close()
    if jaxrun.is_main_process():
        print(f"done: {len(result['records'])} models in {result['seconds'] / 60:.1f} min\n"
              f"  report: {workdir / 'report.md'}\n  results: {workdir / 'results.json'}", flush=True)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
