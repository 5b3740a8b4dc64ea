"""Tests for pear_jax.softrank: against an independent numpy PAV, hard ranks, and gradient checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.special import logsumexp
from scipy.stats import rankdata

import jaxrun
from pear_jax import softrank

# ----------------------------------------------------------------------------- numpy reference


def _np_isotonic(y, w, kind):
    """Decreasing isotonic solution by plain pool-adjacent-violators on a list of blocks."""
    blocks = []  # [first, last, stat_y, stat_w]
    value = (lambda b: b[2] / b[3]) if kind == "l2" else (lambda b: b[2] - b[3])
    for i in range(len(y)):
        blocks.append([i, i, y[i], 1.0 if kind == "l2" else w[i]])
        while len(blocks) > 1 and value(blocks[-2]) <= value(blocks[-1]):
            last = blocks.pop()
            prev = blocks[-1]
            prev[1] = last[1]
            if kind == "l2":
                prev[2] += last[2]
                prev[3] += last[3]
            else:
                prev[2] = np.logaddexp(prev[2], last[2])
                prev[3] = np.logaddexp(prev[3], last[3])
    out = np.empty(len(y))
    for b in blocks:
        out[b[0]: b[1] + 1] = value(b)
    return out


def _np_soft_rank(v, eps, kind, descending=False):
    v = np.asarray(v, np.float64)
    d = len(v)
    theta = (-v if descending else v) / eps
    w = np.arange(d, 0, -1, dtype=np.float64)
    perm = np.argsort(-theta, kind="stable")
    s = theta[perm]
    if kind == "l2":
        primal = s - _np_isotonic(s - w, None, "l2")
    else:
        primal = s - _np_isotonic(s, np.log(w), "kl")
    out = np.empty(d)
    out[perm] = primal
    return out if kind == "l2" else np.exp(out)


def _np_soft_sort(v, eps, kind, descending=False):
    v = np.asarray(v, np.float64)
    d = len(v)
    sign = 1.0 if descending else -1.0
    s = np.sort(sign * v)[::-1]
    w = np.arange(d, 0, -1, dtype=np.float64) / eps
    dual = _np_isotonic(w - s, None, "l2") if kind == "l2" else _np_isotonic(w, s, "kl")
    return sign * (w - dual)


def test_numpy_reference_sanity():
    # A check of the checker: block means of an increasing run, KL blocks by log-sum-exp.
    np.testing.assert_allclose(_np_isotonic(np.array([1.0, 3.0, 2.0]), None, "l2"), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(_np_isotonic(np.array([3.0, 1.0, 2.0]), None, "l2"), [3.0, 1.5, 1.5])
    y, w = np.array([0.0, 1.0]), np.array([0.5, 0.2])
    np.testing.assert_allclose(_np_isotonic(y, w, "kl"), [logsumexp(y) - logsumexp(w)] * 2)


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 7))
    x[1, 2] = x[1, 5]  # a tie
    x[2] = 0.25  # a constant row
    x[3, :3] = x[3, 3]  # a run of ties
    return x


# ----------------------------------------------------------------------------- forward values


@pytest.mark.parametrize("regularization", ["l2", "kl"])
@pytest.mark.parametrize("direction", ["ASCENDING", "DESCENDING"])
def test_matches_numpy_pav(rows, regularization, direction):
    values = np.abs(rows) + 0.1 if regularization == "kl" else rows
    desc = direction == "DESCENDING"
    for eps in (0.2, 1.0, 5.0):
        got_rank = np.asarray(softrank.soft_rank(values.astype(np.float32), eps, regularization, direction))
        got_sort = np.asarray(softrank.soft_sort(values.astype(np.float32), eps, regularization, direction))
        want_rank = np.stack([_np_soft_rank(v, eps, regularization, desc) for v in values])
        want_sort = np.stack([_np_soft_sort(v, eps, regularization, desc) for v in values])
        np.testing.assert_allclose(got_rank, want_rank, rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(got_sort, want_sort, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_tends_to_hard_rank_and_sort(regularization):
    rng = np.random.default_rng(1)
    x = rng.permutation(np.linspace(0.5, 4.0, 8 * 6)).reshape(6, 8).astype(np.float32)
    # KL ranks are exp(s - dual) with s ~ values / eps: float32 leaves ~ d * 1e-4 relative error.
    rtol = 5e-4 if regularization == "kl" else 0.0
    for eps in (1e-2, 1e-3):
        np.testing.assert_allclose(softrank.soft_rank(x, eps, regularization), rankdata(x, axis=1), rtol=rtol, atol=1e-4)
        np.testing.assert_allclose(softrank.soft_rank(x, eps, regularization, "DESCENDING"),
                                   rankdata(-x, axis=1), rtol=rtol, atol=1e-4)
    # Soft sort computes w / eps - PAV(w / eps - s): float32 cancellation grows like 1 / eps.
    np.testing.assert_allclose(softrank.soft_sort(x, 1e-2, regularization), np.sort(x, axis=1), atol=1e-4)
    # Large strength pulls every rank towards the mean rank (d + 1) / 2.
    if regularization == "l2":
        far = np.asarray(softrank.soft_rank(x, 1e4))
        np.testing.assert_allclose(far, np.full_like(far, 4.5), atol=1e-2)


def test_ties_and_constant_rows(rows):
    r = np.asarray(softrank.soft_rank(rows.astype(np.float32), 0.2))
    assert r[1, 2] == pytest.approx(r[1, 5])
    np.testing.assert_allclose(r[2], np.full(7, 4.0))
    np.testing.assert_allclose(r[3, :4], np.full(4, r[3, 0]))
    # Soft ranks always sum like hard ranks do (the permutahedron's defining equality).
    np.testing.assert_allclose(r.sum(axis=1), np.full(len(r), 28.0), rtol=1e-5)


# ----------------------------------------------------------------------------- derivatives


def test_check_grads():
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.normal(size=(2, 5)))
        # PAV only picks the blocks, so derivatives of every order and mode are exact.
        check_grads(jax.jit(lambda v: softrank.soft_rank(v, 0.7, "l2")), (x,), order=2, modes=("rev",))
        check_grads(jax.jit(lambda v: softrank.soft_rank(v, 0.7, "kl")), (jnp.abs(x) + 0.1,), order=1,
                    modes=("fwd", "rev"))
        for regularization in ("l2", "kl"):
            xx = jnp.abs(x) + 0.1 if regularization == "kl" else x
            check_grads(jax.jit(lambda v, r=regularization: softrank.soft_sort(v, 0.7, r)), (xx,), order=1,
                        modes=("rev",))


def test_jacobian_is_block_averaging():
    # Values 0, 0.1, 0.2 at strength 1 pool into one block: each rank moves by the block mean.
    x = jnp.asarray([0.0, 0.1, 0.2, 5.0])
    jac = np.asarray(jax.jacobian(lambda v: softrank.soft_rank(v, 1.0))(x))
    expected = np.zeros((4, 4))
    expected[:3, :3] = np.eye(3) - 1.0 / 3.0
    np.testing.assert_allclose(jac, expected, atol=1e-6)


def test_gradients_finite_on_ties_and_constant_rows(rows):
    g = jax.grad(lambda v: jnp.sum(softrank.soft_rank(v, 0.2) * jnp.arange(7.0)))(jnp.asarray(rows, jnp.float32))
    assert np.all(np.isfinite(np.asarray(g)))


# ----------------------------------------------------------------------------- jit / vmap / sharding


def test_vmap_jit_and_one_compile_per_shape():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 5, 6)).astype(np.float32)
    batched = np.asarray(softrank.soft_rank(x, 0.3))
    per_row = np.asarray(jax.vmap(lambda v: softrank.soft_rank(v, 0.3))(jnp.asarray(x)))
    np.testing.assert_allclose(batched, per_row, atol=1e-6)
    np.testing.assert_allclose(batched[1, 2], softrank.soft_rank(x[1, 2], 0.3), atol=1e-6)
    softrank.soft_rank(x + 1.0, 0.5)
    before = softrank._apply_rows._cache_size()
    softrank.soft_rank(x * 2.0, 0.7)  # new values and strength, same shape: no new compilation
    assert softrank._apply_rows._cache_size() == before


def test_sharded_batch_gives_same_numbers(devices):
    mesh = jaxrun.make_mesh()
    x = np.random.default_rng(4).normal(size=(16, 7)).astype(np.float32)
    xs = jax.device_put(x, jaxrun.batch_sharding(mesh))
    np.testing.assert_allclose(softrank.soft_rank(xs, 0.2, "l2"), softrank.soft_rank(x, 0.2, "l2"), atol=1e-6)
    np.testing.assert_allclose(softrank.soft_sort(xs, 0.2, "kl"), softrank.soft_sort(x, 0.2, "kl"), atol=1e-6)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_named():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="regularization"):
        softrank.soft_rank(x, 1.0, "l1")
    with pytest.raises(ValueError, match="direction"):
        softrank.soft_sort(x, 1.0, "l2", "UP")
    with pytest.raises(ValueError, match="regularization_strength"):
        softrank.soft_rank(x, 0.0)
    with pytest.raises(ValueError, match="values must be finite"):
        softrank.soft_rank(np.array([1.0, np.nan]), 1.0)
    with pytest.raises(ValueError, match="values"):
        softrank.soft_rank(np.zeros((2, 0)), 1.0)


# ----------------------------------------------------------------------------- the two PAV paths


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_long_rows_take_the_general_path_and_match_numpy(regularization):
    d = softrank.SMALL_D + 9
    x = np.random.default_rng(5).normal(size=(3, d))
    x[0, 4] = x[0, 11]  # a tie
    x[1, :6] = x[1, 6]  # a run of ties
    values = np.abs(x) + 0.1 if regularization == "kl" else x
    got = np.asarray(softrank.soft_rank(values.astype(np.float32), 0.5, regularization))
    want = np.stack([_np_soft_rank(v, 0.5, regularization, False) for v in values])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=3e-5)
    got = np.asarray(softrank.soft_sort(values.astype(np.float32), 0.5, regularization))
    want = np.stack([_np_soft_sort(v, 0.5, regularization, False) for v in values])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=3e-5)


@pytest.mark.parametrize("kind", ["l2", "kl"])
def test_small_and_general_pav_pick_the_same_blocks(kind):
    rng = np.random.default_rng(6)
    for d in (1, 2, 3, 8):
        y = rng.normal(size=(40, d)).astype(np.float32)
        y[::4] = np.round(y[::4])  # ties
        w = (np.log(np.arange(d, 0, -1)) * np.ones((40, 1))).astype(np.float32)
        b = np.ones_like(y) if kind == "l2" else w
        small = jax.vmap(lambda u, v: softrank._pav_small(u, v, kind))(y, b)
        general = jax.vmap(lambda u, v: softrank._pav(u, v, kind))(y, b)
        np.testing.assert_array_equal(small, general)
