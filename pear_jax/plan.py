"""The PEAR train step compiled ahead of time for a target (a TPU topology or the local devices):
per-device memory, FLOPs and fit at the run's batch size, without data or a trained model.

The step is the one training runs (`steps.make_train_step`), lowered with abstract parameters,
optimizer state and batches carrying the step's own shardings on the target's mesh.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh

import jaxrun
from jaxrun.aot import CompileReport, compile_report
from pear_jax import models, steps


def compile_train_step(
    config: Any, mesh: Mesh, num_features: int, num_classes: int, *, batch_size: int | None = None,
    memory_limit: int | None = None,
) -> CompileReport:
    """Returns the compile report of one PEAR train step for `config` (a PEAR ConfigDict) on `mesh`.

    `batch_size` (default `config.batch_size`) is the global batch; it is split over `data`.
    """
    mesh = jaxrun.auto_axes(mesh)
    batch = int(batch_size or config.batch_size)
    n_data = mesh.shape[jaxrun.DATA_AXIS]
    if batch % n_data:
        raise ValueError(f"batch size {batch} must be divisible by the mesh data axis ({n_data})")
    settings = steps.LossSettings.from_config(config)
    model = nnx.eval_shape(lambda: models.make_model(config.model, num_features, num_classes, config.seed))
    apply_fn, params = models.split_model(model)
    tx = optax.adamw(config.optim.learning_rate, weight_decay=config.optim.weight_decay)
    step = steps.make_train_step(apply_fn, tx, settings, mesh)
    rep = jaxrun.replicated(mesh)

    def abstract(tree: Any, sharding: Any) -> Any:
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)

    params = abstract(params, rep)
    scalar = jax.ShapeDtypeStruct((), jnp.int32, sharding=rep)
    state = steps.TrainState(
        params=params,
        opt_state=abstract(jax.eval_shape(tx.init, params), rep),
        rng=jax.ShapeDtypeStruct(jax.random.key_data(jax.random.key(0)).shape, jnp.uint32, sharding=rep),
        step=scalar, seed=scalar, steps_per_epoch=scalar,
    )
    x = jax.ShapeDtypeStruct((batch, num_features), jnp.float32, sharding=jaxrun.batch_sharding(mesh, 2))
    y = jax.ShapeDtypeStruct((batch,), jnp.int32, sharding=jaxrun.batch_sharding(mesh, 1))
    baseline = jax.ShapeDtypeStruct((num_features,), jnp.float32, sharding=rep)
    return compile_report(lambda: step.lower(state, x, y, baseline), memory_limit)
