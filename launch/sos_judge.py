"""Runs the local pairwise judge: `python -m launch.sos_judge [--config=configs/sos/judge.py] --workdir=DIR`.

Judges every model's answers against the baseline's in both orders and writes
`<workdir>/judgments_<prompt>.jsonl` (rerunning resumes). With no `--config.questions` it judges
the built-in demo set (`launch/demos.py`) with a random built-in model, offline. Feed the output
to `python -m launch.sos_analyze --judgments=<workdir>/judgments_arena_hard.jsonl`.
`--mesh_model=N` shards the judge over N devices; multi-host: pass
--coordinator_address/--num_processes/--process_id (or the JAX_* variables).
"""

from __future__ import annotations

import contextlib

from absl import app, flags

from . import common

common.define_mesh_flags()
common.define_multihost_flags()
common.define_run_flags()
_CONFIG = common.define_config(common.config_path("sos", "judge.py"), "Judge config file.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/sos_judge", "Output directory.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from sos_jax.judge.config import validate

    config = validate(_CONFIG.value)  # before JAX starts: a bad value creates nothing
    common.start_jax()
    import jaxrun
    from jaxrun.workdir import WorkdirLock
    from sos_jax.judge.runner import run_judge

    mesh = common.start_processes_and_mesh()
    questions = answers = None
    if not config.questions:
        from .demos import judge_demo_set

        questions, answers = judge_demo_set()
    with contextlib.ExitStack() as stack:
        if jaxrun.is_main_process():
            stack.enter_context(WorkdirLock(_WORKDIR.value, "sos_judge"))
        summary = run_judge(config, _WORKDIR.value, mesh, questions=questions, answers=answers)
    if jaxrun.is_main_process():
        print(f"judged {summary.judged} games ({summary.malformed} malformed verdicts), "
              f"skipped {summary.skipped} already done: {summary.path}", flush=True)


def run():
    common.run(main)


if __name__ == "__main__":
    run()
