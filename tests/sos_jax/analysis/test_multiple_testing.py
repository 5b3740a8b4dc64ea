"""Tests for sos_jax/analysis/multiple_testing.py against statsmodels' multipletests."""

import numpy as np
import pytest

from sos_jax.analysis.multiple_testing import benjamini_hochberg, holm

multitest = pytest.importorskip("statsmodels.stats.multitest", reason="statsmodels (test extra) not installed")


@pytest.mark.parametrize("seed", range(5))
def test_equal_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 1, 20), rng.uniform(0, 0.01, 5), [0.03, 0.03]])
    rng.shuffle(p)
    np.testing.assert_allclose(holm(p), multitest.multipletests(p, method="holm")[1], atol=1e-12)
    np.testing.assert_allclose(benjamini_hochberg(p), multitest.multipletests(p, method="fdr_bh")[1], atol=1e-12)


def test_nan_stays_out_of_the_family():
    p = np.array([0.01, np.nan, 0.02, 0.5])
    h = holm(p)
    assert np.isnan(h[1])
    np.testing.assert_allclose(h[[0, 2, 3]], multitest.multipletests(p[[0, 2, 3]], method="holm")[1])
    assert np.all(benjamini_hochberg(p)[[0, 2, 3]] >= p[[0, 2, 3]])


def test_rejects_bad_p():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.5])
