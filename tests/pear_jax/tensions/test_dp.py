"""DP-SGD mechanics: the per-example clipping bound, the noise scale σ·C, and the PLD ε."""

import jax
import jax.numpy as jnp
import numpy as np
from dp_accounting import dp_event, pld

from pear_jax.tensions import dp


def test_each_example_is_clipped_to_the_bound():
    rng = np.random.default_rng(0)
    grads = {"w": jnp.asarray(rng.normal(size=(6, 3, 4)) * np.array([0.01, 0.5, 2, 10, 100, 0])[:, None, None]),
             "b": jnp.asarray(rng.normal(size=(6, 4)))}
    clip = 1.0
    for i in range(6):
        one = jax.tree.map(lambda g, i=i: g * (jnp.arange(6) == i).reshape((6,) + (1,) * (g.ndim - 1)), grads)
        out = dp.private_gradient(one, clip, 0.0, jax.random.key(0), expected_batch=1.0)
        raw = np.sqrt(sum(float(jnp.sum(g[i] ** 2)) for g in jax.tree.leaves(grads)))
        got = np.sqrt(sum(float(jnp.sum(g ** 2)) for g in jax.tree.leaves(out)))
        assert got <= clip * (1 + 1e-5)
        np.testing.assert_allclose(got, min(raw, clip), rtol=1e-5)  # direction kept, norm min(|g|, C)


def test_sum_of_clipped_rows_over_expected_batch():
    g = {"w": jnp.asarray([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])}  # norms 5, 0.5, padded row
    out = dp.private_gradient(g, 1.0, 0.0, jax.random.key(0), expected_batch=2.0)
    np.testing.assert_allclose(out["w"], (np.array([0.6, 0.8]) + np.array([0.3, 0.4])) / 2.0, rtol=1e-6)


def test_noise_scale_is_sigma_times_clip():
    zeros = {"w": jnp.zeros((4, 200_000))}
    sigma, clip, expected = 1.7, 0.5, 3.0
    out = dp.private_gradient(zeros, clip, sigma, jax.random.key(1), expected_batch=expected)
    np.testing.assert_allclose(np.std(np.asarray(out["w"]) * expected), sigma * clip, rtol=0.01)


def test_epsilon_equals_dp_accounting_for_the_same_events():
    q, sigma, steps, delta = 0.01, 1.1, 500, 1e-5
    acc = pld.PLDAccountant()
    acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
    assert dp.epsilon(q, sigma, steps, delta) == acc.get_epsilon(delta)


def test_calibrated_noise_meets_the_target():
    q, steps, delta = 64 / 8000, 625, 1e-5
    for target in (8.0, 2.0):
        sigma = dp.calibrate_noise(target, q, steps, delta)
        eps = dp.epsilon(q, sigma, steps, delta)
        assert eps <= target and eps > 0.95 * target


def test_poisson_batches_are_reproducible_and_masked():
    rows, mask = dp.poisson_batches(1000, 0.05, 20, dp.batch_capacity(50), seed=3, epoch=1)
    rows2, mask2 = dp.poisson_batches(1000, 0.05, 20, dp.batch_capacity(50), seed=3, epoch=1)
    assert (rows == rows2).all() and (mask == mask2).all()
    sizes = mask.sum(axis=1)
    assert 20 < sizes.mean() < 80 and (rows[~mask] == 0).all()
    for s in range(20):
        assert len(set(rows[s, mask[s]])) == sizes[s]  # a row is sampled at most once per step
