"""Tests for pear_jax.models: MLP/linear shapes, PyTorch-style init, the pure apply function."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from pear_jax import models


def cfg(**kw):
    base = dict(kind="mlp", depth=3, width=100, activation="relu")
    base.update(kw)
    return ml_collections.ConfigDict(base)


def test_mlp_structure_and_init_bounds():
    apply_fn, params = models.split_model(models.make_model(cfg(), in_features=8, num_classes=2, seed=0))
    assert sorted(params) == ["head", "hidden_0", "hidden_1", "hidden_2"]
    assert params["hidden_0"]["kernel"].shape == (8, 100)
    assert params["hidden_1"]["kernel"].shape == (100, 100)
    assert params["head"]["kernel"].shape == (100, 2) and params["head"]["bias"].shape == (2,)
    # PyTorch nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
    w = np.asarray(params["hidden_1"]["kernel"])
    assert np.abs(w).max() <= 0.1 and np.abs(w).max() > 0.09
    assert np.abs(np.asarray(params["hidden_0"]["bias"])).max() <= 1 / np.sqrt(8)
    assert abs(w.std() - 0.1 / np.sqrt(3)) < 0.005
    logits = jax.jit(apply_fn)(params, jnp.ones((5, 8)))
    assert logits.shape == (5, 2) and np.isfinite(np.asarray(logits)).all()


def test_apply_fn_matches_manual_forward_and_is_pure():
    apply_fn, params = models.split_model(models.make_model(cfg(depth=2, width=7, activation="tanh"), 3, 4, seed=1))
    x = jax.random.normal(jax.random.key(0), (6, 3))
    h = x
    for name in ("hidden_0", "hidden_1"):
        h = jnp.tanh(h @ params[name]["kernel"] + params[name]["bias"])
    want = h @ params["head"]["kernel"] + params["head"]["bias"]
    np.testing.assert_allclose(apply_fn(params, x), want, rtol=1e-5, atol=1e-6)
    # Different params in, different logits out: nothing is cached in the closure.
    doubled = jax.tree.map(lambda a: 2 * a, params)
    assert not np.allclose(apply_fn(doubled, x), want)


def test_linear_model_and_seeds():
    apply_fn, params = models.split_model(models.make_model(cfg(kind="linear"), 5, 2, seed=0))
    assert list(params) == ["head"]
    x = jnp.ones((2, 5))
    np.testing.assert_allclose(apply_fn(params, x), x @ params["head"]["kernel"] + params["head"]["bias"], rtol=1e-6)
    _, p0 = models.split_model(models.make_model(cfg(), 5, 2, seed=0))
    _, p0b = models.split_model(models.make_model(cfg(), 5, 2, seed=0))
    _, p1 = models.split_model(models.make_model(cfg(), 5, 2, seed=1))
    np.testing.assert_array_equal(p0["hidden_0"]["kernel"], p0b["hidden_0"]["kernel"])
    assert not np.array_equal(p0["hidden_0"]["kernel"], p1["hidden_0"]["kernel"])


def test_bad_model_config_is_named():
    with pytest.raises(ValueError, match="model.activation must be one of"):
        models.make_model(cfg(activation="relu6x"), 3, 2, seed=0)
    with pytest.raises(ValueError, match="model.kind must be 'mlp' or 'linear', got 'cnn'"):
        models.make_model(cfg(kind="cnn"), 3, 2, seed=0)
    with pytest.raises(ValueError, match="model.depth and model.width must be >= 1"):
        models.make_model(cfg(depth=0), 3, 2, seed=0)
