"""Tests for sos_jax/judge/substance.py: standardised regression, degenerate-data flags, anchor."""

from pathlib import Path

import numpy as np
import pytest

from sos_jax.judge.judgments import Judgments, read_judgments
from sos_jax.judge.substance import style_vs_substance

ANCHOR = (
    Path(__file__).resolve().parents[3].parent
    / "shared/anchors/sos-bench/artifacts/exploded-multifactor-scoring-4o-judge-scores-only.csv"
)


def table(verdict, criteria, models=None):
    n = len(verdict)
    models = np.array(["m"] * n if models is None else models, dtype=object)
    return Judgments(
        question_id=np.array([f"q{i // 2}" for i in range(n)], dtype=object),
        model=models,
        baseline=np.full(n, "base", dtype=object),
        game=np.array([1 + i % 2 for i in range(n)], dtype=np.int8),
        verdict=np.asarray(verdict, np.int8),
        criteria={k: np.asarray(v, np.int8) for k, v in criteria.items()},
        judge=np.full(n, "j", dtype=object),
        source="synthetic",
    )


def test_standardised_coefficients_match_numpy_ols_and_ci_covers_them():
    rng = np.random.default_rng(0)
    n = 3000
    style = rng.integers(1, 6, n)
    correct = rng.integers(1, 6, n)
    noise = rng.normal(0, 0.7, n)
    overall = np.clip(np.round(0.8 * style + 0.3 * correct - 0.3 + noise), 1, 5).astype(int)
    j = table(overall, {"correctness": correct, "style": style})
    res = style_vs_substance(j, n_bootstrap=200, leaderboards=False)
    x = np.stack([correct, style], 1).astype(float)
    xs = (x - x.mean(0)) / x.std(0)
    ys = (overall - overall.mean()) / overall.std()
    ref = np.linalg.lstsq(xs, ys, rcond=None)[0]
    np.testing.assert_allclose(res.coef, ref, atol=1e-4)
    assert res.criteria == ("correctness", "style")
    assert np.all(res.ci_low < res.coef) and np.all(res.coef < res.ci_high)
    assert res.coef[1] > res.coef[0] > 0  # style dominates, as planted
    assert 0 < res.r2 < 1 and res.n_rows == n
    assert res.flags == [] and res.excluded == {}


def test_flags_degenerate_columns_and_leaves_them_out():
    rng = np.random.default_rng(1)
    n = 400
    overall = rng.integers(1, 6, n)
    style = rng.integers(1, 6, n)
    near = style.copy()
    near[:2] = near[:2] % 5 + 1  # two games differ
    j = table(
        overall,
        {
            "correctness": overall.copy(),           # identical to the overall verdict
            "safety": np.full(n, 3),                 # constant
            "style": style,
            "score_final": near,                     # a near-copy of style
            "conciseness": rng.integers(1, 6, n),
        },
    )
    res = style_vs_substance(j, n_bootstrap=20, leaderboards=False)
    assert res.excluded == {
        "correctness": "identical to overall",
        "safety": "constant",
        "score_final": "nearly identical to style",
    }
    assert res.criteria == ("style", "conciseness")
    assert any(f.startswith("safety: constant column") for f in res.flags)
    assert any(f.startswith("correctness: identical to overall (0 of 400") for f in res.flags)
    assert any(f.startswith("score_final: nearly identical to style (2 of 400") for f in res.flags)
    assert res.agreement["overall"]["correctness"] == 1.0


def test_errors_name_the_problem():
    j = table([3, 3, 3, 3], {"style": [1, 2, 3, 4]})
    with pytest.raises(ValueError, match="overall verdict column is constant"):
        style_vs_substance(j, leaderboards=False)
    with pytest.raises(ValueError, match=r"no criterion column\(s\) \['style2'\]"):
        style_vs_substance(j, criteria=["style2"], leaderboards=False)


def test_anchor_file_style_vs_substance():
    j = read_judgments(ANCHOR, baseline="baseline")
    res = style_vs_substance(j, n_bootstrap=20)
    # score_final is a copy of style_score (MANIFEST.md) and must be caught, not regressed.
    assert res.excluded == {"score_final": "nearly identical to style"}
    assert res.flags == ["score_final: nearly identical to style (3 of 11998 games differ, agreement 0.9997)"]
    assert res.criteria == ("correctness", "completeness", "safety", "conciseness", "style")
    coef = dict(zip(res.criteria, res.coef))
    # Completeness, correctness and style carry the overall verdict; safety and conciseness barely.
    assert coef["completeness"] > coef["style"] > 0.15 and coef["correctness"] > 0.15
    assert abs(coef["safety"]) < 0.1 and abs(coef["conciseness"]) < 0.1
    assert 0.8 < res.r2 < 1
    assert set(res.leaderboards) == {"overall", *j.criteria}
    assert res.correlations["completeness"]["spearman"] > 0.9
    assert res.correlations["style"]["spearman"] > 0.9
    assert res.correlations["style"]["n_models"] == 12
    over = res.leaderboards["overall"]
    assert over.models[0] == "baseline" and over.models[1] == "Magpie-Align/Llama-3-8B-Magpie-Align-v0.2"
    assert res.to_json()["leaderboards"]["style"]["criterion"] == "style"
