"""A run killed with SIGKILL loses at most the task in progress; the rerun finishes the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sos_jax.harness.runner import EvalSettings, evaluate_model

TASKS = ("xstest", "SGXSTest", "wmdp_bio", "wmdp_chem", "toxigen", "CDNA")

_CHILD = textwrap.dedent("""
    import sys, time, zlib
    from sos_jax.harness.runner import EvalSettings, evaluate_model

    class SlowLM:
        def loglikelihood(self, requests):
            time.sleep(1.0)
            return [(-(zlib.crc32((c + x).encode()) % 1000) / 100.0, False) for c, x in requests]

    evaluate_model(SlowLM(), "m", EvalSettings(tasks=tuple(sys.argv[2].split(","))), sys.argv[1], run_name="killed")
""")


@pytest.mark.slow
def test_sigkill_loses_at_most_the_task_in_progress(tmp_path, fake_lm):
    workdir = tmp_path / "run"
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, str(script), str(workdir), ",".join(TASKS)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tasks_dir = workdir / "m" / "tasks"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(tasks_dir.glob("*.json"))) < 2:
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    done = sorted(p.stem for p in tasks_dir.glob("*.json"))
    assert 2 <= len(done) < len(TASKS)
    for name in done:  # whatever is there is whole and marked complete
        record = json.loads((tasks_dir / f"{name}.json").read_text())
        assert record["complete"] and record["task"] == name
        assert (workdir / "m" / f"samples_{name}.jsonl").is_file()
    partial = json.loads((workdir / "m" / "results_killed.json").read_text())
    assert set(partial["results"]) <= set(done) | {"wmdp"}

    resumed = evaluate_model(fake_lm, "m", EvalSettings(tasks=TASKS), workdir, run_name="resumed")
    assert len(fake_lm.calls) == len(TASKS) - len(done)  # only the unfinished tasks ran
    clean = evaluate_model(type(fake_lm)(), "m", EvalSettings(tasks=TASKS), tmp_path / "clean", run_name="clean")
    assert resumed["results"] == clean["results"]
