"""Tests for pear_jax.explainers: analytic answers, Captum on the same weights, sharding, bad input."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from jax.test_util import check_grads
from sklearn.linear_model import Lasso, Ridge

import jaxrun
from pear_jax import explainers as E

D, C = 5, 3


def linear(params, x):
    return x @ params["w"] + params["b"]


def relu_mlp(params, x):
    h = jax.nn.relu(x @ params["w1"] + params["b1"])
    h = jax.nn.relu(h @ params["w2"] + params["b2"])
    return h @ params["w3"] + params["b3"]


def tanh_mlp(params, x):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    h = jnp.tanh(h @ params["w2"] + params["b2"])
    return h @ params["w3"] + params["b3"]


def _mlp_params(seed, dtype=np.float32, hidden=16):
    rng = np.random.default_rng(seed)
    sizes = [D, hidden, hidden, C]
    p = {}
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        p[f"w{i}"] = jnp.asarray(rng.normal(size=(m, n)) / np.sqrt(m), dtype)
        p[f"b{i}"] = jnp.asarray(rng.normal(size=(n,)) * 0.1, dtype)
    return p


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, D)).astype(np.float32)
    y = rng.integers(0, C, 16).astype(np.int32)
    lin = {"w": jnp.asarray(rng.normal(size=(D, C)), jnp.float32), "b": jnp.asarray(rng.normal(size=(C,)), jnp.float32)}
    base = rng.uniform(size=(D,)).astype(np.float32)
    return x, y, lin, base


# ----------------------------------------------------------------------------- linear model: exact


def test_linear_model_gradients_and_integrated_gradients(data):
    x, y, lin, base = data
    w_t = np.asarray(lin["w"]).T[y]  # (n, d): weight row of each target class
    np.testing.assert_allclose(E.vanilla_gradient(linear, lin, x, y), w_t, atol=1e-6)
    np.testing.assert_allclose(E.gradient_x_input(linear, lin, x, y), x * w_t, atol=1e-6)
    for rule, steps in (("gauss_legendre", 1), ("gauss_legendre", 20), ("riemann_trapezoid", 2)):
        ig = E.integrated_gradients(linear, lin, x, y, baseline=base, rule=rule, n_steps=steps)
        np.testing.assert_allclose(ig, w_t, atol=1e-5)  # path average of a constant gradient
        ig = E.integrated_gradients(linear, lin, x, y, baseline=base, rule=rule, n_steps=steps,
                                    multiply_by_inputs=True)
        np.testing.assert_allclose(ig, (x - base) * w_t, atol=1e-5)
    # Baselines: None = zeros, (d,) and (n, d) agree.
    zeros = E.integrated_gradients(linear, lin, x, y, multiply_by_inputs=True)
    np.testing.assert_allclose(zeros, x * w_t, atol=1e-5)
    per_row = E.integrated_gradients(linear, lin, x, y, baseline=np.tile(base, (len(x), 1)), multiply_by_inputs=True)
    np.testing.assert_allclose(per_row, (x - base) * w_t, atol=1e-5)


def test_linear_model_kernel_shap_and_lime(data):
    x, y, lin, base = data
    w_t = np.asarray(lin["w"]).T[y]
    key = jax.random.key(1)
    np.testing.assert_allclose(E.kernel_shap(linear, lin, x, y, None, baseline=base), (x - base) * w_t, atol=1e-5)
    sampled = E.kernel_shap(linear, lin, x, y, key, baseline=base, n_samples=16, exact_max_features=0)
    np.testing.assert_allclose(sampled, (x - base) * w_t, atol=1e-4)
    # LIME works in the keep/replace space: a linear model's coefficients are w * (x - baseline).
    got = E.lime(linear, lin, x, y, key, penalty="ridge", alpha=0.0, baseline=base, n_samples=64)
    np.testing.assert_allclose(got, (x - base) * w_t, atol=1e-4)
    got = E.lime(linear, lin, x, y, key)  # reference settings: zero baseline, lasso 1e-4
    np.testing.assert_allclose(got, x * w_t, atol=2e-3)


@pytest.mark.parametrize("penalty", ["lasso", "ridge"])
def test_lime_fit_matches_sklearn(penalty):
    rng = np.random.default_rng(2)
    z = rng.integers(0, 2, size=(200, 6)).astype(np.float64)
    f = z @ rng.normal(size=6) + 0.3 * rng.normal(size=200) + 1.0
    w = rng.uniform(0.1, 1.0, size=200)
    alpha = 0.01 if penalty == "lasso" else 2.0
    model = (Lasso(alpha=alpha, tol=1e-12, max_iter=100_000) if penalty == "lasso" else Ridge(alpha=alpha))
    want = model.fit(z, f, sample_weight=w).coef_
    with jax.enable_x64(True):
        got = E._weighted_linear_fit(jnp.asarray(z), jnp.asarray(f), jnp.asarray(w), jnp.asarray(alpha), penalty)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)


# ----------------------------------------------------------------------------- MLPs


def _brute_force_shapley(f, x, base):
    """Shapley values of v(S) = f(x on S, base elsewhere) by averaging over all orderings."""
    d = len(x)
    phi = np.zeros(d)
    for order in itertools.permutations(range(d)):
        point = base.astype(np.float64).copy()
        prev = f(point)
        for j in order:
            point[j] = x[j]
            cur = f(point)
            phi[j] += cur - prev
            prev = cur
    return phi / math.factorial(d)


def test_kernel_shap_on_mlp(data):
    x, y, _, base = data
    params = _mlp_params(3)
    exact = np.asarray(E.kernel_shap(relu_mlp, params, x, y, None, baseline=base))
    for i in range(3):
        f = lambda p, i=i: float(relu_mlp(params, jnp.asarray(p[None], jnp.float32))[0, y[i]])  # noqa: E731
        np.testing.assert_allclose(exact[i], _brute_force_shapley(f, x[i], base), atol=1e-5)
    # Efficiency: each row sums to f(x) - f(baseline).
    fx = np.asarray(relu_mlp(params, x))[np.arange(len(y)), y]
    fb = np.asarray(relu_mlp(params, np.tile(base, (len(x), 1))))[np.arange(len(y)), y]
    np.testing.assert_allclose(exact.sum(axis=1), fx - fb, atol=1e-5)
    sampled = np.asarray(E.kernel_shap(relu_mlp, params, x, y, jax.random.key(4), baseline=base,
                                       n_samples=2000, exact_max_features=0))
    np.testing.assert_allclose(sampled.sum(axis=1), fx - fb, atol=1e-5)
    assert np.abs(sampled - exact).max() < 0.1 * np.abs(exact).max()


def test_ig_completeness_and_smoothgrad_limit(data):
    x, y, _, base = data
    params = _mlp_params(5)
    rows = np.arange(len(y))
    gap = (np.asarray(tanh_mlp(params, x)) - np.asarray(tanh_mlp(params, np.tile(base, (len(x), 1)))))[rows, y]
    ig = E.integrated_gradients(tanh_mlp, params, x, y, baseline=base, n_steps=32, multiply_by_inputs=True)
    np.testing.assert_allclose(np.asarray(ig).sum(axis=1), gap, atol=1e-5)
    ig = E.integrated_gradients(tanh_mlp, params, x, y, baseline=base, n_steps=400, rule="riemann_trapezoid",
                                multiply_by_inputs=True)
    np.testing.assert_allclose(np.asarray(ig).sum(axis=1), gap, atol=1e-4)
    grad = np.asarray(E.vanilla_gradient(tanh_mlp, params, x, y))
    key = jax.random.key(6)
    np.testing.assert_allclose(E.smoothgrad(tanh_mlp, params, x, y, key, sigma=0.0), grad, atol=1e-6)
    np.testing.assert_allclose(E.smoothgrad(tanh_mlp, params, x, y, key, sigma=1e-4), grad, atol=1e-4)
    noisy = np.asarray(E.smoothgrad(tanh_mlp, params, x, y, key, sigma=1.0))
    assert np.abs(noisy - grad).max() > 1e-2
    np.testing.assert_array_equal(noisy, E.smoothgrad(tanh_mlp, params, x, y, key, sigma=1.0))


def test_matches_captum_on_same_weights(data):
    from captum.attr import InputXGradient, IntegratedGradients, Saliency

    x, y, _, base = data
    params = _mlp_params(7)
    layers = []
    for i in (1, 2, 3):
        w, b = np.asarray(params[f"w{i}"]), np.asarray(params[f"b{i}"])
        lin = torch.nn.Linear(*w.shape)
        lin.weight.data, lin.bias.data = torch.tensor(w.T), torch.tensor(b)
        layers += [lin, torch.nn.ReLU()] if i < 3 else [lin]
    model = torch.nn.Sequential(*layers)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, dtype=torch.long)
    want = Saliency(model).attribute(tx, target=ty, abs=False).detach().numpy()
    np.testing.assert_allclose(E.vanilla_gradient(relu_mlp, params, x, y), want, atol=1e-6)
    want = InputXGradient(model).attribute(tx, target=ty).detach().numpy()
    np.testing.assert_allclose(E.gradient_x_input(relu_mlp, params, x, y), want, atol=1e-6)
    ig = IntegratedGradients(model, multiply_by_inputs=False)
    want = ig.attribute(tx, baselines=torch.tensor(base)[None], target=ty, n_steps=20).detach().numpy()
    np.testing.assert_allclose(E.integrated_gradients(relu_mlp, params, x, y, baseline=base), want, atol=1e-6)


def test_differentiable_in_params(data):
    """The four training explainers pass gradient checks w.r.t. the parameters (double backprop)."""
    x, y, _, base = data
    with jax.enable_x64(True):
        params = _mlp_params(8, np.float64)
        x64, key = jnp.asarray(x[:4], jnp.float64), jax.random.key(9)
        for name in E.DIFFERENTIABLE_EXPLAINERS:
            kwargs = {"baseline": jnp.asarray(base, jnp.float64), "n_steps": 4} if name == "integrated_gradients" else {}
            f = jax.jit(lambda p, name=name, kwargs=kwargs: jnp.sum(jnp.sin(E.explain(name, tanh_mlp, p, x64, y[:4],
                                                                                  key, **kwargs))))
            check_grads(f, (params,), order=1, modes=("rev",), atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- jit, sharding


def test_sharded_batch_gives_same_numbers_and_compiles_once(devices, data):
    x, y, _, base = data
    params = _mlp_params(10)
    mesh = jaxrun.make_mesh()
    xs = jax.device_put(x, jaxrun.batch_sharding(mesh))
    ys = jax.device_put(y, jaxrun.batch_sharding(mesh, 1))
    ps = jax.device_put(params, jaxrun.replicated(mesh))
    key = jax.random.key(11)
    for name in E.ALL_EXPLAINERS:
        kwargs = {"baseline": base} if name in ("integrated_gradients", "kernel_shap") else {}
        plain = np.asarray(E.explain(name, relu_mlp, params, x, y, key, **kwargs))
        sharded = E.explain(name, relu_mlp, ps, xs, ys, key, **kwargs)
        assert sharded.shape == x.shape
        np.testing.assert_allclose(np.asarray(sharded), plain, atol=1e-5, err_msg=name)
    before = E._vanilla_gradient._cache_size()
    E.vanilla_gradient(relu_mlp, params, x + 1.0, y)  # same shapes, new values: no recompilation
    assert E._vanilla_gradient._cache_size() == before


def test_chunked_forward_passes_match(devices, data, monkeypatch):
    """Many-sample explainers evaluate the perturbed copies in chunks; same numbers, also sharded."""
    x, y, _, base = data
    params = _mlp_params(12)
    key = jax.random.key(13)
    want = {"lime": np.asarray(E.lime(relu_mlp, params, x, y, key, n_samples=48)),
            "kernel_shap": np.asarray(E.kernel_shap(relu_mlp, params, x, y, None, baseline=base))}
    monkeypatch.setattr(E, "_CHUNK_ROWS", 64)  # 4 samples of 16 rows per chunk
    chunky = lambda p, z: relu_mlp(p, z)  # noqa: E731  (a new function: a fresh trace sees the patch)
    mesh = jaxrun.make_mesh()
    xs = jax.device_put(x, jaxrun.batch_sharding(mesh))
    ys = jax.device_put(y, jaxrun.batch_sharding(mesh, 1))
    for xx, yy in ((x, y), (xs, ys)):
        np.testing.assert_allclose(E.lime(chunky, params, xx, yy, key, n_samples=48), want["lime"], atol=1e-5)
        np.testing.assert_allclose(E.kernel_shap(chunky, params, xx, yy, None, baseline=base), want["kernel_shap"],
                                   atol=1e-5)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_named(data):
    x, y, lin, base = data
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="explain name must be one of|name must be one of"):
        E.explain("shap", linear, lin, x, y, key)
    with pytest.raises(ValueError, match=r"n_steps must be >= 1, got 0"):
        E.integrated_gradients(linear, lin, x, y, n_steps=0)
    with pytest.raises(ValueError, match=r"n_steps must be >= 2"):
        E.integrated_gradients(linear, lin, x, y, n_steps=1, rule="riemann_trapezoid")
    with pytest.raises(ValueError, match="rule must be one of"):
        E.integrated_gradients(linear, lin, x, y, rule="simpson")
    with pytest.raises(ValueError, match=r"baseline must be None, shape \(d,\)"):
        E.integrated_gradients(linear, lin, x, y, baseline=base[:3])
    with pytest.raises(ValueError, match=r"target must have shape \(n,\)"):
        E.vanilla_gradient(linear, lin, x, y[:4])
    with pytest.raises(ValueError, match=r"target must be class indices in \[0, 3\)"):
        E.vanilla_gradient(linear, lin, x, np.full_like(y, 3))
    with pytest.raises(TypeError, match="target must hold integer"):
        E.vanilla_gradient(linear, lin, x, y.astype(np.float32))
    with pytest.raises(ValueError, match="x must be a 2-D"):
        E.vanilla_gradient(linear, lin, x[0], y)
    with pytest.raises(ValueError, match="x must be finite"):
        E.smoothgrad(linear, lin, np.full_like(x, np.inf), y, key)
    with pytest.raises(ValueError, match="lime samples perturbations and needs a PRNG key"):
        E.lime(linear, lin, x, y, None)
    with pytest.raises(ValueError, match="penalty must be one of"):
        E.lime(linear, lin, x, y, key, penalty="elastic")
    with pytest.raises(ValueError, match="sigma must be"):
        E.smoothgrad(linear, lin, x, y, key, sigma=-1.0)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        E.kernel_shap(linear, lin, x, y, None, exact_max_features=2)
    with pytest.raises(ValueError, match=r"apply_fn\(params, x\) must return \(n, C\)"):
        E.vanilla_gradient(lambda p, z: z.sum(), lin, x, y)


def test_explicit_mesh_axes_give_same_numbers_and_param_gradients(devices, data):
    """Rows on explicit mesh axes take the vmapped forward (the flat (n*S, d) batch would merge a
    sharded axis); values and double-backprop parameter gradients match the unsharded flat path."""
    x, y, _, base = data
    params = _mlp_params(14)
    mesh = jaxrun.make_mesh(explicit=True)
    xs = jax.device_put(x, jaxrun.batch_sharding(mesh))
    ys = jax.device_put(y, jaxrun.batch_sharding(mesh, 1))
    ps = jax.device_put(params, jaxrun.replicated(mesh))
    assert E._rows_on_explicit_axes(xs) and not E._rows_on_explicit_axes(x)
    key = jax.random.key(15)

    def summary(p, u, v, name):
        kwargs = {"baseline": base} if name == "integrated_gradients" else {}
        return jnp.sum(E.explain(name, relu_mlp, p, u, v, key, **kwargs) * jnp.arange(1.0, 1.0 + u.shape[1]))

    for name in ("integrated_gradients", "smoothgrad"):
        f = jax.jit(jax.value_and_grad(summary), static_argnums=3)
        v0, g0 = f(params, x, y, name)
        with jax.set_mesh(mesh):
            v1, g1 = f(ps, xs, ys, name)
        assert float(v1) == pytest.approx(float(v0), rel=1e-5), name
        for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-5, err_msg=name)
