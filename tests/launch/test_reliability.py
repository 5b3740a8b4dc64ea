"""Launchers under bad input and contention (issue 14): every bad flag or config field fails before
JAX starts with one line naming it, exit status 2 and nothing created; `--verbose` shows the
traceback; a workdir held by another process is refused with who holds it; every launcher turns
on the persistent compilation cache in the project's cache folder and stays quiet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxrun.workdir import WorkdirLock

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "pear" / "smoke.py"


def launch(module, *args, cwd, cache):
    env = dict(os.environ, PYTHONPATH=str(REPO), SOS_PEAR_CACHE=str(cache))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-m", f"launch.{module}", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("module, args, message", [
    ("pear_train", ["--config.optim.learning_rate=nan"], "error: config.optim.learning_rate=nan: expected a finite number"),
    ("pear_train", ["--config.batch_size=-4"], "error: config.batch_size=-4: must be >= 1"),
    ("pear_train", ["--config.lr_typo=1"], "error: --config.lr_typo: unknown config field 'lr_typo'; known fields here:"),
    ("pear_train", ["--config.optim.learning_rat=1"], "unknown config field 'learning_rat' (did you mean 'learning_rate'?)"),
    ("pear_train", [f"--config={SMOKE}:nosy"], "smoke.py:nosy: unknown variant"),
    ("pear_sweep", ["--lams=0,2"], "error: lams[1]=2.0: must be <= 1.0"),
    ("pear_tensions", ["--config.datasets=('adult','adlt')"], "config.datasets[1]='adlt'"),
    ("pear_tensions", ["--config.dp_epsilons=(8.0,0.0)"], "error: config.dp_epsilons[1]=0.0: must be > 0.0"),
    ("sos_eval", ["--tasks=leaderbord_bbh"], "did you mean leaderboard_bbh"),
    ("sos_eval", ["--limit=0"], "error: --limit=0: must be >= 1"),
    ("sos_judge", ["--config.prompt=arena"], "did you mean 'arena_hard'"),
    ("sos_analyze", ["--judgments=missing.jsonl"], "--judgments=missing.jsonl: missing.jsonl does not exist"),
], ids=lambda v: v if isinstance(v, str) and not v.startswith("error") else None)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(tmp_path, module, args, message):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = launch(module, *args, "--workdir=out", cwd=cwd, cache=tmp_path / "cache")
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error") and message in lines[0], proc.stderr[-3000:]
    assert [ln.strip() for ln in lines[1:]] == ["(rerun with --verbose for the traceback)"]
    assert list(cwd.iterdir()) == []  # no workdir, no tb/, no runs/


def test_verbose_shows_the_traceback(tmp_path):
    proc = launch("pear_train", "--config.num_epochs=0", "--verbose", "--workdir=out", cwd=tmp_path, cache=tmp_path / "c")
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr and "config.num_epochs=0" in proc.stderr


@pytest.mark.parametrize("module, args", [
    ("pear_train", [f"--config={SMOKE}"]),
    ("pear_sweep", [f"--config={SMOKE}", "--lams=0", "--seeds=0"]),
    ("sos_eval", ["--limit=1"]),
    ("sos_judge", []),
])
def test_a_held_workdir_is_refused_naming_the_holder(tmp_path, pear_smoke_data, module, args):
    workdir = tmp_path / "run"
    cache = tmp_path / "cache"
    if module.startswith("pear"):
        args = [*args, f"--config.dataset.data_dir={pear_smoke_data}"]
    with WorkdirLock(workdir, "test holder"):  # this test process is the other process
        proc = launch(module, *args, f"--workdir={workdir}", cwd=tmp_path, cache=cache)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"is in use by test holder pid {os.getpid()}" in proc.stderr
    assert sorted(p.name for p in workdir.iterdir()) == [".lock"]  # the holder's files untouched
    # Every launcher enables the persistent compilation cache in the project's cache folder, and
    # start-up chatter stays out of the log.
    assert (cache / "jax").is_dir()
    for noise in ("Unable to initialize backend", "PyTorch was not found", "libtpu", "TPU_WORKER_HOSTNAMES"):
        assert noise not in proc.stderr, proc.stderr[-3000:]
