"""Runs the tensions study: `python -m launch.pear_tensions [--config=configs/pear/tensions/<name>.py] [--workdir=DIR]`.

Trains every grid cell's models as stacked programs, measures accuracy, fairness, privacy and
explanation consensus on each, and writes report.md, results.json, PNGs and TensorBoard logs under
--workdir (default ./runs/pear_tensions). Rerunning the same command trains only the missing cells.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from absl import app, flags

from . import common

common.define_mesh_flags()
common.define_multihost_flags()
common.define_run_flags()
_CONFIG = common.define_config(common.config_path("pear", "tensions", "grid.py"),
                               "Tensions config file (configs/pear/tensions/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/pear_tensions", "Output directory.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from pear_jax.tensions.config import validate

    config = validate(_CONFIG.value)  # before JAX starts or data loads: a bad value creates nothing
    workdir = Path(_WORKDIR.value)
    common.start_jax()
    import jaxrun
    from jaxrun.workdir import WorkdirLock

    mesh = common.start_processes_and_mesh()
    from pear_jax.tensions import grid

    logging.getLogger().setLevel(logging.INFO)
    with contextlib.ExitStack() as stack:
        if jaxrun.is_main_process():
            stack.enter_context(WorkdirLock(workdir, "pear_tensions"))
        writer = jaxrun.MetricWriter(workdir / "tb")
        stack.callback(writer.close)
        result = grid.run(config, workdir, mesh=mesh, writer=writer)
    if jaxrun.is_main_process():
        print(f"done: {len(result['records'])} models in {result['seconds'] / 60:.1f} min\n"
              f"  report: {workdir / 'report.md'}\n  results: {workdir / 'results.json'}", flush=True)


def run():
    common.run(main)


if __name__ == "__main__":
    run()
