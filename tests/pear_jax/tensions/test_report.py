"""T2 and T3 recover known additive effects and a known interaction; DI(ε) pairs DP and non-DP twins."""

import numpy as np

from pear_jax.tensions import report


def _records():
    rng = np.random.default_rng(0)
    recs = []
    for lam in (0.0, 0.5):
        for eps in (None, 8.0):
            for rw in (False, True):
                for seed in range(3):
                    noise = rng.normal() * 1e-3
                    # accuracy: PEAR -0.02, DP -0.05, reweighing 0, PEAR×DP interaction +0.03.
                    acc = 0.8 - 0.02 * (lam > 0) - 0.05 * (eps is not None) + 0.03 * (lam > 0 and eps is not None) + noise
                    m = {"accuracy": acc, "acc_majority": acc + 0.01, "acc_minority": acc - 0.01 * (1 + (eps is not None)),
                         "spearman": 0.5 + 0.2 * lam}
                    recs.append({"dataset": "toy", "group": "g", "cell": f"{lam}-{eps}-{rw}", "lam": lam,
                                 "dp_target": eps, "epsilon": eps, "reweigh": rw, "seed": seed, "metrics": m})
    return recs


def test_tension_matrix_and_interactions():
    t = report.build_tables(_records())["toy"]
    t2 = {r["intervention"]: r for r in t["t2"]}
    np.testing.assert_allclose(t2["PEAR λ=0.5"]["accuracy"][0], -0.02, atol=3e-3)
    np.testing.assert_allclose(t2["DP ε=8"]["accuracy"][0], -0.05, atol=3e-3)
    np.testing.assert_allclose(t2["PEAR λ=0.5"]["spearman"][0], 0.1, atol=1e-9)
    t3 = {r["pair"]: r for r in t["t3"]}
    mean, hw, flagged = t3["PEAR λ=0.5 + DP ε=8"]["accuracy"]
    assert abs(mean - 0.03) < 5e-3 and flagged
    assert not t3["PEAR λ=0.5 + reweighing"]["accuracy"][2]
    # DI(ε): the minority loses 0.01 more than the majority under DP.
    t1 = {r["cell"]: r for r in t["t1"]}
    np.testing.assert_allclose(t1["λ=0, DP ε=8, RW off"]["dp_disparate_impact"][0], 0.01, atol=1e-9)
    np.testing.assert_allclose(t2["DP ε=8"]["dp_disparate_impact"][0], 0.01, atol=1e-9)
    assert "T3" in report.markdown(report.build_tables(_records()))
