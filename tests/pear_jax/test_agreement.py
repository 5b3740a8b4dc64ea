"""Tests for pear_jax.agreement: hand-made cases, an independent numpy version, the matrix, sharding."""

import itertools

import jax
import numpy as np
import pytest
from scipy.stats import kendalltau, pearsonr, rankdata

import jaxrun
from pear_jax import agreement


def _np_metrics(a, b, k):
    """The pear-xai definitions row by row in plain numpy, ties broken towards the lower index."""
    ta = np.argsort(-np.abs(a), axis=1, kind="stable")[:, :k]
    tb = np.argsort(-np.abs(b), axis=1, kind="stable")[:, :k]
    out = {m: [] for m in agreement.METRICS}
    d = a.shape[1]
    for i in range(len(a)):
        common = set(ta[i]) & set(tb[i])
        out["feature_agreement"].append(len(common) / k)
        out["rank_agreement"].append(np.sum(ta[i] == tb[i]) / k)
        out["sign_agreement"].append(sum(np.sign(a[i, j]) == np.sign(b[i, j]) for j in common) / k)
        same = ta[i][ta[i] == tb[i]]
        out["signed_rank_agreement"].append(np.sum(np.sign(a[i, same]) == np.sign(b[i, same])) / k)
        ra, rb = rankdata(np.abs(a[i])), rankdata(np.abs(b[i]))
        out["rank_correlation"].append(pearsonr(ra, rb)[0] if ra.std() and rb.std() else 0.0)
        da, db = rankdata(-np.abs(a[i]), method="dense"), rankdata(-np.abs(b[i]), method="dense")
        pairs = list(itertools.combinations(range(d), 2))
        out["pairwise_rank_agreement"].append(np.mean([(da[p] < da[q]) == (db[p] < db[q]) for p, q in pairs]))
        out["pearson_correlation"].append(pearsonr(a[i], b[i])[0] if a[i].std() and b[i].std() else 0.0)
        tau = kendalltau(np.abs(a[i]), np.abs(b[i]))[0]
        out["kendall_tau"].append(0.0 if np.isnan(tau) else tau)
    return {m: np.asarray(v, np.float64) for m, v in out.items()}


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(48, 7)).astype(np.float32)
    b = (a + 0.9 * rng.normal(size=a.shape)).astype(np.float32)
    a[:6, 3] = a[:6, 5]  # tied magnitudes
    b[4:10, 1] = -b[4:10, 4]  # tied magnitudes, opposite signs
    a[10:14, 2] = 0.0  # zeros (sign 0)
    a[14:18] = np.round(a[14:18])  # many ties
    b[16] = 1.5  # a constant row
    return a, b


# ----------------------------------------------------------------------------- known values


def test_hand_made_cases():
    a = np.array([[3.0, -2.0, 1.0, 0.5]], np.float32)
    b = np.array([[-3.0, 0.4, 2.0, 0.1]], np.float32)
    # top-2: a -> [0, 1], b -> [0, 2]; shared {0} with opposite signs.
    assert float(agreement.feature_agreement(a, b, 2)[0]) == pytest.approx(0.5)
    assert float(agreement.rank_agreement(a, b, 2)[0]) == pytest.approx(0.5)
    assert float(agreement.sign_agreement(a, b, 2)[0]) == pytest.approx(0.0)
    assert float(agreement.signed_rank_agreement(a, b, 2)[0]) == pytest.approx(0.0)
    # k = d: every feature is shared; positions 0 and 3 hold the same feature (a: 0,1,2,3; b: 0,2,1,3)...
    assert float(agreement.feature_agreement(a, b, 4)[0]) == pytest.approx(1.0)
    assert float(agreement.rank_agreement(a, b, 4)[0]) == pytest.approx(0.5)
    # ...and signs agree on features 2 and 3 only.
    assert float(agreement.sign_agreement(a, b, 4)[0]) == pytest.approx(0.5)
    assert float(agreement.signed_rank_agreement(a, b, 4)[0]) == pytest.approx(0.25)
    # |a| order 0>1>2>3, |b| order 0>2>1>3: one of six pairs (1, 2) flips.
    assert float(agreement.pairwise_rank_agreement(a, b)[0]) == pytest.approx(5 / 6)
    assert float(agreement.kendall_tau(a, b)[0]) == pytest.approx((5 - 1) / 6)
    assert float(agreement.rank_correlation(a, b)[0]) == pytest.approx(0.8)  # 1 - 6*2/(4*15)


def test_ties_constant_rows_and_self_agreement():
    tied = np.array([[1.0, 1.0, -1.0, 0.0]], np.float32)
    # Ties go to the lower index: top-2 of |tied| is [0, 1].
    other = np.array([[0.0, 2.0, 0.0, 1.0]], np.float32)  # top-2 [1, 3]
    assert float(agreement.feature_agreement(tied, other, 2)[0]) == pytest.approx(0.5)
    assert float(agreement.rank_agreement(tied, other, 2)[0]) == pytest.approx(0.0)
    const = np.full((1, 4), 0.7, np.float32)
    for fn in (agreement.rank_correlation, agreement.pearson_correlation, agreement.kendall_tau):
        assert float(fn(const, other)[0]) == 0.0
    # Pairwise rule of the reference: a pair (i < j) tied in one explanation agrees unless the other
    # puts i strictly ahead of j; |other| = [0, 2, 0, 1] does so for (1, 2) and (1, 3) only.
    assert float(agreement.pairwise_rank_agreement(const, other)[0]) == pytest.approx(4 / 6)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    for m in agreement.METRICS:
        np.testing.assert_allclose(getattr(agreement, m)(x, x, 3), np.ones(5), atol=1e-6, err_msg=m)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_matches_independent_numpy(pair, k):
    a, b = pair
    want = _np_metrics(a, b, k)
    for m in agreement.METRICS:
        got = np.asarray(getattr(agreement, m)(a, b, k))
        assert got.shape == (len(a),)
        np.testing.assert_allclose(got, want[m], atol=2e-6, err_msg=m)


# ----------------------------------------------------------------------------- the matrix


def test_disagreement_matrix(pair):
    a, b = pair
    c = -a
    result = agreement.disagreement_matrix({"a": a, "b": b, "c": c}, k=3)
    assert result["explainers"] == ["a", "b", "c"]
    assert set(result["metrics"]) == set(agreement.METRICS)
    attrs = (a, b, c)
    want = {(i, j): _np_metrics(attrs[i], attrs[j], 3) for i in range(3) for j in range(3)}
    for m in agreement.METRICS:
        per_row, mean = result["metrics"][m]["per_row"], result["metrics"][m]["mean"]
        assert isinstance(per_row, np.ndarray) and per_row.shape == (3, 3, len(a))
        np.testing.assert_allclose(mean, per_row.mean(axis=-1), rtol=1e-6)
        for (i, j), w in want.items():
            np.testing.assert_allclose(per_row[i, j], w[m], atol=2e-6, err_msg=f"{m} [{i}, {j}]")
    # Self-agreement is 1 except for correlations of b's constant row, which are 0 by convention.
    np.testing.assert_allclose(np.diagonal(result["metrics"]["feature_agreement"]["mean"]), np.ones(3))
    assert result["metrics"]["kendall_tau"]["per_row"][1, 1, 16] == 0.0
    # a vs -a: same magnitudes (rank metrics 1), opposite signs.
    assert result["metrics"]["feature_agreement"]["mean"][0, 2] == pytest.approx(1.0)
    assert result["metrics"]["sign_agreement"]["mean"][0, 2] < 0.05  # only rows with zeros agree
    assert result["metrics"]["pearson_correlation"]["mean"][0, 2] == pytest.approx(-1.0, abs=1e-6)
    # One compilation per (explainers, rows, features, k).
    before = agreement._all_pairs._cache_size()
    agreement.disagreement_matrix({"a": b, "b": c, "c": a}, k=3)
    assert agreement._all_pairs._cache_size() == before


def test_sharded_batch_gives_same_numbers(devices, pair):
    a, b = pair
    mesh = jaxrun.make_mesh()
    sa, sb = (jax.device_put(v, jaxrun.batch_sharding(mesh)) for v in (a, b))
    plain = agreement.disagreement_matrix({"a": a, "b": b}, k=3)
    sharded = agreement.disagreement_matrix({"a": sa, "b": sb}, k=3)
    for m in agreement.METRICS:
        np.testing.assert_allclose(sharded["metrics"][m]["per_row"], plain["metrics"][m]["per_row"], atol=1e-6)
    np.testing.assert_allclose(agreement.kendall_tau(sa, sb), agreement.kendall_tau(a, b), atol=1e-6)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_named():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"k must be \[1, 4\], got 5"):
        agreement.feature_agreement(a, a, 5)
    with pytest.raises(ValueError, match="k must be"):
        agreement.disagreement_matrix({"x": a}, k=0)
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        agreement.rank_agreement(a, a[:, :3], 2)
    with pytest.raises(ValueError, match="b must be finite"):
        agreement.sign_agreement(a, np.full((3, 4), np.inf, np.float32), 2)
    with pytest.raises(ValueError, match=r"attributions\['y'\]"):
        agreement.disagreement_matrix({"x": a, "y": a[:2]}, k=2)
    with pytest.raises(ValueError, match="non-empty mapping"):
        agreement.disagreement_matrix({}, k=2)
    with pytest.raises(ValueError, match="at least 2 features"):
        agreement.kendall_tau(a[:, :1], a[:, :1])
    with pytest.raises(ValueError, match="2-D"):
        agreement.pearson_correlation(a[0], a[0])
