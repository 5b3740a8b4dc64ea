"""Sweeps λ × seeds and writes the accuracy-vs-agreement trade-off:
`python -m launch.pear_sweep --config=configs/pear/<name>.py --workdir=DIR [--lams=0,0.5,1] [--seeds=0,1,2]`.

Each cell is a full `launch.pear_train` run in DIR/lam_<λ>/seed_<s>; DIR gets tradeoff.csv,
tradeoff.png and report.md. Rerunning skips finished cells and resumes an interrupted one.
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
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default ./runs/pear_sweep_<dataset>).")
_LAMS = flags.DEFINE_list("lams", ["0", "0.25", "0.5", "0.75", "1"], "λ values to sweep.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds per λ.")


def _parse(values, kind, flag):
    from jaxrun.checks import ConfigError

    out = []
    for v in values:
        try:
            out.append(kind(v))
        except ValueError:
            what = "numbers" if kind is float else "integers"
            raise ConfigError(f"--{flag}={','.join(values)}: {v!r} is not a number; expected comma-separated {what}") from None
    return tuple(out)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from pear_jax.config import validate, validate_sweep

    # Every λ, seed and field before JAX starts: a bad λ must not wait for the first cell to train.
    lams, seeds = validate_sweep(_parse(_LAMS.value, float, "lams"), _parse(_SEEDS.value, int, "seeds"))
    config = validate(_CONFIG.value)
    workdir = Path(_WORKDIR.value or Path("runs") / f"pear_sweep_{config.dataset.name}")
    common.start_jax()
    import jaxrun
    from jaxrun.workdir import WorkdirLock

    mesh = common.start_processes_and_mesh()
    from pear_jax import sweep

    logging.getLogger("absl").setLevel(logging.WARNING)
    logging.getLogger().setLevel(logging.INFO)
    with contextlib.ExitStack() as stack:
        if jaxrun.is_main_process():
            stack.enter_context(WorkdirLock(workdir, "pear_sweep"))
            print(f"PEAR sweep in {workdir.absolute()}: λ={list(lams)} × seeds={list(seeds)}\n"
                  f"  TensorBoard: tensorboard --logdir {workdir}", flush=True)
        sweep.sweep(config, workdir, lams=lams, seeds=seeds, mesh=mesh,
                    make_writer=lambda d, purge_step: jaxrun.MetricWriter(d / "tb", purge_step=purge_step),
                    allow_config_change=common.allow_config_change())
    if jaxrun.is_main_process():
        print(f"report: {workdir / 'report.md'}\n  trade-off: {workdir / 'tradeoff.csv'}, {workdir / 'tradeoff.png'}",
              flush=True)


def run():
    common.run(main)


if __name__ == "__main__":
    run()
