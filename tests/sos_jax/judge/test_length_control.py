"""Tests for sos_jax/judge/length_control.py: both GLMs equal statsmodels/scipy fits; LC removes a planted length bias."""

import numpy as np
import pytest
from scipy.optimize import minimize

from sos_jax.judge.length_control import lc_win_rates

sm = pytest.importorskip("statsmodels.api", reason="statsmodels (test extra) not installed")


def simulate(seed=0, n_q=150, models=("good", "long", "short")):
    """Per-game results: 'long' wins mostly through answer length, 'good' through quality."""
    rng = np.random.default_rng(seed)
    quality = {"good": 0.8, "long": -0.3, "short": 0.0}
    length = {"good": 0, "long": 400, "short": -150}
    difficulty = rng.normal(0, 0.8, n_q)
    rows = []
    for m in models:
        for q in range(n_q):
            for _ in range(2):  # two games per question, as in Arena-Hard
                delta = length[m] + rng.normal(0, 300)
                logit = quality[m] + 1.2 * np.tanh(delta / 250) - difficulty[q]
                p = 1 / (1 + np.exp(-logit))
                u = rng.uniform()
                y = 1.0 if u < p * 0.9 else (0.5 if u < p * 0.9 + 0.1 else 0.0)
                rows.append((m, f"q{q}", y, delta))
    m, q, y, d = map(np.array, zip(*rows))
    return m, q, y.astype(float), d.astype(float)


def test_both_glms_equal_reference_fits():
    m, q, y, d = simulate()
    res = lc_win_rates(m, q, y, d, difficulty_l2=1.0)
    # Stage 1: penalised logistic regression on model + question one-hots, scipy reference.
    models, mi = np.unique(m, return_inverse=True)
    qids, qi = np.unique(q, return_inverse=True)
    k, nq = len(models), len(qids)

    def loss(beta):
        z = beta[mi] + beta[k + qi]
        return np.sum(np.logaddexp(0, z) - y * z) + 0.5 * np.sum(beta[k:] ** 2)

    def grad(beta):
        z = beta[mi] + beta[k + qi]
        r = 1 / (1 + np.exp(-z)) - y
        return np.concatenate([np.bincount(mi, r, k), np.bincount(qi, r, nq) + beta[k:]])

    ref = minimize(loss, np.zeros(k + nq), jac=grad, method="L-BFGS-B", options={"gtol": 1e-9, "maxiter": 5000}).x
    gamma = np.array([res["difficulty"][x] for x in qids])
    np.testing.assert_allclose(gamma, ref[k:], atol=2e-3)
    # Stage 2: per-model binomial GLM with fractional y, statsmodels reference on the same features.
    sigma = np.std(d)
    for j, name in enumerate(models):
        rows = mi == j
        x = np.column_stack([np.ones(rows.sum()), np.tanh(d[rows] / sigma), ref[k + qi[rows]]])
        glm = sm.GLM(y[rows], x, family=sm.families.Binomial()).fit()
        c = res["models"][name]["coef"]
        np.testing.assert_allclose([c["intercept"], c["length"], c["difficulty"]], glm.params, atol=5e-3)
        lc_ref = 100 * np.mean(1 / (1 + np.exp(-(glm.params[0] + glm.params[2] * ref[k + np.unique(qi[rows])]))))
        assert res["models"][name]["lc_win_rate"] == pytest.approx(lc_ref, abs=0.05)


def test_length_control_removes_the_length_advantage():
    m, q, y, d = simulate(1, n_q=300)
    res = lc_win_rates(m, q, y, d)["models"]
    assert res["long"]["win_rate"] > res["good"]["win_rate"] - 5  # raw: length buys wins
    assert res["long"]["lc_win_rate"] < res["long"]["win_rate"] - 8  # controlled: the advantage goes
    assert res["good"]["lc_win_rate"] > res["long"]["lc_win_rate"] + 8
    assert res["long"]["coef"]["length"] > 0.5


def test_needs_lengths():
    with pytest.raises(ValueError, match="answer lengths"):
        lc_win_rates(np.array(["a"]), np.array(["q"]), np.array([1.0]), np.array([np.nan]))
