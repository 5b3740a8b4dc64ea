"""Transparency metrics of one model: agreement among the six explainers on held-out rows, its gap
between groups, and the share of attribution that lands on the sensitive feature.

Attributions are for the true label (as PEAR trains them), with the public all-zeros baseline
(the training mean after standardisation) for IG, LIME and Kernel SHAP.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from pear_jax import agreement, explainers


def explainer_kwargs(name: str, ig_steps: int, baseline: jax.Array) -> dict:
    """Returns the settings the study passes to explainer `name` (the public zero baseline)."""
    if name == "integrated_gradients":
        return {"n_steps": ig_steps, "baseline": baseline}
    if name in ("kernel_shap", "lime"):
        return {"baseline": baseline}
    return {}


def all_attributions(apply_fn: Callable, params: Any, x: np.ndarray, y: np.ndarray, *, seed: int,
                     ig_steps: int = 20) -> dict[str, np.ndarray]:
    """Returns {explainer: (n, d) attributions} for all six explainers."""
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    baseline = jnp.zeros((x.shape[1],), x.dtype)
    key = jax.random.key(seed)
    return {name: np.asarray(explainers.explain(name, apply_fn, params, xj, yj, jax.random.fold_in(key, i),
                                                **explainer_kwargs(name, ig_steps, baseline)))
            for i, name in enumerate(explainers.ALL_EXPLAINERS)}


def _mean_over_pairs(per_pair_rows: np.ndarray) -> np.ndarray:
    """(E, E, n) metric of every ordered pair -> (n,) mean over unordered distinct pairs."""
    e = per_pair_rows.shape[0]
    iu = np.triu_indices(e, 1)
    return per_pair_rows[iu].mean(axis=0)


def transparency_metrics(attributions: dict[str, np.ndarray], g: np.ndarray, sensitive: int | None,
                         k: int) -> dict[str, float]:
    """Returns mean pairwise Spearman and FA@k over the explainers, their group gaps (minority -
    majority) and the mean share of |attribution| on the sensitive feature."""
    result = agreement.disagreement_matrix(attributions, k)
    spearman = _mean_over_pairs(result["metrics"]["rank_correlation"]["per_row"])
    fa = _mean_over_pairs(result["metrics"]["feature_agreement"]["per_row"])
    out = {"spearman": float(spearman.mean()), f"fa_at_{k}": float(fa.mean())}
    if sensitive is not None:
        g = np.asarray(g)
        out["spearman_gap"] = float(spearman[g == 1].mean() - spearman[g == 0].mean())
        out[f"fa_at_{k}_gap"] = float(fa[g == 1].mean() - fa[g == 0].mean())
        shares = []
        for a in attributions.values():
            mag = np.abs(a)
            tot = mag.sum(axis=1)
            shares.append(np.where(tot > 0, mag[:, sensitive] / np.where(tot > 0, tot, 1.0), 0.0).mean())
        out["sensitive_share"] = float(np.mean(shares))
    return out
