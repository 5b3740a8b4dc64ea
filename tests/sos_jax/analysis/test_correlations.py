import numpy as np
import pytest
import scipy.stats as st

from sos_jax.analysis import correlations
from sos_jax.analysis.correlations import correlate, correlate_many, correlation_table
from sos_jax.analysis.ingest import leaderboard_from_scores
from sos_jax.analysis.names import NameMap

# One setting for every call in the analysis tests, so the table kernel compiles once per bucket.
KW = dict(n_boot=400, n_perm=1000)
RHO, N_COVER, REPS = 0.5, 30, 200
SCIPY = {
    "pearson": lambda x, y: st.pearsonr(x, y).statistic,
    "spearman": lambda x, y: st.spearmanr(x, y).statistic,
    "kendall": lambda x, y: st.kendalltau(x, y).statistic,  # tau-b
}


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for n in (5, 6, 7, 12, 30, 40):
        x = rng.normal(size=n)
        y = 0.6 * x + rng.normal(size=n)
        xs += [x, np.round(x * 2) / 2]  # second copy: ties in x
        ys += [y, np.round(y)]  # and in y
    return xs, ys


@pytest.fixture(scope="module")
def coverage_data():
    rng = np.random.default_rng(3)
    cov = np.array([[1, RHO], [RHO, 1]])
    return [rng.multivariate_normal([0, 0], cov, size=N_COVER) for _ in range(REPS)]


@pytest.fixture(scope="module")
def all_results(pairs, coverage_data):
    # The scipy pairs and the coverage replicates share one call (one compile).
    xs = list(pairs[0]) + [d[:, 0] for d in coverage_data]
    ys = list(pairs[1]) + [d[:, 1] for d in coverage_data]
    return correlate_many(xs, ys, **KW, seed=4)


@pytest.fixture(scope="module")
def results(pairs, all_results):
    return all_results[: len(pairs[0])]


def test_statistics_equal_scipy_with_ties(pairs, results):
    for x, y, res in zip(*pairs, results):
        for m, f in SCIPY.items():
            assert res[m].r == pytest.approx(f(x, y), abs=2e-6), (m, len(x))
            assert res[m].n == len(x)


def test_exact_permutation_pvalues_equal_scipy(pairs, results):
    checked = 0
    for x, y, res in zip(*pairs, results):
        if len(x) > 6:
            continue  # 7! = 5040 > n_perm: random permutations, checked below
        for m, f in SCIPY.items():
            ref = st.permutation_test((x,), lambda a, f=f, y=y: f(a, y), permutation_type="pairings", n_resamples=KW["n_perm"])
            assert res[m].p_method.startswith("exact")
            assert res[m].p_value == pytest.approx(ref.pvalue, abs=1e-6), (m, len(x))
            checked += 1
    assert checked == 12


def test_random_permutation_pvalues_close_to_scipy(pairs, results):
    for x, y, res in zip(*pairs, results):
        if len(x) != 30:
            continue  # scipy's unvectorised permutation loop is slow: two pairs suffice
        for m, f in SCIPY.items():
            ref = st.permutation_test((x,), lambda a, f=f, y=y: f(a, y), permutation_type="pairings", n_resamples=KW["n_perm"],
                                      rng=np.random.default_rng(1), vectorized=False)
            # Two Monte-Carlo estimates of p = 2 min(P(<=), P(>=)): each tail q = p/2 has sd sqrt(q(1-q)/R).
            q = min(ref.pvalue / 2, 0.5)
            tol = 4 * np.sqrt(2) * 2 * np.sqrt(max(q * (1 - q), 1e-4) / KW["n_perm"]) + 1e-3
            assert abs(res[m].p_value - ref.pvalue) <= tol, (m, len(x), res[m].p_value, ref.pvalue)


def test_bootstrap_ci_covers_truth_at_nominal_rate(pairs, all_results):
    truth = {"pearson": RHO, "spearman": 6 / np.pi * np.arcsin(RHO / 2), "kendall": 2 / np.pi * np.arcsin(RHO)}
    res = all_results[len(pairs[0]):]
    assert len(res) == REPS
    for m, t in truth.items():
        rate = np.mean([r[m].ci_low <= t <= r[m].ci_high for r in res])
        # Percentile intervals for correlations run slightly short at n=30; 200 reps: sd ~0.015.
        assert 0.89 <= rate <= 0.99, (m, rate)


def test_degenerate_inputs_are_nan_not_numbers():
    res = correlate(np.ones(10), np.arange(10.0), **KW)
    assert all(np.isnan(c.r) for c in res.values())
    few = correlate(np.array([1.0, 2.0]), np.array([2.0, 1.0]), **KW)
    assert few["pearson"].p_method == "too few models" and np.isnan(few["pearson"].p_value)
    with pytest.raises(ValueError, match="unknown correlation method"):
        correlate(np.arange(5.0), np.arange(5.0), methods=("cosine",))


def test_table_joins_names_and_compiles_once_per_bucket(monkeypatch):
    rng = np.random.default_rng(5)
    models = [f"m{i}" for i in range(20)]
    f = rng.normal(size=20)
    lb1 = leaderboard_from_scores("lb1", [m.upper() for m in models[:15]] + ["stranger"], np.r_[f[:15] * 2, 9.0])
    lb2 = leaderboard_from_scores("lb2", models, -f + 0.1 * rng.normal(size=20))
    before = correlations.correlate_padded._cache_size()
    rows = correlation_table([lb1, lb2], {"WK": f, "IF": rng.normal(size=20)}, models,
                             name_map=NameMap().extended(models), **KW)
    assert correlations.correlate_padded._cache_size() - before <= 1  # 4 pairs, n=15 and n=20: one bucket
    got = {(r.leaderboard, r.target): r for r in rows}
    assert len(got[("lb1", "WK")].models) == 15
    assert got[("lb1", "WK")].stats["spearman"].r == pytest.approx(1.0)
    assert got[("lb2", "WK")].stats["kendall"].r < -0.7
    assert got[("lb2", "WK")].stats["pearson"].p_value < 0.01
