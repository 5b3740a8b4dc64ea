"""Reweighing equals the Kamiran-Calders formula; fairness metrics equal fairlearn's; MIA AUC
equals scikit-learn's; the transparency metrics behave on known attributions."""

import numpy as np
import pytest
from fairlearn import metrics as fl
from sklearn.metrics import roc_auc_score, roc_curve

from pear_jax.tensions import fairness, privacy, transparency


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    n = 500
    g = (rng.random(n) < 0.2).astype(int)
    y = (rng.random(n) < np.where(g == 1, 0.2, 0.5)).astype(int)
    pred = np.where(rng.random(n) < 0.8, y, 1 - y)
    return y, pred, g


def test_reweighing_equals_the_formula(rows):
    y, _, g = rows
    w = fairness.reweighing_weights(y, g)
    n = len(y)
    for i in range(0, n, 37):
        expected = (np.sum(g == g[i]) / n) * (np.sum(y == y[i]) / n) / (np.sum((g == g[i]) & (y == y[i])) / n)
        np.testing.assert_allclose(w[i], expected, rtol=1e-6)
    # Weighted, label and group are independent.
    pw = lambda m: w[m].sum() / w.sum()  # noqa: E731
    np.testing.assert_allclose(pw((y == 1) & (g == 1)), pw(y == 1) * pw(g == 1), rtol=1e-5)


def test_fairness_metrics_equal_fairlearn(rows):
    y, pred, g = rows
    np.testing.assert_allclose(fairness.demographic_parity_difference(pred, g),
                               fl.demographic_parity_difference(y, pred, sensitive_features=g), atol=1e-12)
    np.testing.assert_allclose(fairness.equalized_odds_difference(y, pred, g),
                               fl.equalized_odds_difference(y, pred, sensitive_features=g), atol=1e-12)
    acc = fairness.group_accuracies(y, pred, g)
    np.testing.assert_allclose(acc["acc_gap"], (pred == y)[g == 0].mean() - (pred == y)[g == 1].mean())


def test_disparate_impact_sign():
    # DP costs the minority 10 points and the majority 2: DI = 0.08.
    np.testing.assert_allclose(fairness.disparate_impact_of_dp(0.8, 0.7, 0.9, 0.88), 0.08)


def test_mia_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(1)
    member = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    scores = np.round(rng.normal(size=600) + 0.3 * member, 1)  # rounding makes ties
    np.testing.assert_allclose(privacy.roc_auc(scores, member), roc_auc_score(member, scores), atol=1e-12)
    fpr, tpr, _ = roc_curve(member, scores)
    np.testing.assert_allclose(privacy.tpr_at_fpr(scores, member, 0.01), tpr[fpr <= 0.01].max(), atol=1e-12)
    summary = privacy.attack_summary(scores, member, groups=np.arange(600) % 2)
    assert set(summary) >= {"auc", "tpr_at_1fpr", "auc_gap"}


def test_transparency_metrics_on_known_attributions():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(40, 5))
    same = {name: a for name in ("e1", "e2", "e3")}
    g = np.arange(40) % 2
    out = transparency.transparency_metrics(same, g, sensitive=0, k=2)
    np.testing.assert_allclose([out["spearman"], out["fa_at_2"], out["spearman_gap"]], [1.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(out["sensitive_share"], (np.abs(a[:, 0]) / np.abs(a).sum(1)).mean(), rtol=1e-6)
