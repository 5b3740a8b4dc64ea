"""DP-SGD for the stacked trainer: Poisson-sampled batches, per-example clipping and Gaussian noise
(optax's `differentially_private_aggregate`), and ε from dp-accounting's PLD accountant.

One DP-SGD step on a Poisson sample (each training row independently with probability q):

    g = (sum_i clip_C(w_i * grad l_i) + N(0, (sigma * C)^2 I)) / (q * n)

Every row's contribution, including its reweighing weight w_i, is clipped to norm C, so the
sensitivity is C whatever the weights. PEAR's consensus term is a function of the row alone (its
explainers see only that row), so the per-example gradient is well defined and the mechanism is the
ordinary sampled Gaussian: T steps are `SelfComposed(PoissonSampled(q, Gaussian(sigma)), T)`, the
event the accountant reads.

Batches have a fixed capacity (padded rows masked out), so the step compiles once; a sample larger
than the capacity is an error, never a silent truncation (capacity = qn + 6 sqrt(qn) + 8 makes
that vanishingly rare).
"""

from __future__ import annotations

import math

import jax
import numpy as np
import optax
import optax.contrib


def sampled_gaussian_event(q: float, sigma: float, steps: int):
    """Returns the dp-accounting event of `steps` Poisson-sampled (rate q) Gaussian (noise multiplier sigma) steps."""
    from dp_accounting import dp_event

    return dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)


def epsilon(q: float, sigma: float, steps: int, delta: float) -> float:
    """Returns ε at `delta` of DP-SGD with sampling rate q, noise multiplier sigma and `steps` steps (PLD accountant)."""
    from dp_accounting import pld

    if sigma <= 0:
        return math.inf
    acc = pld.PLDAccountant()
    acc.compose(sampled_gaussian_event(q, sigma, steps))
    return float(acc.get_epsilon(delta))


def calibrate_noise(target_epsilon: float, q: float, steps: int, delta: float) -> float:
    """Returns the smallest noise multiplier whose ε (PLD, at `delta`) is at most `target_epsilon`.

    The search uses a 10x coarser PLD discretization than `epsilon` (10x faster; the PLD is
    pessimistic, so a coarser grid can only over-estimate ε and thus over-noise, never under).
    """
    import dp_accounting
    from dp_accounting import pld

    if not (target_epsilon > 0 and 0 < q <= 1 and steps > 0 and 0 < delta < 1):
        raise ValueError(f"calibrate_noise needs ε > 0, 0 < q <= 1, steps > 0, 0 < δ < 1; got ε={target_epsilon}, "
                         f"q={q}, steps={steps}, δ={delta}")
    return float(dp_accounting.calibrate_dp_mechanism(
        lambda: pld.PLDAccountant(value_discretization_interval=1e-3),
        lambda s: sampled_gaussian_event(q, s, steps), target_epsilon, delta,
        bracket_interval=dp_accounting.ExplicitBracketInterval(0.3, 50.0), tol=1e-3))


def batch_capacity(expected: float) -> int:
    """Returns the padded batch size that holds a Poisson sample of mean `expected`."""
    return int(math.ceil(expected + 6.0 * math.sqrt(expected) + 8))


def poisson_batches(num_rows: int, q: float, steps: int, capacity: int, seed: int, epoch: int):
    """Returns (rows (steps, capacity) int32, mask (steps, capacity) bool): one Poisson sample per step.

    A pure function of (seed, epoch), so a resumed run draws the same samples.
    """
    gen = np.random.default_rng([seed, epoch, 0xD9])
    rows = np.zeros((steps, capacity), np.int32)
    mask = np.zeros((steps, capacity), bool)
    for s in range(steps):
        picked = np.flatnonzero(gen.random(num_rows) < q)
        if len(picked) > capacity:
            raise RuntimeError(f"Poisson sample of {len(picked)} rows exceeds the batch capacity {capacity}")
        rows[s, : len(picked)] = picked
        mask[s, : len(picked)] = True
    return rows, mask


def private_gradient(per_example_grads, l2_clip: float, noise_multiplier: jax.Array, key: jax.Array,
                     expected_batch: float):
    """Returns (sum_i clip(g_i) + N(0, (noise_multiplier * l2_clip)^2)) / expected_batch.

    `per_example_grads` has a leading row axis (padded rows must already be zero); the clipping
    and noise are optax's DP aggregate, whose mean over the padded row count is rescaled to the
    Poisson sample's expected size. Traceable (noise_multiplier may be traced, e.g. under vmap).
    """
    capacity = jax.tree.leaves(per_example_grads)[0].shape[0]
    agg = optax.contrib.differentially_private_aggregate(l2_clip, noise_multiplier, key=key)
    noised, _ = agg.update(per_example_grads, agg.init(None))
    return jax.tree.map(lambda g: g * (capacity / expected_batch), noised)

