"""Tests for pear_jax.train and pear_jax.steps: the trainer's loss is the kernel's, sharding does
not change the math, λ > 0 raises explainer agreement, the step compiles once, the TrainState
round-trips through a checkpoint, and 2 processes = 1 process."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import jaxrun
from pear_jax import loss as loss_lib
from pear_jax import steps, train
from pear_jax.checkpoint import Checkpoints
from pear_jax.config import base_config

REPO = Path(__file__).resolve().parents[2]


def synthetic(n, rng):
    """Four informative features (an interaction, a wave, a weak linear term) and eight noise ones."""
    x = rng.uniform(size=(n, 12)).astype(np.float32)
    y = ((x[:, 0] - 0.5) * (x[:, 1] - 0.5) + 0.3 * np.sin(6 * x[:, 2]) + 0.1 * x[:, 3] > 0).astype(int)
    return x, y


def write_split(path, x, y):
    header = ",".join(f"f{i}" for i in range(x.shape[1])) + ",class\n"
    path.write_text(header + "".join(",".join(f"{v:.6f}" for v in r) + f",{c}\n" for r, c in zip(x, y)))


@pytest.fixture(scope="module")
def syn_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("syn")
    rng = np.random.default_rng(0)
    write_split(d / "train.csv", *synthetic(1024, rng))
    write_split(d / "test.csv", *synthetic(256, rng))
    return d


def syn_config(data_dir, lam=0.5):
    cfg = base_config("syn")
    cfg.dataset.source = "local"
    cfg.dataset.data_dir = str(data_dir)
    cfg.model.depth, cfg.model.width = 3, 64
    cfg.batch_size = 32
    cfg.num_epochs = 8  # 256 steps
    cfg.optim.learning_rate = 3e-3
    cfg.ig_steps = 8
    cfg.lam = lam
    cfg.eval.every_epochs = 0  # evaluate once, after the last step
    cfg.eval.batch_size = 128
    cfg.eval.k = 3
    cfg.final.rows = 0
    cfg.checkpoint.every_steps = 0
    cfg.log_every_steps = 64
    return cfg


@pytest.fixture(scope="module")
def pear_run(syn_dir, devices):
    """λ = 0.5 on the synthetic data, 8-device data parallelism (shared by several tests)."""
    return train.train_and_evaluate(syn_config(syn_dir, 0.5), None, mesh=jaxrun.make_mesh())


def test_lambda_raises_grad_ig_rank_correlation(syn_dir, pear_run, devices):
    plain = train.train_and_evaluate(syn_config(syn_dir, 0.0), None, mesh=jaxrun.make_mesh())
    pear, base = pear_run["final_eval"], plain["final_eval"]
    assert pear["agree/rank_correlation"] > base["agree/rank_correlation"] + 0.05, (pear, base)
    assert pear["consensus"] < base["consensus"]
    assert pear["accuracy"] > 0.85 and base["accuracy"] > 0.85
    assert len(pear_run["train_losses"]) == 256 and all(np.isfinite(pear_run["train_losses"]))
    assert "consensus" in pear and "agree/feature_agreement" in pear and "balanced_accuracy" in pear


def _first_step(run, mesh):
    step = steps.make_train_step(run.apply_fn, run.tx, run.settings, mesh)
    rows = run.order.rows(0)
    x = jaxrun.global_batch(mesh, run.data.x_train[rows])
    y = jaxrun.global_batch(mesh, run.data.y_train[rows])
    return step, x, y


@pytest.mark.parametrize("lam", [0.5, 0.0])
def test_trainer_loss_equals_kernel_loss(syn_dir, lam, devices):
    mesh = jaxrun.auto_axes(jaxrun.make_mesh())
    cfg = syn_config(syn_dir, lam)
    run = train.build(cfg, mesh)
    step, x, y = _first_step(run, mesh)
    params0 = jax.tree.map(np.array, run.state.params)  # the step donates its inputs
    key = jax.random.fold_in(jax.random.wrap_key_data(run.state.rng), 0)
    state, metrics = step(run.state, x, y, run.baseline)
    assert int(state.step) == 1
    want, aux = loss_lib.pear_loss(
        run.apply_fn, jax.tree.map(jnp.asarray, params0), jnp.asarray(np.asarray(x)), jnp.asarray(np.asarray(y)),
        key, lam=lam, mu=cfg.mu, explainer_a="vanilla_gradient", explainer_b="integrated_gradients",
        explainer_b_kwargs={"n_steps": 8, "baseline": jnp.asarray(run.data.x_train.mean(0))}, strength=0.2)
    np.testing.assert_allclose(float(metrics["loss"]), float(want), rtol=2e-6)
    np.testing.assert_allclose(float(metrics["ce"]), float(aux["ce"]), rtol=2e-6)
    assert ("consensus" in metrics) == (lam > 0)


def test_sharded_equals_unsharded_and_compiles_once(syn_dir, devices):
    cfg = syn_config(syn_dir, 0.5)
    out = {}
    for n in (8, 1):
        mesh = jaxrun.auto_axes(jaxrun.make_mesh(devices=devices[:n]))
        run = train.build(cfg, mesh)
        step = steps.make_train_step(run.apply_fn, run.tx, run.settings, mesh)
        state = run.state
        with jax.transfer_guard("disallow"):  # batches and state are already where the step wants them
            for s in range(4):
                rows = run.order.rows(s)
                x = jaxrun.global_batch(mesh, run.data.x_train[rows])
                y = jaxrun.global_batch(mesh, run.data.y_train[rows])
                state, _ = step(state, x, y, run.baseline)
        assert step._cache_size() == 1  # four different batches, one compilation
        assert state.params["hidden_0"]["kernel"].sharding.is_fully_replicated
        assert int(state.step) == 4
        out[n] = jax.tree.map(np.asarray, state.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), out[8], out[1])


def test_train_state_round_trips_and_resume_checks_data_position(syn_dir, tmp_path, devices):
    cfg = syn_config(syn_dir, 0.5)
    cfg.num_epochs, cfg.eval.every_epochs, cfg.checkpoint.every_steps = 1, -1, 16  # 32 steps
    out = train.train_and_evaluate(cfg, tmp_path, mesh=jaxrun.make_mesh())
    run = train.build(cfg, jaxrun.make_mesh())
    ckpts = Checkpoints(tmp_path / "checkpoints", every_steps=16, keep=3)
    assert ckpts.all_steps() == [16, 32]
    with jax.transfer_guard("disallow"):
        restored = ckpts.restore(32, run.state)  # the fresh live state is the restore target
    ckpts.close()
    assert isinstance(restored, steps.TrainState)
    assert jax.device_get((restored.step, restored.seed, restored.steps_per_epoch)) == (32, 0, 32)
    assert restored.params["hidden_0"]["kernel"].sharding.is_fully_replicated
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored.params), jax.device_get(out["params"]))
    cfg.batch_size = 64
    with pytest.raises(ValueError, match="batch_size: 32 -> 64"):  # the recorded config, first
        train.train_and_evaluate(cfg, tmp_path, mesh=jaxrun.make_mesh())
    with pytest.raises(ValueError, match="trained with 32 steps per epoch, this config gives 16"):
        train.train_and_evaluate(cfg, tmp_path, mesh=jaxrun.make_mesh(), allow_config_change=True)


def test_loop_disallows_implicit_transfers(syn_dir, monkeypatch, devices):
    cfg = syn_config(syn_dir, 0.5)
    cfg.model.depth, cfg.model.width, cfg.ig_steps = 1, 8, 2
    cfg.batch_size, cfg.num_epochs = 256, 1  # 4 steps, then the end-of-run eval

    def implicit_copy(*args, **kwargs):
        return {"accuracy": float(jnp.sum(np.ones(3, np.float32)))}  # numpy -> device, not explicit

    monkeypatch.setattr(train, "evaluate", implicit_copy)
    with pytest.raises(Exception, match="Disallowed host-to-device transfer"):
        train.train_and_evaluate(cfg, None, mesh=jaxrun.make_mesh())


def test_bad_settings_are_named(syn_dir, devices):
    mesh = jaxrun.make_mesh()
    cfg = syn_config(syn_dir)
    cfg.batch_size = 30
    with pytest.raises(ValueError, match=r"config.batch_size=30 must be divisible by the mesh data axis \(8\)"):
        train.build(cfg, mesh)
    cfg = syn_config(syn_dir)
    cfg.eval.k = 13
    with pytest.raises(ValueError, match=r"config.eval.k=13 must be in \[1, 12\]"):
        train.build(cfg, mesh)
    cfg = syn_config(syn_dir)
    cfg.lam = 1.5
    with pytest.raises(ValueError, match=r"config.lam must be in \[0, 1\], got 1.5"):
        train.build(cfg, mesh)
    cfg.lam, cfg.seed = 0.5, 2**31
    with pytest.raises(ValueError, match=r"config.seed must fit in int32"):
        train.build(cfg, mesh)
    with pytest.raises(AttributeError, match="lamm"):
        cfg.lamm = 0.5  # the config is locked: typos are rejected by name


_CHILD = r"""
import json, os, signal, sys
import jax
jax.config.update("jax_num_cpu_devices", 4)
import jaxrun
port, pid, cfg_json, workdir, out = sys.argv[1:6]
kill_at = int(sys.argv[6]) if len(sys.argv) > 6 else None
jaxrun.initialize_distributed(f"127.0.0.1:{port}", 2, int(pid))
import ml_collections
from pear_jax import checkpoint, train
if kill_at is not None:
    # Preemption: SIGKILL (no cleanup, no final save) as the run reaches step `kill_at`, whose
    # checkpoint is never written; the steps since the previous checkpoint are lost.
    _save = checkpoint.Checkpoints.save
    def save(self, step, state):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return _save(self, step, state)
    checkpoint.Checkpoints.save = save
from pear_jax.config import base_config
cfg = base_config("syn")
cfg.update_from_flattened_dict(json.loads(cfg_json))
summary = train.train_and_evaluate(cfg, workdir, mesh=jaxrun.make_mesh())
assert len(jax.devices()) == 8 and len(jax.local_devices()) == 4
json.dump({"losses": summary["train_losses"], "final_eval": summary["final_eval"],
           "resumed_from": summary["resumed_from"]}, open(out, "w"))
"""


def _run_two_processes(cfg, workdir, out, kill_at=None):
    """Runs `cfg` as 2 local processes of 4 CPU devices each; returns (return codes, logs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # 4 devices each, not 8
    env["PYTHONPATH"] = str(REPO)
    extra = [] if kill_at is None else [str(kill_at)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(port), str(i), json.dumps(_flat(cfg)), str(workdir),
             f"{out}{i}.json", *extra],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    return [p.returncode for p in procs], logs


def _flat(cfg, prefix=""):
    out = {}
    for k, v in cfg.items():
        if isinstance(v, ml_collections.ConfigDict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_two_processes_match_one_process(syn_dir, pear_run, tmp_path):
    cfg = syn_config(syn_dir, 0.5)
    # The first 64 steps of the 1-process run (a constant learning rate and an epoch order that
    # depends only on (seed, epoch) make them the same steps); no eval, to keep compiles few.
    cfg.num_epochs = 2
    cfg.eval.every_epochs = -1
    cfg.checkpoint.every_steps = 32  # exercise multi-process orbax saves too
    codes, logs = _run_two_processes(cfg, tmp_path / "wd", tmp_path / "out")
    assert codes == [0, 0], "\n".join(log[-4000:] for log in logs)
    outs = [json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(2)]
    assert len(outs[0]["losses"]) == 64
    np.testing.assert_allclose(outs[0]["losses"], pear_run["train_losses"][:64], rtol=1e-4, atol=1e-6)
    assert outs[0]["losses"] == outs[1]["losses"]
    # Both processes took part in the same checkpoint saves; only process 0 wrote the run's files.
    assert sorted(p.name for p in (tmp_path / "wd" / "checkpoints").iterdir()) == ["32", "64"]
    assert (tmp_path / "wd" / "final_metrics.json").exists()


def test_killed_two_process_run_resumes_from_its_last_checkpoint(syn_dir, pear_run, tmp_path):
    cfg = syn_config(syn_dir, 0.5)
    cfg.num_epochs = 4  # 128 steps
    cfg.eval.every_epochs = -1
    cfg.checkpoint.every_steps = 32
    codes, logs = _run_two_processes(cfg, tmp_path / "wd", tmp_path / "killed", kill_at=96)
    # Process 1 may notice the coordinator (process 0) die before its own kill; either way neither finished.
    assert codes[0] == -signal.SIGKILL and codes[1] != 0, "\n".join(log[-4000:] for log in logs)
    assert not (tmp_path / "wd" / "final_metrics.json").exists()

    # The same command again: the restarted job takes the workdir's lock, restores the newest
    # complete checkpoint (64, or 32 if the kill caught 64's asynchronous save unfinished) and
    # retrains the lost steps exactly.
    codes, logs = _run_two_processes(cfg, tmp_path / "wd", tmp_path / "out")
    assert codes == [0, 0], "\n".join(log[-4000:] for log in logs)
    outs = [json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(2)]
    start = outs[0]["resumed_from"]
    assert start in (32, 64) and outs[1]["resumed_from"] == start
    assert len(outs[0]["losses"]) == 128 - start
    # The two layouts differ only in the gradient all-reduce's summation order (1 ulp per step).
    # Right after the restore they agree to that; later, a kink of the loss (a ReLU or soft-rank
    # block switching on a value within rounding of its threshold) can amplify it: measured up to
    # 1e-4 absolute on losses of 0.04-0.3 by step 128. A wrong restore or data position moves
    # the losses by hundredths.
    losses, want = outs[0]["losses"], pear_run["train_losses"][start:128]
    np.testing.assert_allclose(losses[:8], want[:8], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses, want, rtol=1e-3, atol=5e-4)
    assert (tmp_path / "wd" / "final_metrics.json").exists()
