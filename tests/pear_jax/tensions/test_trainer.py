"""The stacked trainer equals K sequential runs of the single-model trainer, and its DP path runs."""

import jax
import numpy as np
import pytest

import jaxrun
from pear_jax import data as data_lib
from pear_jax import train
from pear_jax.config import base_config
from pear_jax.tensions import trainer


def _toy(n=192, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.int32)
    return x, y


def _config():
    cfg = base_config("toy")
    cfg.model.depth, cfg.model.width = 2, 16
    cfg.batch_size, cfg.num_epochs, cfg.ig_steps = 32, 2, 8
    cfg.ig_baseline = "zeros"
    cfg.eval.every_epochs, cfg.final.rows, cfg.checkpoint.every_steps = -1, 0, 0
    cfg.eval.k = cfg.final.k = 3
    return cfg


def _host(tree):
    return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)) if isinstance(a, jax.Array) else np.asarray(a), tree)


@pytest.mark.parametrize("model_loop, tol", [("vmap", 1e-5), ("map", 0.0)])
def test_stacked_equals_sequential_single_runs(model_loop, tol):
    lam = 0.5
    x, y = _toy()
    cfg = _config()
    cfg.lam = lam
    data = data_lib.TabularData(x, y, x[:32], y[:32], tuple(f"f{i}" for i in range(5)), (0, 1), "toy")
    seeds = [0, 1, 2, 3]
    singles = []
    for s in seeds:
        c = cfg.copy_and_resolve_references()
        c.seed = s
        # One device: a batch split over several devices sums its gradient in another order.
        one = jaxrun.make_mesh(devices=jax.devices()[:1])
        singles.append(_host(train.train_and_evaluate(c, None, mesh=one, data=data)["params"]))
    # 4 models sharded over a 4-device data axis: each device trains its own model.
    mesh = jaxrun.make_mesh(devices=jax.devices()[:4])
    settings = trainer.StackSettings(lam=lam, ig_steps=8, batch_size=32, weighted=False, model_loop=model_loop)
    stack = trainer.init_stack(cfg.model, cfg.optim, settings, num_features=5, seeds=seeds,
                               weights=np.ones((4, len(y))), noise=np.zeros(4), mesh=mesh)
    assert stack.model_sharding.spec == jax.sharding.PartitionSpec("data")
    stack = trainer.train_stack(stack, x, y, num_epochs=2, mesh=mesh)
    for k in range(4):
        a, b = jax.tree.leaves(singles[k]), jax.tree.leaves(trainer.unstack(stack.params, k))
        assert max(float(np.max(np.abs(u - v))) for u, v in zip(a, b)) <= tol


def test_dp_stack_trains_and_noise_matters():
    x, y = _toy()
    cfg = _config()
    settings = trainer.StackSettings(lam=0.5, ig_steps=4, batch_size=32, dp=True, l2_clip=1.0)
    mesh = jaxrun.make_mesh()
    # Same seed twice, noise 0 and noise 5: same samples and init, so only the noise differs.
    stack = trainer.init_stack(cfg.model, cfg.optim, settings, num_features=5, seeds=[7, 7],
                               weights=np.ones((2, len(y))), noise=[0.0, 5.0], mesh=mesh)
    seen = []
    stack = trainer.train_stack(stack, x, y, num_epochs=1, mesh=mesh, on_epoch=lambda e, losses: seen.append(losses))
    assert seen[0].shape == (trainer.steps_per_epoch(settings, len(y)), 2) and np.isfinite(seen[0]).all()
    p0, p1 = jax.tree.leaves(trainer.unstack(stack.params, 0)), jax.tree.leaves(trainer.unstack(stack.params, 1))
    assert all(np.isfinite(a).all() for a in p0 + p1)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(p0, p1)) > 1e-3
