"""Per-row agreement metrics between two explanations, and the explainer disagreement matrix.

Definitions follow Krishna et al., "The Disagreement Problem in Explainable ML" as implemented in
the PEAR reference (pear-xai 0.0.10, `disagreement_metrics.py`). Top-k is by |attribution|, ties
broken towards the lower feature index (as numpy's argsort does on short rows), k in [1, d]:

* feature_agreement      |topk(a) & topk(b)| / k
* rank_agreement         #{positions i < k: topk(a)[i] == topk(b)[i]} / k
* sign_agreement         #{j in topk(a) & topk(b): sign(a_j) == sign(b_j)} / k
* signed_rank_agreement  #{i < k: topk(a)[i] == topk(b)[i] and equal signs} / k
* rank_correlation       Spearman of |a| and |b| over all features (average ranks for ties)
* pairwise_rank_agreement fraction of feature pairs (i < j) with
                         [|a_i| > |a_j|] == [|b_i| > |b_j|] (the reference's rule; a pair tied
                         in one explanation agrees when the other does not put i strictly first)
* pearson_correlation    Pearson of the signed attributions
* kendall_tau            Kendall tau-b of |a| and |b|

Correlations of a constant row are defined as 0 (the reference yields NaN), so means stay finite.
Signs use sign(0) = 0, so a zero only matches a zero. `k` is ignored by the last four metrics.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from pear_jax import validation
from pear_jax.loss import row_correlation

METRICS = (
    "feature_agreement",
    "rank_agreement",
    "sign_agreement",
    "signed_rank_agreement",
    "rank_correlation",
    "pairwise_rank_agreement",
    "pearson_correlation",
    "kendall_tau",
)


def _topk(a: jax.Array, k: int) -> jax.Array:
    # lax.top_k returns equal values lower index first, matching numpy's stable order on small rows.
    return jax.lax.top_k(jnp.abs(a), k)[1]


def _members(indices: jax.Array, d: int) -> jax.Array:
    """(n, k) feature indices -> (n, d) membership mask."""
    return jnp.any(indices[..., :, None] == jnp.arange(d), axis=-2)


def _average_ranks(v: jax.Array) -> jax.Array:
    """1-based ranks along the last axis, ties get their average rank (scipy's rankdata)."""
    # O(d^2) comparisons, like the pairwise metrics: fine for tabular d, and (unlike a vmapped
    # searchsorted) accepted for row-sharded inputs under explicit mesh axes.
    below = jnp.sum(v[..., None, :] < v[..., :, None], axis=-1)
    tied = jnp.sum(v[..., None, :] == v[..., :, None], axis=-1)
    return below.astype(v.dtype) + (tied.astype(v.dtype) + 1.0) / 2.0


def _pair_signs(v: jax.Array) -> jax.Array:
    """(n, d) -> (n, P) signs of v_i - v_j over the feature pairs i < j."""
    i, j = np.triu_indices(v.shape[-1], k=1)
    return jnp.sign(v[..., i] - v[..., j])


def _feature_agreement(a, b, k):
    d = a.shape[-1]
    both = _members(_topk(a, k), d) & _members(_topk(b, k), d)
    return jnp.sum(both, axis=-1) / k


def _rank_agreement(a, b, k):
    return jnp.sum(_topk(a, k) == _topk(b, k), axis=-1) / k


def _sign_agreement(a, b, k):
    d = a.shape[-1]
    both = _members(_topk(a, k), d) & _members(_topk(b, k), d)
    return jnp.sum(both & (jnp.sign(a) == jnp.sign(b)), axis=-1) / k


def _signed_rank_agreement(a, b, k):
    ta, tb = _topk(a, k), _topk(b, k)
    same_sign = jnp.take_along_axis(jnp.sign(a), ta, -1) == jnp.take_along_axis(jnp.sign(b), ta, -1)
    return jnp.sum((ta == tb) & same_sign, axis=-1) / k


def _rank_correlation(a, b, k):
    return row_correlation(_average_ranks(jnp.abs(a)), _average_ranks(jnp.abs(b)))


def _pairwise_rank_agreement(a, b, k):
    first_a = _pair_signs(jnp.abs(a)) > 0
    first_b = _pair_signs(jnp.abs(b)) > 0
    return jnp.mean(first_a == first_b, axis=-1)


def _pearson_correlation(a, b, k):
    return row_correlation(a, b)


def _kendall_tau(a, b, k):
    sa, sb = _pair_signs(jnp.abs(a)), _pair_signs(jnp.abs(b))
    untied_a, untied_b = jnp.sum(jnp.abs(sa), axis=-1), jnp.sum(jnp.abs(sb), axis=-1)
    ok = (untied_a > 0) & (untied_b > 0)
    denom = jnp.sqrt(jnp.where(ok, untied_a * untied_b, 1.0))
    return jnp.where(ok, jnp.sum(sa * sb, axis=-1) / denom, 0.0)


_METRIC_FNS: dict[str, Callable[[jax.Array, jax.Array, int], jax.Array]] = {
    "feature_agreement": _feature_agreement,
    "rank_agreement": _rank_agreement,
    "sign_agreement": _sign_agreement,
    "signed_rank_agreement": _signed_rank_agreement,
    "rank_correlation": _rank_correlation,
    "pairwise_rank_agreement": _pairwise_rank_agreement,
    "pearson_correlation": _pearson_correlation,
    "kendall_tau": _kendall_tau,
}


@functools.partial(jax.jit, static_argnames=("metric", "k"))
def _metric_rows(a, b, *, metric, k):
    return _METRIC_FNS[metric](a, b, k).astype(jnp.result_type(a.dtype, jnp.float32))


def _checked_k(k: Any, d: int) -> int:
    return validation.check_int("k", k, 1, d)


def _checked_pair(a: Any, b: Any, k: Any, needs_pairs: bool = False) -> tuple[jax.Array, jax.Array, int]:
    validation.check_matrix("a", a)
    validation.check_matrix("b", b)
    validation.check_same_shape("a", a, "b", b)
    validation.check_finite("a", a)
    validation.check_finite("b", b)
    d = np.shape(a)[1]
    if needs_pairs and d < 2:
        raise ValueError(f"a and b need at least 2 features for a pairwise or correlation metric, got d = {d}")
    return jnp.asarray(a), jnp.asarray(b), (_checked_k(k, d) if k is not None else 1)


def feature_agreement(a: jax.Array, b: jax.Array, k: int) -> jax.Array:
    """Returns |topk(a) & topk(b)| / k per row, shape (n,)."""
    a, b, k = _checked_pair(a, b, k)
    return _metric_rows(a, b, metric="feature_agreement", k=k)


def rank_agreement(a: jax.Array, b: jax.Array, k: int) -> jax.Array:
    """Returns the fraction of the k top positions holding the same feature, per row, (n,)."""
    a, b, k = _checked_pair(a, b, k)
    return _metric_rows(a, b, metric="rank_agreement", k=k)


def sign_agreement(a: jax.Array, b: jax.Array, k: int) -> jax.Array:
    """Returns #(shared top-k features with equal sign) / k per row, shape (n,)."""
    a, b, k = _checked_pair(a, b, k)
    return _metric_rows(a, b, metric="sign_agreement", k=k)


def signed_rank_agreement(a: jax.Array, b: jax.Array, k: int) -> jax.Array:
    """Returns #(top-k positions with the same feature and equal sign) / k per row, shape (n,)."""
    a, b, k = _checked_pair(a, b, k)
    return _metric_rows(a, b, metric="signed_rank_agreement", k=k)


def rank_correlation(a: jax.Array, b: jax.Array, k: int | None = None) -> jax.Array:
    """Returns the Spearman correlation of |a| and |b| over all features per row, shape (n,)."""
    a, b, _ = _checked_pair(a, b, None, needs_pairs=True)
    return _metric_rows(a, b, metric="rank_correlation", k=1)


def pairwise_rank_agreement(a: jax.Array, b: jax.Array, k: int | None = None) -> jax.Array:
    """Returns the fraction of feature pairs that |a| and |b| order the same way per row, (n,)."""
    a, b, _ = _checked_pair(a, b, None, needs_pairs=True)
    return _metric_rows(a, b, metric="pairwise_rank_agreement", k=1)


def pearson_correlation(a: jax.Array, b: jax.Array, k: int | None = None) -> jax.Array:
    """Returns the Pearson correlation of the signed attributions per row, shape (n,)."""
    a, b, _ = _checked_pair(a, b, None, needs_pairs=True)
    return _metric_rows(a, b, metric="pearson_correlation", k=1)


def kendall_tau(a: jax.Array, b: jax.Array, k: int | None = None) -> jax.Array:
    """Returns Kendall's tau-b of |a| and |b| per row, shape (n,)."""
    a, b, _ = _checked_pair(a, b, None, needs_pairs=True)
    return _metric_rows(a, b, metric="kendall_tau", k=1)


@functools.partial(jax.jit, static_argnames=("k",))
def _all_pairs(stacked: jax.Array, *, k: int) -> dict[str, jax.Array]:
    """(E, n, d) -> {metric: (E, E, n)} over every ordered explainer pair."""
    out = {}
    for name, fn in _METRIC_FNS.items():
        per_pair = jax.vmap(jax.vmap(functools.partial(fn, k=k), in_axes=(None, 0)), in_axes=(0, None))
        out[name] = per_pair(stacked, stacked).astype(jnp.float32)
    return out


def disagreement_matrix(attributions: Mapping[str, jax.Array], k: int) -> dict[str, Any]:
    """Returns every explainer pair x metric: {"explainers": names, "metrics": {metric: {...}}}.

    `attributions` maps explainer name -> (n, d) attributions of the same rows. For each metric in
    METRICS the result holds "per_row", a numpy (E, E, n) array whose [i, j] entry compares
    explainer i with explainer j, and "mean", its (E, E) mean over rows. One jitted call computes
    all of it.
    """
    if not isinstance(attributions, Mapping) or not attributions:
        raise ValueError("attributions must be a non-empty mapping {explainer name: (n, d) array}")
    names = list(attributions)
    first = names[0]
    for name in names:
        validation.check_matrix(f"attributions[{name!r}]", attributions[name])
        validation.check_same_shape(f"attributions[{first!r}]", attributions[first],
                                    f"attributions[{name!r}]", attributions[name])
        validation.check_finite(f"attributions[{name!r}]", attributions[name])
    d = np.shape(attributions[first])[1]
    if d < 2:
        raise ValueError(f"attributions need at least 2 features for the pairwise metrics, got d = {d}")
    k = _checked_k(k, d)
    stacked = jnp.stack([jnp.asarray(attributions[name], jnp.float32) for name in names])
    per_row = jax.device_get(_all_pairs(stacked, k=k))
    return {
        "explainers": names,
        "metrics": {m: {"mean": per_row[m].mean(axis=-1), "per_row": per_row[m]} for m in METRICS},
    }
