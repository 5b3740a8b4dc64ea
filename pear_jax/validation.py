"""Argument checks shared by the pear_jax kernels.

Every check raises a `ValueError` (or `TypeError`) that names the argument and says what was
expected. Shape checks always run (shapes are static, even under `jax.jit`); value checks
(finiteness, label range) run only on concrete arrays, because a traced value cannot be inspected
without a device round trip inside the compiled program.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x: Any) -> bool:
    """True when `x` holds values we can inspect now (not a tracer inside jit/grad/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def check_matrix(name: str, x: Any) -> None:
    """Raises unless `x` is a floating (n, d) array with n >= 1 and d >= 1."""
    shape = np.shape(x)
    if len(shape) != 2:
        raise ValueError(f"{name} must be a 2-D (n, d) array, got shape {shape}")
    if shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one feature, got shape {shape}")
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {jnp.result_type(x)}")


def check_finite(name: str, x: Any) -> None:
    """Raises if a concrete `x` holds NaN or infinity (no-op for traced values)."""
    if not is_concrete(x):
        return
    # Evaluate now even when called while tracing an outer jit over a closed-over concrete array;
    # the reduction runs where the array lives (sharded arrays stay sharded).
    with jax.ensure_compile_time_eval():
        finite = bool(jnp.all(jnp.isfinite(jnp.asarray(x))))
    if not finite:
        raise ValueError(f"{name} must be finite, but it contains NaN or infinity")


def check_same_shape(name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Raises unless `a` and `b` have the same shape."""
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {np.shape(a)} and {np.shape(b)}"
        )


def check_target(target: Any, n: int, num_classes: int | None = None) -> None:
    """Raises unless `target` is an integer (n,) array of class indices in [0, num_classes)."""
    shape = np.shape(target)
    if shape != (n,):
        raise ValueError(f"target must have shape (n,) = ({n},) to match x, got {shape}")
    if not jnp.issubdtype(jnp.result_type(target), jnp.integer):
        raise TypeError(f"target must hold integer class indices, got dtype {jnp.result_type(target)}")
    if num_classes is not None and n and is_concrete(target) and getattr(target, "is_fully_addressable", True):
        t = np.asarray(target)
        if t.min() < 0 or t.max() >= num_classes:
            raise ValueError(
                f"target must be class indices in [0, {num_classes}) for logits with {num_classes} "
                f"classes, got values in [{t.min()}, {t.max()}]"
            )


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """Returns `value` as an int; raises unless it is an integer in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a Python int, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"[{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_unit_interval(name: str, value: Any) -> float:
    """Returns `value` as a Python float; raises unless it is a concrete number in [0, 1]."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{name} must be a concrete Python float in [0, 1], got a traced value")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a float in [0, 1], got {value!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def check_positive(name: str, value: Any) -> None:
    """Raises if a concrete `value` is not a finite number > 0 (no-op for traced values)."""
    if is_concrete(value):
        v = np.asarray(value)
        if v.size != 1 or not np.isfinite(v) or float(v) <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Returns `value`; raises unless it is one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value
