"""Tests for pear_jax.loss: correlations, the consensus formula, and the PEAR loss's double backprop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.stats import spearmanr

import jaxrun
from pear_jax import explainers, loss

D, H, C = 6, 12, 3


def mlp(params, x):
    """A small smooth MLP, so finite differences in parameters are well behaved."""
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def _params(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return {
        "w1": jnp.asarray(rng.normal(size=(D, H)) / np.sqrt(D), dtype),
        "b1": jnp.asarray(rng.normal(size=(H,)) * 0.1, dtype),
        "w2": jnp.asarray(rng.normal(size=(H, C)) / np.sqrt(H), dtype),
        "b2": jnp.zeros((C,), dtype),
    }


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(1)
    return rng.uniform(size=(16, D)).astype(np.float32), rng.integers(0, C, 16).astype(np.int32)


# ----------------------------------------------------------------------------- correlations


def test_pearson_matches_numpy_and_is_zero_on_constant_rows():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 5, 7)).astype(np.float32)
    want = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)]
    np.testing.assert_allclose(loss.pearson(a, b), want, atol=1e-6)
    a[0] = 1.5
    b[1] = 0.0
    got = np.asarray(loss.pearson(a, b))
    assert got[0] == 0.0 and got[1] == 0.0
    grad = jax.grad(lambda u: jnp.sum(loss.pearson(u, jnp.asarray(b))))(jnp.asarray(a))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_soft_spearman_tends_to_spearman_of_magnitudes():
    rng = np.random.default_rng(3)
    # Magnitudes at least 0.1 apart, so strength 1e-3 resolves every order.
    mags = np.stack([rng.permutation(np.linspace(0.1, 1.6, 16)) for _ in range(6)])
    signs = rng.choice([-1.0, 1.0], size=mags.shape)
    a, b = (mags * signs).reshape(6, 2, 8).transpose(1, 0, 2).astype(np.float32)
    want = [spearmanr(np.abs(x), np.abs(y))[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(loss.soft_spearman(a, b, strength=1e-3), want, atol=1e-4)
    np.testing.assert_allclose(loss.soft_spearman(a, -a), np.ones(6), atol=1e-6)  # magnitudes only
    # At the reference strength 0.2 the soft value differs from the hard one but keeps its sign.
    soft = np.asarray(loss.soft_spearman(a, b))
    assert np.all(np.sign(soft[np.abs(want) > 0.3]) == np.sign(np.asarray(want)[np.abs(want) > 0.3]))


@pytest.mark.parametrize("mu", [0.0, 0.3, 1.0])
def test_consensus_formula(mu):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 9, D)).astype(np.float32)
    ss = np.asarray(loss.soft_spearman(a, b, strength=0.2))
    pr = np.asarray(loss.pearson(a, b))
    want = np.mean(mu * (1 - ss) / 2 + (1 - mu) * (1 - pr) / 2)
    assert float(loss.consensus_loss(a, b, mu=mu)) == pytest.approx(want, abs=1e-6)
    assert float(loss.consensus_loss(a, a, mu=mu)) == pytest.approx(0.0, abs=1e-6)
    # Same magnitudes, opposite signs: the rank term agrees, the Pearson term is maximal.
    assert float(loss.consensus_loss(a, -a, mu=mu)) == pytest.approx(1.0 - mu, abs=1e-6)


# ----------------------------------------------------------------------------- the PEAR loss


def test_lam_zero_is_cross_entropy_and_skips_explainers(batch):
    x, y = batch
    params = _params()
    calls = []

    def counting(p, z):
        calls.append(z.shape)
        return mlp(p, z)

    value, aux = loss.pear_loss(counting, params, x, y, jax.random.key(0), lam=0.0)
    logits = np.asarray(mlp(params, x), np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    ce = -np.mean(log_probs[np.arange(len(y)), y])
    assert float(value) == pytest.approx(ce, rel=1e-5) and float(aux["ce"]) == pytest.approx(ce, rel=1e-5)
    assert np.isnan(float(aux["consensus"]))
    calls.clear()
    jax.make_jaxpr(lambda p: loss.pear_loss(counting, p, x, y, None, lam=0.0)[0])(params)
    assert calls == [x.shape]  # one forward pass, no explainer traced
    calls.clear()
    jax.make_jaxpr(lambda p: loss.pear_loss(counting, p, x, y, None, lam=0.5)[0])(params)
    assert len(calls) > 1


def test_loss_combines_ce_and_consensus_of_true_label_attributions(batch):
    x, y = batch
    params = _params()
    base = x.mean(axis=0)
    value, aux = loss.pear_loss(mlp, params, x, y, None, lam=0.25, mu=0.4,
                                explainer_b_kwargs={"baseline": base})
    a = explainers.vanilla_gradient(mlp, params, x, y)
    b = explainers.integrated_gradients(mlp, params, x, y, baseline=base)
    consensus = float(loss.consensus_loss(a, b, mu=0.4))
    assert float(aux["consensus"]) == pytest.approx(consensus, abs=1e-6)
    assert float(value) == pytest.approx(0.75 * float(aux["ce"]) + 0.25 * consensus, abs=1e-6)


def test_gradient_matches_finite_differences(batch):
    """Double backprop is real: d(consensus)/d(params) flows through the input gradients."""
    x, y = batch
    with jax.enable_x64(True):
        params = _params(dtype=np.float64)
        x64 = jnp.asarray(x, jnp.float64)
        key = jax.random.key(5)
        # The reference pair; the other explainers' parameter gradients are checked in test_explainers.
        f = jax.jit(lambda p: loss.pear_loss(mlp, p, x64, y, key, lam=1.0, explainer_a="vanilla_gradient",
                                             explainer_b="integrated_gradients")[0])
        grads = jax.grad(f)(params)
        assert float(optax_norm(grads)) > 1e-3  # CE is off (lam=1): this is all consensus
        check_grads(f, (params,), order=1, modes=("rev",), atol=1e-5, rtol=1e-4)


def optax_norm(tree):
    return jnp.sqrt(sum(jnp.sum(v * v) for v in jax.tree.leaves(tree)))


def test_finite_on_constant_attributions(batch):
    x, y = batch
    params = _params()
    params["w1"] = jnp.zeros_like(params["w1"])  # input gradients vanish: constant (zero) rows
    relu_mlp = lambda p, z: jax.nn.relu(z @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]  # noqa: E731
    (value, aux), grads = jax.jit(jax.value_and_grad(
        lambda p: loss.pear_loss(relu_mlp, p, x, y, None, lam=0.5), has_aux=True))(params)
    assert np.isfinite(float(value)) and float(aux["consensus"]) == pytest.approx(0.5)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))


def test_sharded_batch_gives_same_numbers(devices, batch):
    x, y = batch
    params = _params()
    mesh = jaxrun.make_mesh()
    xs = jax.device_put(x, jaxrun.batch_sharding(mesh))
    ys = jax.device_put(y, jaxrun.batch_sharding(mesh, 1))
    ps = jax.device_put(params, jaxrun.replicated(mesh))
    key = jax.random.key(6)
    f = jax.jit(jax.value_and_grad(
        lambda p, u, v: loss.pear_loss(mlp, p, u, v, key, lam=0.7, explainer_a="smoothgrad"), has_aux=True))
    (v0, aux0), g0 = f(params, x, y)
    (v1, aux1), g1 = f(ps, xs, ys)
    assert float(v1) == pytest.approx(float(v0), abs=1e-6)
    assert float(aux1["consensus"]) == pytest.approx(float(aux0["consensus"]), abs=1e-6)
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-6)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_named(batch):
    x, y = batch
    params = _params()
    with pytest.raises(ValueError, match=r"lam must be in \[0, 1\], got 1.5"):
        loss.pear_loss(mlp, params, x, y, None, lam=1.5)
    with pytest.raises(ValueError, match=r"mu must be in \[0, 1\]"):
        loss.pear_loss(mlp, params, x, y, None, lam=0.5, mu=-0.1)
    with pytest.raises(ValueError, match=r"mu must be in \[0, 1\]"):
        loss.consensus_loss(x, x, mu=2.0)
    with pytest.raises(TypeError, match="lam must be a concrete Python float"):
        jax.jit(lambda lam: loss.pear_loss(mlp, params, x, y, None, lam=lam)[0])(0.5)
    with pytest.raises(ValueError, match="explainer_a must be one of"):
        loss.pear_loss(mlp, params, x, y, None, lam=0.5, explainer_a="lime")
    with pytest.raises(ValueError, match="explainer_b must be one of"):
        loss.pear_loss(mlp, params, x, y, None, lam=0.5, explainer_b="gradients")
    with pytest.raises(ValueError, match="key is required"):
        loss.pear_loss(mlp, params, x, y, None, lam=0.5, explainer_a="smoothgrad")
    with pytest.raises(ValueError, match=r"target must have shape \(n,\)"):
        loss.pear_loss(mlp, params, x, y[:3], None, lam=0.5)
    with pytest.raises(ValueError, match="x must be finite"):
        loss.pear_loss(mlp, params, np.full_like(x, np.nan), y, None, lam=0.5)
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        loss.consensus_loss(x, x[:, :3])
    with pytest.raises(ValueError, match="strength"):
        loss.soft_spearman(x, x, strength=0.0)
