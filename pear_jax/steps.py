"""The PEAR train state and the pure jitted steps that advance and evaluate it.

`TrainState` is the one schema of a run's state: the train step takes and returns it, orbax saves
it, and the same pytree (as ShapeDtypeStructs carrying its shardings) is the restore target.
The step makers return `jax.jit` functions over a mesh: parameters and optimizer state
replicated, batches split over the `data` axis. They do no I/O and read nothing from the host.
On CPU meshes they compile with `jaxrun.small_matmul_compiler_options` (multi-threaded matmuls:
the train step ~13% and the eval step ~9% faster on 2 cores).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.sharding import Mesh

import jaxrun
from pear_jax import agreement, explainers
from pear_jax import loss as loss_lib


@struct.dataclass
class TrainState:
    """Everything a run carries from step to step; exactly what a checkpoint holds.

    Every leaf is a device array replicated over the mesh:
      params           nested {layer: {"kernel", "bias"}} (`models.split_model`)
      opt_state        the optax state of `params`
      rng              uint32 key data of the run's base key; step s uses `fold_in(rng, s)`, so a
                       step's randomness does not depend on how the run got there (resume-exact)
      step             int32 (): steps taken
      seed             int32 (): `config.seed` of the run that wrote it (checked on resume)
      steps_per_epoch  int32 (): batches per epoch of the data it was trained on (checked on
                       resume: the data position is a function of step and this)
    """

    params: Any
    opt_state: Any
    rng: jax.Array
    step: jax.Array
    seed: jax.Array
    steps_per_epoch: jax.Array


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """The static settings of the PEAR loss (hashable, so jitted steps specialise on them)."""

    lam: float
    mu: float
    explainer_a: str
    explainer_b: str
    strength: float
    ig_steps: int

    @classmethod
    def from_config(cls, c) -> "LossSettings":
        if not 0.0 <= c.lam <= 1.0:
            raise ValueError(f"config.lam must be in [0, 1], got {c.lam}")
        if not 0.0 <= c.mu <= 1.0:
            raise ValueError(f"config.mu must be in [0, 1], got {c.mu}")
        return cls(float(c.lam), float(c.mu), c.explainer_a, c.explainer_b, float(c.strength), int(c.ig_steps))


def explainer_kwargs(name: str, settings: LossSettings, baseline: jax.Array | None) -> dict:
    """Returns the keyword arguments the trainer passes to explainer `name`."""
    if name == "integrated_gradients":
        return {"n_steps": settings.ig_steps, "baseline": baseline}
    if name == "kernel_shap":
        return {"baseline": baseline}
    return {}


def cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Returns the per-row softmax cross-entropy of integer labels `y`."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, y)


def make_loss_fn(apply_fn: Callable, settings: LossSettings) -> Callable:
    """Returns `loss_fn(params, x, y, key, baseline) -> (loss, {"ce", "consensus"})`: the kernel
    PEAR loss (`pear_jax.loss.pear_loss`) with this run's settings; at lam = 0 the kernel skips
    the explainers and its consensus is NaN ("not computed").

    The IG baseline is an argument, not a closed-over constant: the kernels' value checks skip
    traced arrays, and the compiled step does not embed the baseline.
    """

    def loss_fn(params, x, y, key, baseline):
        kw_a = explainer_kwargs(settings.explainer_a, settings, baseline)
        kw_b = explainer_kwargs(settings.explainer_b, settings, baseline)
        return loss_lib.pear_loss(
            apply_fn, params, x, y, key, lam=settings.lam, mu=settings.mu,
            explainer_a=settings.explainer_a, explainer_b=settings.explainer_b,
            explainer_a_kwargs=kw_a, explainer_b_kwargs=kw_b, strength=settings.strength,
        )

    return loss_fn


def make_train_step(apply_fn: Callable, tx: optax.GradientTransformation, settings: LossSettings,
                    mesh: Mesh) -> Callable:
    """Returns the jitted `step(state, x, y, baseline) -> (state, metrics)`.

    `state` (a TrainState, replicated) is donated; x (B, d) and y (B,) are sharded over the `data`
    axis; the metrics are replicated scalars (loss, ce, grad_norm, and consensus unless lam = 0).
    """
    loss_fn = make_loss_fn(apply_fn, settings)

    def step_fn(state: TrainState, x, y, baseline):
        key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, x, y, key, baseline)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, **aux, "grad_norm": optax.global_norm(grads)}
        if settings.lam == 0.0:
            metrics.pop("consensus", None)  # not computed (NaN) at lam = 0
        return state.replace(params=params, opt_state=opt_state, step=state.step + 1), metrics

    mesh = jaxrun.auto_axes(mesh)
    rep = jaxrun.replicated(mesh)
    return jax.jit(
        step_fn,
        in_shardings=(rep, jaxrun.batch_sharding(mesh, 2), jaxrun.batch_sharding(mesh, 1), rep),
        out_shardings=(rep, rep),
        donate_argnums=0,
        compiler_options=jaxrun.small_matmul_compiler_options(mesh),
    )


def make_eval_step(apply_fn: Callable, settings: LossSettings, mesh: Mesh, k: int,
                   num_classes: int) -> Callable:
    """Returns the jitted `eval(params, x, y, mask, key, baseline) -> sums` over one padded batch.

    Sums (not means) so batches add up: rows, correct, per-class rows and correct, CE, the
    consensus loss of each row, and each grad-vs-IG agreement metric (masked rows count zero).
    """

    def eval_fn(params, x, y, mask, key, baseline):
        kw_a = explainer_kwargs(settings.explainer_a, settings, baseline)
        kw_b = explainer_kwargs(settings.explainer_b, settings, baseline)
        m = mask.astype(jnp.float32)
        logits = apply_fn(params, x)
        pred = jnp.argmax(logits, axis=-1)
        onehot = jax.nn.one_hot(y, num_classes) * m[:, None]
        correct = (pred == y).astype(jnp.float32) * m
        ka, kb = jax.random.split(key)
        a = explainers.explain(settings.explainer_a, apply_fn, params, x, y, key=ka, **kw_a)
        b = explainers.explain(settings.explainer_b, apply_fn, params, x, y, key=kb, **kw_b)
        # Per-row consensus: the kernel's batch mean applied to one row at a time.
        per_row_consensus = jax.vmap(
            lambda ra, rb: loss_lib.consensus_loss(ra[None], rb[None], mu=settings.mu, strength=settings.strength)
        )(a, b)
        sums = {
            "rows": jnp.sum(m),
            "correct": jnp.sum(correct),
            "class_rows": jnp.sum(onehot, axis=0),
            "class_correct": jnp.sum(onehot * correct[:, None], axis=0),
            "ce": jnp.sum(jnp.where(mask, cross_entropy(logits, y), 0.0)),
            "consensus": jnp.sum(jnp.where(mask, per_row_consensus, 0.0)),
        }
        for name, fn in agreement_metrics(k).items():
            sums[f"agree/{name}"] = jnp.sum(jnp.where(mask, fn(a, b), 0.0))
        return sums

    mesh = jaxrun.auto_axes(mesh)
    rep = jaxrun.replicated(mesh)
    bs1 = jaxrun.batch_sharding(mesh, 1)
    return jax.jit(eval_fn, in_shardings=(rep, jaxrun.batch_sharding(mesh, 2), bs1, bs1, rep, rep),
                   out_shardings=rep, compiler_options=jaxrun.small_matmul_compiler_options(mesh))


def agreement_metrics(k: int) -> dict[str, Callable[[jax.Array, jax.Array], jax.Array]]:
    """Returns the per-row agreement metrics evaluated every epoch (all of `agreement.METRICS`)."""
    return {name: functools.partial(getattr(agreement, name), k=k) for name in agreement.METRICS}
