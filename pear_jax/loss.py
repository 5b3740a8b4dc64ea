"""The PEAR explanation-consensus loss and the correlations it is built from.

    consensus(a, b) = mu * (1 - soft_spearman(|a|, |b|)) / 2 + (1 - mu) * (1 - pearson(a, b)) / 2
    pear_loss       = (1 - lam) * cross_entropy + lam * mean_rows(consensus(A(x, y), B(x, y)))

where A and B are two differentiable explainers evaluated for the true label y, soft Spearman is
the Pearson correlation of soft ranks (Blondel et al., L2, strength 0.2) of the raw absolute
attributions, and Pearson is on signed attributions, as in the reference (pear-xai 0.0.10).

Constant rows: the reference divides by a zero norm and returns NaN. Here a row with no spread
beyond float rounding (in either argument) has correlation 0 ("no linear relationship"), with zero
gradient through the normalisation, so the loss and its gradient stay finite on constant rows and
ties.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax

from pear_jax import explainers, softrank, validation

SOFT_RANK_STRENGTH = 0.2


def _spread_is_real(centered: jax.Array, raw: jax.Array) -> jax.Array:
    """True per row when the centred sum of squares exceeds what rounding alone leaves behind."""
    d = raw.shape[-1]
    tol = 8.0 * jnp.finfo(raw.dtype).eps * jax.lax.stop_gradient(jnp.max(jnp.abs(raw), axis=-1))
    floor = jnp.maximum(d * tol * tol, jnp.finfo(raw.dtype).tiny)
    return jnp.sum(centered * centered, axis=-1) > floor


def row_correlation(a: jax.Array, b: jax.Array) -> jax.Array:
    """Returns the Pearson correlation along the last axis; 0 where either row is constant.

    Unchecked kernel shared with `pear_jax.agreement`. "Constant" means a spread no larger than
    float rounding of the row's values (so 1.5 repeated, whose float32 mean is not exactly 1.5,
    is constant rather than a correlation of rounding noise).
    """
    ac = a - jnp.mean(a, axis=-1, keepdims=True)
    bc = b - jnp.mean(b, axis=-1, keepdims=True)
    ok = _spread_is_real(ac, a) & _spread_is_real(bc, b)
    # Double `where`: the unused branch must not see a zero under the square root, or its NaN
    # gradient leaks through the select.
    saa = jnp.where(ok, jnp.sum(ac * ac, axis=-1), 1.0)
    sbb = jnp.where(ok, jnp.sum(bc * bc, axis=-1), 1.0)
    return jnp.where(ok, jnp.sum(ac * bc, axis=-1) * jax.lax.rsqrt(saa) * jax.lax.rsqrt(sbb), 0.0)


def _check_pair(a: Any, b: Any) -> None:
    validation.check_matrix("a", a)
    validation.check_matrix("b", b)
    validation.check_same_shape("a", a, "b", b)
    validation.check_finite("a", a)
    validation.check_finite("b", b)


def pearson(a: jax.Array, b: jax.Array) -> jax.Array:
    """Returns the Pearson correlation of each row of `a` (n, d) with the same row of `b`, (n,).

    A constant row (zero variance in `a` or `b`) gets 0.
    """
    _check_pair(a, b)
    return row_correlation(a, b)


def _soft_spearman_rows(a: jax.Array, b: jax.Array, strength: float) -> jax.Array:
    # Both rankings in one call: the soft rank's PAV loop then runs once over 2n rows instead of
    # twice over n (its cost on CPU is mostly per-iteration overhead, not arithmetic).
    ranks = softrank.soft_rank(jnp.abs(jnp.stack([a, b])), strength, "l2")
    return row_correlation(ranks[0], ranks[1])


def soft_spearman(a: jax.Array, b: jax.Array, *, strength: float = SOFT_RANK_STRENGTH) -> jax.Array:
    """Returns the differentiable Spearman correlation of |a| and |b| per row, shape (n,).

    Pearson correlation of the L2 soft ranks (strength `strength`) of the absolute values.
    """
    _check_pair(a, b)
    validation.check_positive("strength", strength)
    return _soft_spearman_rows(a, b, strength)


def _consensus_rows(a: jax.Array, b: jax.Array, mu: float, strength: float) -> jax.Array:
    rank_term = (1.0 - _soft_spearman_rows(a, b, strength)) / 2.0
    linear_term = (1.0 - row_correlation(a, b)) / 2.0
    return mu * rank_term + (1.0 - mu) * linear_term


def consensus_loss(a: jax.Array, b: jax.Array, *, mu: float = 0.5, strength: float = SOFT_RANK_STRENGTH) -> jax.Array:
    """Returns the mean over rows of the PEAR consensus loss between attributions `a` and `b`.

    Per row: mu * (1 - soft_spearman(|a|, |b|)) / 2 + (1 - mu) * (1 - pearson(a, b)) / 2, which
    lies in [0, 1] and is 0 when the explanations agree perfectly.
    """
    _check_pair(a, b)
    mu = validation.check_unit_interval("mu", mu)
    validation.check_positive("strength", strength)
    return jnp.mean(_consensus_rows(a, b, mu, strength))


def pear_loss(
    apply_fn: explainers.ApplyFn,
    params: Any,
    x: jax.Array,
    y: jax.Array,
    key: jax.Array | None,
    *,
    lam: float,
    mu: float = 0.5,
    explainer_a: str = "vanilla_gradient",
    explainer_b: str = "integrated_gradients",
    explainer_a_kwargs: Mapping[str, Any] | None = None,
    explainer_b_kwargs: Mapping[str, Any] | None = None,
    strength: float = SOFT_RANK_STRENGTH,
    weights: jax.Array | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Returns (loss, {"ce": cross-entropy, "consensus": consensus loss}) for one batch.

    loss = (1 - lam) * mean softmax cross-entropy(apply_fn(params, x), y)
           + lam * consensus_loss(A, B; mu, strength),
    with A, B the attributions of `explainer_a`/`explainer_b` (any of DIFFERENTIABLE_EXPLAINERS,
    settings in the `*_kwargs`, e.g. {"baseline": train_mean}) for the true labels `y`.
    Differentiable w.r.t. `params` through the explainers (double backprop). `lam` and `mu` are
    Python floats in [0, 1]; `lam == 0` skips the explainers at trace time and reports
    consensus = NaN ("not computed") so no cost is paid for it. `key` feeds smoothgrad (split
    between A and B) and may be None when neither explainer samples. `weights` (n,), optional,
    weights the rows: both means become sum(weights * per-row term) / n (reweighing; rows with
    weight 0 are padding).
    """
    lam = validation.check_unit_interval("lam", lam)
    mu = validation.check_unit_interval("mu", mu)
    validation.check_positive("strength", strength)
    explainers.check_explainer_name(explainer_a, explainers.DIFFERENTIABLE_EXPLAINERS, "explainer_a")
    explainers.check_explainer_name(explainer_b, explainers.DIFFERENTIABLE_EXPLAINERS, "explainer_b")
    validation.check_matrix("x", x)
    validation.check_finite("x", x)

    logits = apply_fn(params, x)
    if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
        raise ValueError(f"apply_fn(params, x) must return (n, C) logits, got shape {logits.shape}")
    validation.check_target(y, x.shape[0], logits.shape[1])
    ce_rows = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    if weights is not None and jnp.shape(weights) != (x.shape[0],):
        raise ValueError(f"weights must have shape ({x.shape[0]},) (one per row of x), got {jnp.shape(weights)}")

    def mean(rows):
        return jnp.mean(rows) if weights is None else jnp.sum(weights * rows) / rows.shape[0]

    ce = mean(ce_rows)
    if lam == 0.0:
        return ce, {"ce": ce, "consensus": jnp.full((), jnp.nan, ce.dtype)}

    uses_key = {explainer_a, explainer_b} & set(explainers.SAMPLING_EXPLAINERS)
    if uses_key and key is None:
        raise ValueError(f"key is required when an explainer samples ({sorted(uses_key)}), got None")
    key_a, key_b = jax.random.split(key) if key is not None else (None, None)
    attr_a = explainers.explain(explainer_a, apply_fn, params, x, y, key_a, **dict(explainer_a_kwargs or {}))
    attr_b = explainers.explain(explainer_b, apply_fn, params, x, y, key_b, **dict(explainer_b_kwargs or {}))
    consensus = mean(_consensus_rows(attr_a, attr_b, mu, strength))
    loss = (1.0 - lam) * ce + lam * consensus
    return loss, {"ce": ce, "consensus": consensus}
