"""Tests for sos_jax/analysis/partial_runs.py: Wilson bounds and evaluated-size subtask weights."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from sos_jax.analysis.factors import factor_scores
from sos_jax.analysis.ingest import read_results
from sos_jax.analysis.partial_runs import bounded_interval
from sos_jax.tasks.suite import BBQ_SIZES

ANCHOR = Path(__file__).resolve().parents[3].parent / "shared/anchors/sos-bench/artifacts/eleuther_wandb.csv"


def test_wilson_equals_statsmodels_with_the_effective_n():
    proportion = pytest.importorskip("statsmodels.stats.proportion", reason="statsmodels (test extra) not installed")
    n = np.array([50, 200, 1000, 37])
    k = np.array([1, 30, 990, 18])
    p = k / n
    se = np.sqrt(p * (1 - p) / n)
    lo, hi = bounded_interval(p, se, norm.ppf(0.975))
    ref_lo, ref_hi = proportion.proportion_confint(k, n, alpha=0.05, method="wilson")
    np.testing.assert_allclose(lo, ref_lo, atol=1e-12)
    np.testing.assert_allclose(hi, ref_hi, atol=1e-12)


def test_bounds_stay_in_unit_interval():
    v = np.array([0.0, 0.003, 0.999, 1.0, 0.5, np.nan])
    se = np.array([0.0, 0.004, 0.01, 0.02, 0.1, 0.1])
    lo, hi = bounded_interval(v, se, 1.96)
    ok = ~np.isnan(v)
    assert np.all(lo[ok] >= 0) and np.all(hi[ok] <= 1) and np.all(lo[ok] <= v[ok]) and np.all(v[ok] <= hi[ok])
    assert np.isnan(lo[-1]) and lo[0] == hi[0] == 0.0


@pytest.mark.skipif(not ANCHOR.is_file(), reason=f"anchor results absent at {ANCHOR} (../shared beside the repo)")
def test_strongreject_ci_inside_unit_interval_on_anchors():
    fs = factor_scores(read_results(ANCHOR))
    assert np.nanmin(fs.bench_lo) >= 0 and np.nanmax(fs.bench_hi) <= 1
    j = fs.benchmarks.index("StrongREJECT")
    assert np.nanmin(fs.bench[:, j]) < 0.01  # the near-zero benchmark the normal interval pushed below 0


def _partial_run(path: Path, model: str, limit: int, rng) -> dict:
    """An lm-eval-style results file of a `--limit` run: every BBQ subtask has `limit` docs."""
    results, n_samples = {}, {}
    for t, full in BBQ_SIZES.items():
        acc = float(rng.uniform(0.1, 0.6))
        results[t] = {"acc,none": acc, "acc_stderr,none": 0.05}
        n_samples[t] = {"original": full, "effective": limit}
    group = float(np.mean([r["acc,none"] for r in results.values()]))  # equal sizes: equal weights
    results["bbq"] = {"acc,none": group, "acc_stderr,none": 0.01}
    d = path / model
    d.mkdir(parents=True)
    (d / "results_2026-01-01T00-00-00.json").write_text(json.dumps(
        {"model_name": model, "results": results, "n-samples": n_samples}))
    return results


def test_partial_run_subtasks_weighted_like_the_group_score(tmp_path):
    rng = np.random.default_rng(0)
    files = {m: _partial_run(tmp_path, m, 20, rng) for m in ("a", "b", "c")}
    fs = factor_scores(read_results(tmp_path))
    j = fs.benchmarks.index("BBQ")
    for i, m in enumerate(fs.models):
        assert fs.bench[i, j] == pytest.approx(files[m]["bbq"]["acc,none"], abs=1e-6)
    assert any("evaluated document counts" in n for n in fs.notes)


@pytest.mark.parametrize("p,n", [(0.02, 300), (0.5, 100)])
def test_wilson_covers_at_the_nominal_rate(p, n):
    rng = np.random.default_rng(7)
    k = rng.binomial(n, p, 4000)
    phat = k / n
    lo, hi = bounded_interval(phat, np.sqrt(phat * (1 - phat) / n), norm.ppf(0.975))
    # Where phat is 0 the se is 0 and the interval collapses (counted as a miss if p > 0).
    cover = np.mean((lo <= p) & (p <= hi))
    assert abs(cover - 0.95) < 0.03, cover
