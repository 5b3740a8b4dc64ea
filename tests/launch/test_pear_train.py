"""End-to-end tests of `python -m launch.pear_train`: outputs, TensorBoard, resume after SIGKILL
with bit-identical parameters, and config typos rejected by name."""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

import jaxrun
from pear_jax import train
from pear_jax.checkpoint import Checkpoints

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "pear" / "smoke.py"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, pear_smoke_data):
    """(data dir, subprocess env): the env shares a persistent compilation cache across runs."""
    data = pear_smoke_data
    env = dict(os.environ, PYTHONPATH=str(REPO),
               JAX_COMPILATION_CACHE_DIR=str(tmp_path_factory.getbasetemp() / "pear_jax_cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.2")
    return data, env


def command(data_dir, workdir, *extra):
    return [sys.executable, "-m", "launch.pear_train", f"--config={SMOKE}",
            f"--config.dataset.data_dir={data_dir}", f"--workdir={workdir}", *extra]


@pytest.fixture(scope="module")
def full_run(smoke, tmp_path_factory):
    data, env = smoke
    workdir = tmp_path_factory.mktemp("full") / "run"
    proc = subprocess.run(command(data, workdir), env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir, proc


def smoke_config(data_dir, **overrides):
    spec = importlib.util.spec_from_file_location("smoke_cfg", SMOKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = module.get_config()
    cfg.dataset.data_dir = str(data_dir)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def test_launcher_writes_metrics_tensorboard_and_matrix(full_run):
    workdir, proc = full_run
    assert f"tensorboard --logdir {workdir / 'tb'}" in proc.stdout
    assert "disagreement matrix:" in proc.stdout
    assert "steps/s, ETA" in proc.stderr  # progress logging
    final = json.loads((workdir / "final_metrics.json").read_text())
    assert final["steps"] == 192 and final["resumed_from"] == 0 and final["lam"] == 0.5
    assert 0.0 <= final["final_eval"]["accuracy"] <= 1.0
    history = json.loads((workdir / "history.json").read_text())
    assert [h["step"] for h in history] == [16 * (i + 1) for i in range(12)]
    matrix = json.loads((workdir / "disagreement.json").read_text())
    assert len(matrix["explainers"]) == 6 and "lime" in matrix["explainers"] and matrix["k"] == 3
    assert matrix["rows"] == 32
    fa = np.array(matrix["metrics"]["feature_agreement"])
    assert fa.shape == (6, 6) and np.allclose(np.diag(fa), 1.0)
    assert (workdir / "disagreement.png").read_bytes()[:4] == b"\x89PNG"
    assert any(p.name.startswith("events.out.tfevents") for p in (workdir / "tb").iterdir())
    assert json.loads((workdir / "config.json").read_text())["model"]["width"] == 16
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [190, 192]  # keep=2: the last periodic save and the final one


def _final_state(workdir, data_dir, devices):
    cfg = smoke_config(data_dir)
    run = train.build(cfg, jaxrun.make_mesh())
    ck = Checkpoints(Path(workdir) / "checkpoints", every_steps=5, keep=2)
    state = ck.restore(192, run.state)
    ck.close()
    return jax.tree.map(np.asarray, {"params": state.params, "opt_state": state.opt_state})


def test_sigkill_mid_epoch_then_rerun_is_bit_identical(smoke, full_run, tmp_path, devices):
    data, env = smoke
    workdir = tmp_path / "killed"
    cmd = command(data, workdir, "--config.final.rows=0")
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_dir = workdir / "checkpoints"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if ckpt_dir.is_dir() and any(p.name.isdigit() for p in ckpt_dir.iterdir()):
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before a checkpoint was seen; nothing to kill"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (workdir / "final_metrics.json").exists()

    again = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-4000:]
    final = json.loads((workdir / "final_metrics.json").read_text())
    resumed = final["resumed_from"]
    assert 0 < resumed < 192 and resumed % 5 == 0, final
    assert f"resumed from {ckpt_dir.absolute()} at step {resumed}" in again.stderr

    want = _final_state(full_run[0], data, devices)
    got = _final_state(workdir, data, devices)
    jax.tree.map(np.testing.assert_array_equal, got, want)  # bit-identical, not just close


def test_resume_with_another_seed_is_refused(smoke, full_run, tmp_path, devices):
    data, _ = smoke
    workdir = tmp_path / "copy"
    shutil.copytree(full_run[0], workdir)
    cfg = smoke_config(data, seed=1)
    with pytest.raises(ValueError, match=r"seed: 0 -> 1.*--allow_config_change"):
        train.train_and_evaluate(cfg, workdir, mesh=jaxrun.make_mesh())  # the recorded config
    (workdir / "final_metrics.json").unlink()
    with pytest.raises(ValueError, match="checkpoint was written with seed 0, config.seed is 1"):
        train.train_and_evaluate(cfg, workdir, mesh=jaxrun.make_mesh(), allow_config_change=True)


def test_config_typos_are_rejected_by_name():
    def parse(*overrides):
        # config_flags registers the override flags from the argv it sees at definition time.
        argv = ["prog", f"--config={SMOKE}", *overrides]
        fv = flags.FlagValues()
        config_flags.DEFINE_config_file("config", default=str(SMOKE), flag_values=fv, sys_argv=argv)
        fv(argv)
        return fv.config

    cfg = parse("--config.lam=0.25", "--config.model.width=8")
    assert cfg.lam == 0.25 and cfg.model.width == 8
    for typo, name in (("--config.lamm=0.5", "lamm"), ("--config.model.widht=8", "widht")):
        with pytest.raises((flags.Error, KeyError, AttributeError), match=name):
            parse(typo)


def test_default_config_resolves_to_electricity():
    # pear_train is imported in a child: importing it here would define its absl flags in this
    # process, clashing with other launchers that tests import in-process.
    from launch import common

    path = Path(common.config_path("pear", "electricity.py"))
    assert path.is_file() and path.name == "electricity.py"
    spec = importlib.util.spec_from_file_location("elec_cfg", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = module.get_config()
    assert cfg.dataset.name == "electricity" and cfg.dataset.source == "pear_wheel"
    workdir = subprocess.run(
        [sys.executable, "-c", f"from launch import pear_train; import runpy; "
         f"cfg = runpy.run_path({str(path)!r})['get_config'](); print(pear_train.default_workdir(cfg))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert workdir == str(Path("runs") / "pear_electricity")
    assert module.get_config("noisy").dataset.noise
