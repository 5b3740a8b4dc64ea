"""Kamiran-Calders reweighing and the group-fairness metrics (fairlearn's definitions), in numpy.

Groups are integer codes per row; the study uses g = 1 for the minority / protected group and
g = 0 for the rest. Every metric here is a host-side function of predictions, labels and groups.
"""

from __future__ import annotations

import numpy as np


def _check(name: str, a, n: int | None = None) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1 or (n is not None and len(a) != n):
        raise ValueError(f"{name} must be a vector{f' of length {n}' if n is not None else ''}, got shape {a.shape}")
    return a


def reweighing_weights(y, g) -> np.ndarray:
    """Returns Kamiran-Calders weights w_i = P(G = g_i) P(Y = y_i) / P(G = g_i, Y = y_i) (mean 1).

    They make label and group independent in the weighted training set. An empty (g, y) cell
    gets no rows, so it never needs a weight.
    """
    y = _check("y", y)
    g = _check("g", g, len(y))
    n = len(y)
    w = np.empty(n, np.float64)
    for gv in np.unique(g):
        for yv in np.unique(y):
            cell = (g == gv) & (y == yv)
            if cell.any():
                w[cell] = (np.sum(g == gv) * np.sum(y == yv)) / (n * np.sum(cell))
    return w.astype(np.float32)


def _rate(mask: np.ndarray, values: np.ndarray) -> float:
    return float(values[mask].mean()) if mask.any() else float("nan")


def demographic_parity_difference(y_pred, g) -> float:
    """Returns max minus min over groups of the selection rate P(pred = 1 | G) (fairlearn's)."""
    y_pred = _check("y_pred", y_pred)
    g = _check("g", g, len(y_pred))
    rates = [_rate(g == v, y_pred == 1) for v in np.unique(g)]
    return float(max(rates) - min(rates))


def equalized_odds_difference(y_true, y_pred, g) -> float:
    """Returns max(TPR gap, FPR gap), each the max minus min over groups (fairlearn's 'worst_case')."""
    y_true = _check("y_true", y_true)
    y_pred = _check("y_pred", y_pred, len(y_true))
    g = _check("g", g, len(y_true))
    groups = np.unique(g)
    tpr = [_rate((g == v) & (y_true == 1), y_pred == 1) for v in groups]
    fpr = [_rate((g == v) & (y_true == 0), y_pred == 1) for v in groups]
    return float(max(max(tpr) - min(tpr), max(fpr) - min(fpr)))


def group_accuracies(y_true, y_pred, g) -> dict[str, float]:
    """Returns overall accuracy, per-group accuracy (g = 0 majority, g = 1 minority) and Δacc = maj - min."""
    y_true = _check("y_true", y_true)
    y_pred = _check("y_pred", y_pred, len(y_true))
    g = _check("g", g, len(y_true))
    correct = y_true == y_pred
    maj, mnr = _rate(g == 0, correct), _rate(g == 1, correct)
    return {"accuracy": float(correct.mean()), "acc_majority": maj, "acc_minority": mnr, "acc_gap": maj - mnr}


def disparate_impact_of_dp(acc_min_nodp: float, acc_min_dp: float, acc_maj_nodp: float, acc_maj_dp: float) -> float:
    """Returns DI(ε) = [acc_min(∞) - acc_min(ε)] - [acc_maj(∞) - acc_maj(ε)] (> 0: DP costs the minority more)."""
    return (acc_min_nodp - acc_min_dp) - (acc_maj_nodp - acc_maj_dp)
