"""The stacked trainer: K models of one shape (seeds, reweighing on/off, DP noise levels) on a
leading axis, trained as ONE jitted program -- `vmap` (or `lax.map`, see `StackSettings.model_loop`)
over models, `lax.scan` over an epoch's steps.

Per model k and step t the update is AdamW on

    non-DP:  g = grad (1/B) sum_i w_ki * l(x_i, y_i)
    DP:      g = (sum_i clip_C(grad w_ki * l(x_i, y_i)) + N(0, (sigma_k C)^2)) / (q n)      (`dp`)

with l the per-row PEAR loss (1 - λ) CE + λ consensus (`pear_jax.loss.pear_loss` on one row:
PEAR's consensus is a function of each row's own explanations). With all weights 1 the non-DP
loss equals `pear_loss` on the batch, so a stacked model follows the single-model trainer
(`pear_jax.train`) step for step: same init (`models.make_model` from the seed), same batch order
(`data.epoch_order`), same AdamW.

What varies between stacked models is data, not program: the seed (init, batch order, noise key),
the row weights (ones, or Kamiran-Calders) and the noise multiplier. λ and DP on/off change the
program and so make separate stacks. The model axis is sharded over the mesh's `data` axis when K
divides evenly (each device trains its own models, no collectives); otherwise replicated.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import jaxrun
from pear_jax import data as data_lib
from pear_jax import loss as loss_lib
from pear_jax import models
from pear_jax.tensions import dp


@dataclasses.dataclass(frozen=True)
class StackSettings:
    """The static settings of one stacked program (hashable)."""

    lam: float
    mu: float = 0.5
    explainer_a: str = "vanilla_gradient"
    explainer_b: str = "integrated_gradients"
    strength: float = 0.2
    ig_steps: int = 20
    batch_size: int = 64  # non-DP batch; DP: the expected Poisson batch
    dp: bool = False
    l2_clip: float = 1.0
    weighted: bool = True  # False: every row weight is 1 (the loss is then exactly pear_loss's batch mean)
    # "vmap": one batched program over models (batched matmuls); "map": `lax.map`, the models one
    # after another inside the same program, bit-identical to the single trainer (vmap's batched
    # matmuls round differently, ~1e-8 per step, which ReLU kinks and Adam amplify over training).
    # "auto": "map" on CPU (measured faster there too: bench/multi_model.py), "vmap" on accelerators.
    model_loop: str = "auto"


@dataclasses.dataclass
class Stack:
    """K models' parameters and optimizer states (leading axis K) and their per-model inputs."""

    apply_fn: Callable
    params: Any
    opt_state: Any
    seeds: np.ndarray  # (K,)
    weights: jax.Array  # (K, n_train) row weights
    noise: jax.Array  # (K,) noise multipliers (0 without DP)
    tx: optax.GradientTransformation
    settings: StackSettings
    model_sharding: NamedSharding

    @property
    def size(self) -> int:
        return len(self.seeds)


def _explainer_kwargs(name: str, settings: StackSettings, baseline) -> dict:
    if name == "integrated_gradients":
        return {"n_steps": settings.ig_steps, "baseline": baseline}
    if name == "kernel_shap":
        return {"baseline": baseline}
    return {}


def batch_loss(apply_fn: Callable, settings: StackSettings) -> Callable:
    """Returns `f(params, x (B, d), y (B,), w (B,), key, baseline) -> sum_i w_i l_i / B`, the
    row-weighted PEAR loss of `pear_jax.loss.pear_loss` (the single trainer's loss when w = 1)."""

    def f(params, x, y, w, key, baseline):
        loss, _ = loss_lib.pear_loss(
            apply_fn, params, x, y, key, lam=settings.lam, mu=settings.mu,
            explainer_a=settings.explainer_a, explainer_b=settings.explainer_b,
            explainer_a_kwargs=_explainer_kwargs(settings.explainer_a, settings, baseline),
            explainer_b_kwargs=_explainer_kwargs(settings.explainer_b, settings, baseline),
            strength=settings.strength, weights=w if settings.weighted else None)
        return loss

    return f


def model_sharding(mesh: Mesh, k: int) -> NamedSharding:
    """Returns the sharding of the model axis: over `data` when K divides evenly, else replicated."""
    n = mesh.shape[jaxrun.DATA_AXIS]
    return NamedSharding(mesh, P(jaxrun.DATA_AXIS)) if k % n == 0 else jaxrun.replicated(mesh)


def init_stack(model_cfg, optim_cfg, settings: StackSettings, *, num_features: int, seeds: Sequence[int],
               weights: np.ndarray, noise: Sequence[float], mesh: Mesh) -> Stack:
    """Returns K freshly initialised models (model k from seed k, as `models.make_model` builds it)."""
    mesh = jaxrun.auto_axes(mesh)
    apply_fn, params = None, []
    for s in seeds:
        fn, p = models.split_model(models.make_model(model_cfg, num_features, 2, int(s)))
        apply_fn = apply_fn or fn
        params.append(p)
    k = len(seeds)
    shard = model_sharding(mesh, k)
    stacked = jax.device_put(jax.tree.map(lambda *a: np.stack(a), *params), shard)
    tx = optax.adamw(optim_cfg.learning_rate, weight_decay=optim_cfg.weight_decay)
    opt_state = jax.jit(jax.vmap(tx.init), out_shardings=shard)(stacked)
    weights = np.asarray(weights, np.float32)
    if weights.shape[0] != k:
        raise ValueError(f"weights must have one row per model ({k}), got shape {weights.shape}")
    return Stack(apply_fn, stacked, opt_state, np.asarray(seeds), jax.device_put(weights, shard),
                 jax.device_put(np.asarray(noise, np.float32), shard), tx, settings, shard)


def make_epoch_fn(stack: Stack, mesh: Mesh, num_rows: int) -> Callable:
    """Returns the jitted `epoch(params, opt_state, x, y, weights, noise, keys, rows, mask, steps, baseline)
    -> (params, opt_state, losses (S, K))` that runs S steps of all K models.

    rows/mask: (S, K, B) training-row indices and validity; steps: (S,) global step numbers (the
    step's keys are fold_in(model key, step), so resuming is exact).
    """
    s = stack.settings
    f_batch = batch_loss(stack.apply_fn, s)
    tx = stack.tx
    q_n = float(s.batch_size)  # DP: the expected sample size q * n

    def model_step(params, opt_state, x, y, w, sigma, key, rows, mask, step, baseline):
        key = jax.random.fold_in(key, step)
        loss_key, noise_key = jax.random.split(key)
        xb, yb = x[rows], y[rows]
        wb = w[rows] * mask.astype(x.dtype)
        if s.dp:
            def weighted(p, xr, yr, wr, kr):  # one row: its own explanations, its own weight
                return f_batch(p, xr[None], yr[None], wr[None], kr, baseline)

            row_keys = jax.random.split(loss_key, rows.shape[0])
            losses, grads = jax.vmap(jax.value_and_grad(weighted), in_axes=(None, 0, 0, 0, 0))(
                params, xb, yb, wb, row_keys)
            grads = dp.private_gradient(grads, s.l2_clip, sigma, noise_key, q_n)
            loss = jnp.sum(losses) / q_n
        else:
            loss, grads = jax.value_and_grad(f_batch)(params, xb, yb, wb, loss_key, baseline)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    axes = (0, 0, None, None, 0, 0, 0, 0, 0, None, None)
    loop = s.model_loop if s.model_loop != "auto" else ("map" if jax.default_backend() == "cpu" else "vmap")
    if loop == "vmap":
        vstep = jax.vmap(model_step, in_axes=axes)
    elif loop == "map":
        def vstep(*args):
            def one(per_model):
                it = iter(per_model)
                return model_step(*[next(it) if ax == 0 else a for a, ax in zip(args, axes)])

            return jax.lax.map(one, tuple(a for a, ax in zip(args, axes) if ax == 0))
    else:
        raise ValueError(f"model_loop must be 'auto', 'vmap' or 'map', got {s.model_loop!r}")

    def epoch(params, opt_state, x, y, w, sigma, keys, rows, mask, steps, baseline):
        def body(carry, inp):
            p, o = carry
            r, m, t = inp
            p, o, loss = vstep(p, o, x, y, w, sigma, keys, r, m, t, baseline)
            return (p, o), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (rows, mask, steps))
        return params, opt_state, losses

    mesh = jaxrun.auto_axes(mesh)
    rep = jaxrun.replicated(mesh)
    ms = stack.model_sharding
    # (S, K, B) inputs put K on the same devices as the models.
    smk = NamedSharding(mesh, P(None, *ms.spec)) if ms.spec else rep
    return jax.jit(epoch, in_shardings=(ms, ms, rep, rep, ms, ms, ms, smk, smk, rep, rep),
                   out_shardings=(ms, ms, smk if ms.spec else rep), donate_argnums=(0, 1),
                   # DP's per-example gradients are batched matmuls of 20-row blocks, which the
                   # CPU default runs faster (1.25 against 2.2 s per 6-model epoch); the plain
                   # stacks' big ones are faster as Eigen dots (0.34 against 0.44 s).
                   compiler_options=None if s.dp else jaxrun.small_matmul_compiler_options(mesh))


def epoch_batches(settings: StackSettings, seeds: Sequence[int], num_rows: int, epoch: int, *,
                  steps_per_epoch: int, capacity: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Returns (rows, mask), each (S, K, B): shuffled batches (non-DP, as `data.BatchOrder`) or Poisson samples."""
    per_model = []
    for seed in seeds:
        if settings.dp:
            per_model.append(dp.poisson_batches(num_rows, settings.batch_size / num_rows, steps_per_epoch, capacity,
                                                int(seed), epoch))
        else:
            order = data_lib.epoch_order(num_rows, int(seed), epoch)[: steps_per_epoch * settings.batch_size]
            rows = order.reshape(steps_per_epoch, settings.batch_size).astype(np.int32)
            per_model.append((rows, np.ones_like(rows, bool)))
    return (np.stack([r for r, _ in per_model], axis=1), np.stack([m for _, m in per_model], axis=1))


def train_stack(stack: Stack, x_train: np.ndarray, y_train: np.ndarray, *, num_epochs: int, mesh: Mesh,
                baseline: np.ndarray | None = None, on_epoch: Callable[[int, np.ndarray], None] | None = None,
                steps_per_call: int | None = None) -> Stack:
    """Returns `stack` trained for `num_epochs` epochs (one compiled program for every epoch).

    `on_epoch(epoch, losses (S, K))` is called after each epoch with the per-step training losses.
    """
    mesh = jaxrun.auto_axes(mesh)
    rep = jaxrun.replicated(mesh)
    s = stack.settings
    n = len(y_train)
    spe = steps_per_epoch(s, n)
    if spe == 0:
        raise ValueError(f"training split has {n} rows, fewer than one batch of {s.batch_size}")
    capacity = dp.batch_capacity(s.batch_size) if s.dp else s.batch_size
    smk = NamedSharding(mesh, P(None, *stack.model_sharding.spec)) if stack.model_sharding.spec else rep
    epoch_fn = make_epoch_fn(stack, mesh, n)
    x = jax.device_put(np.asarray(x_train, np.float32), rep)
    y = jax.device_put(np.asarray(y_train, np.int32), rep)
    base = jax.device_put(np.zeros(x_train.shape[1], np.float32) if baseline is None else baseline, rep)
    keys = jax.device_put(np.stack([np.asarray(jax.random.key_data(jax.random.key(int(sd)))) for sd in stack.seeds]),
                          stack.model_sharding)
    keys = jax.vmap(jax.random.wrap_key_data)(keys)
    for epoch in range(num_epochs):
        rows, mask = epoch_batches(s, stack.seeds, n, epoch, steps_per_epoch=spe, capacity=capacity)
        rows, mask = jax.device_put(rows, smk), jax.device_put(mask, smk)
        steps = jax.device_put(np.arange(epoch * spe, (epoch + 1) * spe, dtype=np.int32), rep)
        chunk = steps_per_call or spe
        losses = []
        for lo in range(0, spe, chunk):
            sl = slice(lo, lo + chunk)
            stack.params, stack.opt_state, part = epoch_fn(stack.params, stack.opt_state, x, y, stack.weights,
                                                           stack.noise, keys, rows[sl], mask[sl], steps[sl], base)
            losses.append(part)
        if on_epoch is not None:
            on_epoch(epoch, np.concatenate([np.asarray(part) for part in losses]))
    return stack


def steps_per_epoch(settings: StackSettings, num_rows: int) -> int:
    """Returns the number of steps in one epoch (DP: round(n / expected batch))."""
    return max(1, round(num_rows / settings.batch_size)) if settings.dp else num_rows // settings.batch_size


def unstack(params: Any, k: int) -> Any:
    """Returns model k's parameters (host numpy) from the stacked tree."""
    return jax.tree.map(lambda a: np.asarray(a[k]), params)
