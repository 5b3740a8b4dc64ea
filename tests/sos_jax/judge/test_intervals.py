"""Tests for sos_jax/judge/intervals.py: sandwich intervals match the BT fit, cover at the nominal
rate on simulated data, and inverse pair-frequency weighting balances pairs; BT bootstrap `level`."""

import numpy as np
import pytest

from sos_jax.judge.battles import Battles
from sos_jax.judge.bradley_terry import fit_battles
from sos_jax.judge.intervals import bt_sandwich, pair_weights

THETA = np.array([0.0, 1.0, 0.3, -0.5, -1.4])


def simulate(seed, n=120, theta=THETA, n_q=40):
    """Battles vs the baseline (model 0); each question's games share a question effect."""
    rng = np.random.default_rng(seed)
    a = np.repeat(np.arange(1, len(theta)), n)
    q = np.tile(np.arange(n) % n_q, len(theta) - 1)
    p = 1 / (1 + np.exp(-theta[a]))
    y = (rng.uniform(size=len(a)) < p).astype(float)
    names = tuple(["base"] + [f"m{i}" for i in range(1, len(theta))])
    return Battles(names, a.astype(np.int32), np.zeros(len(a), np.int32), y, np.ones(len(a)),
                   np.array([f"q{i}" for i in q], dtype=object))


def test_point_estimates_equal_the_bt_fit():
    bt = simulate(0)
    sw = bt_sandwich(bt, baseline="base")
    ref = fit_battles(bt, baseline="base", n_bootstrap=0)
    for m in bt.models:
        assert sw.score[sw.models.index(m)] == pytest.approx(ref.score[ref.models.index(m)], abs=1e-3)


@pytest.mark.parametrize("level", [0.90, 0.95])
def test_sandwich_covers_at_the_nominal_rate(level):
    hits = []
    truth = 100 / (1 + np.exp(-THETA))
    for rep in range(150):
        sw = bt_sandwich(simulate(1000 + rep), baseline="base", level=level)
        for k, m in enumerate(("m1", "m2", "m3", "m4")):
            i = sw.models.index(m)
            hits.append(sw.ci_low[i] <= truth[k + 1] <= sw.ci_high[i])
    # 600 intervals: the coverage's binomial SD is about 0.012, so +-0.04 is over 3 SDs.
    assert abs(np.mean(hits) - level) < 0.04, np.mean(hits)


def test_question_clusters_and_levels_change_widths_as_expected():
    bt = simulate(3)
    plain = bt_sandwich(bt, baseline="base", level=0.95)
    narrow = bt_sandwich(bt, baseline="base", level=0.90)
    i = plain.models.index("m2")
    assert narrow.ci_high[i] - narrow.ci_low[i] < plain.ci_high[i] - plain.ci_low[i]
    clustered = bt_sandwich(bt, baseline="base", cluster="question")
    assert np.isfinite(clustered.se[i]) and clustered.se[i] > 0


def test_inverse_pair_frequency_gives_every_pair_equal_weight():
    a = np.array([1, 1, 1, 2, 0, 0])
    b = np.array([0, 0, 0, 0, 1, 2])
    w = pair_weights(a, b)
    pairs = {(min(x, y), max(x, y)) for x, y in zip(a, b)}
    totals = [w[(np.minimum(a, b) == p[0]) & (np.maximum(a, b) == p[1])].sum() for p in pairs]
    np.testing.assert_allclose(totals, totals[0])
    assert w.sum() == pytest.approx(len(a))
    sw = bt_sandwich(simulate(4), baseline="base", weighting="inverse_pair_frequency")
    assert sw.weighting == "inverse_pair_frequency" and np.isfinite(sw.score).all()


def test_bt_bootstrap_level_option():
    bt = simulate(5)
    wide = fit_battles(bt, baseline="base", n_bootstrap=200, seed=0, level=0.95)
    narrow = fit_battles(bt, baseline="base", n_bootstrap=200, seed=0, level=0.90)
    i = wide.models.index("m2")
    assert narrow.ci_low[i] >= wide.ci_low[i] and narrow.ci_high[i] <= wide.ci_high[i]
    assert narrow.ci_high[i] - narrow.ci_low[i] < wide.ci_high[i] - wide.ci_low[i]
