"""Flax NNX classifiers for PEAR: an MLP (depth, width, activation) and a linear model, plus the
pure `(params, x) -> logits` function the explainers and the loss take.

Weights and biases start from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's `nn.Linear` default,
so a model trained here starts from the same distribution as the reference `pear-xai` MLP (the
paper: 3 hidden layers of 100, ReLU).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "silu": jax.nn.silu,
    "softplus": jax.nn.softplus,
    "leaky_relu": jax.nn.leaky_relu,
}


def _torch_uniform(fan_in: int):
    bound = 1.0 / float(fan_in) ** 0.5

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _dense(d_in: int, d_out: int, rngs: nnx.Rngs) -> nnx.Linear:
    init = _torch_uniform(d_in)
    return nnx.Linear(d_in, d_out, kernel_init=init, bias_init=init, rngs=rngs)


class MLP(nnx.Module):
    """`depth` hidden layers of `width` units with `activation`, then a linear head."""

    def __init__(self, in_features: int, num_classes: int, *, depth: int = 3, width: int = 100,
                 activation: str = "relu", rngs: nnx.Rngs):
        if activation not in ACTIVATIONS:
            raise ValueError(f"model.activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if depth < 1 or width < 1:
            raise ValueError(f"model.depth and model.width must be >= 1, got depth={depth}, width={width}")
        self.activation = activation
        self.depth = depth
        dims = [in_features] + [width] * depth
        # Named attributes rather than a list: parameter paths are plain strings ("hidden_0"),
        # which checkpoints and TensorBoard tags keep as they are.
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            setattr(self, f"hidden_{i}", _dense(a, b, rngs))
        self.head = _dense(width, num_classes, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for i in range(self.depth):
            x = act(getattr(self, f"hidden_{i}")(x))
        return self.head(x)


class Linear(nnx.Module):
    """A single linear layer (logistic regression)."""

    def __init__(self, in_features: int, num_classes: int, *, rngs: nnx.Rngs):
        self.head = _dense(in_features, num_classes, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(x)


def make_model(model_cfg, in_features: int, num_classes: int, seed: int) -> nnx.Module:
    """Returns the model a `config.model` ConfigDict describes, initialised from `seed`."""
    rngs = nnx.Rngs(params=seed)
    kind = model_cfg.kind
    if kind == "mlp":
        return MLP(in_features, num_classes, depth=model_cfg.depth, width=model_cfg.width,
                   activation=model_cfg.activation, rngs=rngs)
    if kind == "linear":
        return Linear(in_features, num_classes, rngs=rngs)
    raise ValueError(f"model.kind must be 'mlp' or 'linear', got {kind!r}")


Params = dict  # nested {layer: {"kernel", "bias"}} of arrays


def split_model(model: nnx.Module) -> tuple[Callable[[Params, jax.Array], jax.Array], Params]:
    """Returns (apply_fn, params): a pure `(params, x (n, d)) -> logits (n, C)` and the parameters
    as a plain nested dict (what optax, orbax and the kernels handle without NNX types).

    The model holds no state besides its parameters, so `apply_fn` is all the kernels need.
    """
    graphdef, state = nnx.split(model, nnx.Param)

    def apply_fn(p: Params, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, p)(x)

    return apply_fn, nnx.to_pure_dict(state)
