"""Tests for sos_jax/judge/ties.py: Davidson's ties model equals an independent scipy fit."""

import numpy as np
import pytest
from scipy.optimize import minimize

from sos_jax.judge.battles import Battles
from sos_jax.judge.ties import davidson_leaderboard

TRUE_THETA = np.array([0.0, 0.8, -0.4, -1.2, 0.3])
TRUE_NU = 0.6


def simulate(seed, n_per_model=400, theta=TRUE_THETA, nu=TRUE_NU):
    """Battles of models 1.. against the baseline (model 0), outcomes drawn from Davidson's model."""
    rng = np.random.default_rng(seed)
    a = np.repeat(np.arange(1, len(theta)), n_per_model)
    b = np.zeros_like(a)
    pa, pb = np.exp(theta[a]), np.exp(theta[b])
    tie = nu * np.sqrt(pa * pb)
    d = pa + pb + tie
    u = rng.uniform(size=len(a))
    outcome = np.where(u < pa / d, 1.0, np.where(u < (pa + tie) / d, 0.5, 0.0))
    names = tuple(["base"] + [f"m{i}" for i in range(1, len(theta))])
    return Battles(names, a.astype(np.int32), b.astype(np.int32), outcome, np.ones(len(a)),
                   np.array([f"q{i % 50}" for i in range(len(a))], dtype=object))


def scipy_davidson(bt: Battles):
    """Reference MLE written from the formula with explicit probabilities (no shared code)."""
    k = len(bt.models)

    def nll(p):
        theta = np.concatenate([[0.0], p[: k - 1]])
        nu = np.exp(p[-1])
        pa, pb = np.exp(theta[bt.a]), np.exp(theta[bt.b])
        tie = nu * np.sqrt(pa * pb)
        d = pa + pb + tie
        prob = np.where(bt.outcome == 1, pa / d, np.where(bt.outcome == 0, pb / d, tie / d))
        return -np.sum(bt.weight * np.log(prob))

    res = minimize(nll, np.zeros(k), method="BFGS", options={"gtol": 1e-8})
    return np.concatenate([[0.0], res.x[: k - 1]]), float(np.exp(res.x[-1]))


@pytest.mark.parametrize("seed", [0, 1])
def test_davidson_equals_scipy_reference(seed):
    bt = simulate(seed)
    lb = davidson_leaderboard(bt, baseline="base", n_bootstrap=0)
    theta_ref, nu_ref = scipy_davidson(bt)
    ours = np.array([lb.theta[lb.models.index(m)] for m in bt.models])
    np.testing.assert_allclose(ours, theta_ref, atol=2e-4)
    assert lb.nu == pytest.approx(nu_ref, rel=1e-3)
    assert lb.converged
    # Expected score vs the baseline is 50 for the baseline and ordered like theta.
    assert lb.score[lb.models.index("base")] == pytest.approx(50.0)
    assert lb.models[0] == "m1" and lb.models[-1] == "m3"


def test_never_winning_model_is_separated_unless_a_prior_is_given():
    bt = simulate(2)
    out = bt.outcome.copy()
    out[bt.a == 3] = 0.0  # m3 never wins or ties
    bt = Battles(bt.models, bt.a, bt.b, out, bt.weight, bt.question_id)
    lb = davidson_leaderboard(bt, baseline="base", n_bootstrap=0)
    assert lb.theta[lb.models.index("m3")] == -np.inf and lb.score[lb.models.index("m3")] == 0.0
    ridge = davidson_leaderboard(bt, baseline="base", n_bootstrap=0, prior_sd=2.0)
    assert np.isfinite(ridge.theta).all() and 0 < ridge.score[ridge.models.index("m3")] < 5


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_data():
    small = davidson_leaderboard(simulate(3, n_per_model=100), baseline="base", n_bootstrap=40, seed=0)
    large = davidson_leaderboard(simulate(3, n_per_model=800), baseline="base", n_bootstrap=40, seed=0)
    for lb in (small, large):
        assert np.all(lb.ci_low <= lb.score + 1e-6) and np.all(lb.score <= lb.ci_high + 1e-6)
    width = lambda lb: np.mean([lb.ci_high[i] - lb.ci_low[i] for i, m in enumerate(lb.models) if m != "base"])  # noqa: E731
    assert width(large) < 0.7 * width(small)
