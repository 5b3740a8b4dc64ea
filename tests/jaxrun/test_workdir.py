"""Tests for the workdir lock, the recorded-config check, cache folders and file modes."""

import json
import os
import signal
import subprocess
import sys

import pytest

from jaxrun import files, workdir


def test_lock_excludes_a_second_process_and_is_freed_by_sigkill(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from jaxrun.workdir import WorkdirLock\n"
         f"WorkdirLock({str(tmp_path)!r}, purpose='pear_train').acquire()\n"
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(workdir.WorkdirBusyError) as err:
            workdir.WorkdirLock(tmp_path).acquire()
        msg = str(err.value)
        assert f"pid {holder.pid}" in msg and "pear_train" in msg and "since" in msg and str(tmp_path) in msg
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel released the dead holder's lock: nothing stale blocks the next run.
    with workdir.WorkdirLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    with workdir.WorkdirLock(tmp_path):
        pass


def test_lock_is_exclusive_within_a_process_too(tmp_path):
    with workdir.WorkdirLock(tmp_path):
        with pytest.raises(workdir.WorkdirBusyError):
            workdir.WorkdirLock(tmp_path).acquire()


def test_check_config_records_then_refuses_a_changed_config(tmp_path):
    cfg = {"lam": 0.5, "optim": {"lr": 1e-3, "batch_size": 64}, "log": {"every": 10}}
    workdir.check_config(tmp_path, cfg)
    assert json.loads((tmp_path / "config.json").read_text()) == cfg
    workdir.check_config(tmp_path, cfg)  # same config resumes
    changed = {**cfg, "lam": 0.9, "optim": {"lr": 1e-3, "batch_size": 32}}
    with pytest.raises(workdir.ConfigMismatchError) as err:
        workdir.check_config(tmp_path, changed)
    assert "lam: 0.5 -> 0.9" in str(err.value) and "optim.batch_size: 64 -> 32" in str(err.value)
    assert "--allow_config_change" in str(err.value)
    assert json.loads((tmp_path / "config.json").read_text())["lam"] == 0.5
    workdir.check_config(tmp_path, {**cfg, "log": {"every": 99}}, ignore=("log.",))
    workdir.check_config(tmp_path, changed, allow_change=True)
    assert json.loads((tmp_path / "config.json").read_text())["lam"] == 0.9


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SOS_PEAR_CACHE", str(tmp_path / "c"))
    assert workdir.cache_dir("jax") == tmp_path / "c" / "jax"
    monkeypatch.delenv("SOS_PEAR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert workdir.cache_dir() == tmp_path / "x" / "sos_pear_jax"


def test_atomic_outputs_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        files.atomic_write_text(tmp_path / "a.txt", "x")
        assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        files.atomic_write_text(tmp_path / "b.txt", "x")
        assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
