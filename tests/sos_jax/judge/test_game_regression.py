"""Tests for sos_jax/judge/game_regression.py: within-game fits equal scikit-learn's; game term; anchor."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

from sos_jax.judge.game_regression import style_vs_substance_by_game
from sos_jax.judge.judgments import Judgments, read_judgments

ANCHOR = (
    Path(__file__).resolve().parents[3].parent
    / "shared/anchors/sos-bench/artifacts/exploded-multifactor-scoring-4o-judge-scores-only.csv"
)
CRITERIA = ("correctness", "completeness", "safety", "conciseness", "style")


def swapped_games(seed=0, n_q=300, n_models=4):
    """Judgments where game 2 mirrors game 1's codes (A/B swapped), with different weights per game."""
    rng = np.random.default_rng(seed)
    n = n_q * n_models
    crit1 = {c: rng.integers(1, 6, n) for c in ("correctness", "style")}
    y1 = np.clip(np.round(0.6 * crit1["correctness"] + 0.2 * crit1["style"] + rng.normal(0, 0.8, n)), 1, 5)
    crit2 = {c: rng.integers(1, 6, n) for c in ("correctness", "style")}
    y2 = np.clip(np.round(0.3 * crit2["correctness"] + 0.5 * crit2["style"] + rng.normal(0, 0.8, n)), 1, 5)
    # Game 2's frame is mirrored: model-better is a high code in game 1 and a low one in game 2.
    crit = {c: np.concatenate([crit1[c], 6 - crit2[c]]) for c in crit1}
    y = np.concatenate([y1, 6 - y2])
    qid = np.tile(np.repeat(np.arange(n_q), n_models), 2)
    return Judgments(
        question_id=np.array([f"q{q}" for q in qid], dtype=object),
        model=np.array([f"m{i % n_models}" for i in range(2 * n)], dtype=object),
        baseline=np.full(2 * n, "base", dtype=object),
        game=np.repeat([1, 2], n).astype(np.int8),
        verdict=y.astype(np.int8),
        criteria={c: v.astype(np.int8) for c, v in crit.items()},
        judge=np.full(2 * n, "j", dtype=object),
        source="synthetic",
    )


def sklearn_fit(j, game, criteria):
    m = j.game == game
    x = np.stack([j.criteria[c][m] for c in criteria], 1).astype(float)
    y = j.verdict[m].astype(float)
    xs = StandardScaler().fit_transform(x)
    ys = (y - y.mean()) / y.std()
    lr = LinearRegression().fit(xs, ys)
    return lr.coef_, lr.score(xs, ys)


def test_within_game_regression_equals_sklearn_on_each_game_subset():
    j = swapped_games()
    res = style_vs_substance_by_game(j, ["correctness", "style"], n_bootstrap=50)
    for fit in res["within_game"]:
        coef, r2 = sklearn_fit(j, fit["game"], ["correctness", "style"])
        ours = [fit["coefficients"][c]["coef"] for c in ("correctness", "style")]
        np.testing.assert_allclose(ours, coef, atol=2e-4)
        assert fit["r2"] == pytest.approx(r2, abs=2e-4)
        for c in ("correctness", "style"):
            d = fit["coefficients"][c]
            assert d["ci_low"] < d["coef"] < d["ci_high"]
    # Planted: game 1 weighs correctness more, game 2 style more; pooling mixes them.
    g1, g2 = (f["coefficients"] for f in res["within_game"])
    assert g1["correctness"]["coef"] > g1["style"]["coef"] and g2["style"]["coef"] > g2["correctness"]["coef"]


def test_game_term_equals_ols_with_a_game_dummy():
    j = swapped_games(seed=3)
    res = style_vs_substance_by_game(j, ["correctness", "style"], n_bootstrap=20)
    x = np.stack([j.criteria[c] for c in ("correctness", "style")], 1).astype(float)
    d = (j.game == 2).astype(float)[:, None]
    y = j.verdict.astype(float)
    lr = LinearRegression().fit(np.hstack([x, d]), y)
    pooled = res["pooled_with_game_term"]
    assert pooled["r2"] == pytest.approx(lr.score(np.hstack([x, d]), y), abs=2e-4)
    assert pooled["game_coef"]["value"] == pytest.approx(lr.coef_[2], abs=2e-3)
    # Coefficients are per SD of the within-game-centred variables.
    cen = lambda v: v - np.where(j.game == 1, v[j.game == 1].mean(), v[j.game == 2].mean())  # noqa: E731
    sx = np.array([cen(x[:, k]).std() for k in range(2)])
    sy = cen(y).std()
    np.testing.assert_allclose([pooled["coefficients"][c]["coef"] for c in ("correctness", "style")],
                               lr.coef_[:2] * sx / sy, atol=2e-4)
    # The game term absorbs the mirrored frame: pooled R^2 without it is far from R^2 within game.
    assert pooled["r2_within"] < pooled["r2"]


def test_bad_input_is_named():
    j = swapped_games()
    with pytest.raises(ValueError, match="no criterion"):
        style_vs_substance_by_game(j, ["nope"])


@pytest.mark.skipif(not ANCHOR.is_file(), reason=f"anchor judgments absent at {ANCHOR} (../shared beside the repo)")
def test_anchor_within_game_numbers():
    j = read_judgments(ANCHOR, baseline="baseline")
    res = style_vs_substance_by_game(j, CRITERIA, n_bootstrap=20)
    r2 = [f["r2"] for f in res["within_game"]]
    np.testing.assert_allclose(r2, [0.786, 0.809], atol=1e-3)
    style = [f["coefficients"]["style"]["coef"] for f in res["within_game"]]
    np.testing.assert_allclose(style, [0.170, 0.262], atol=1e-3)
    assert res["pooled_without_game_term"]["r2"] == pytest.approx(0.930, abs=1e-3)
    assert 0.786 < res["pooled_with_game_term"]["r2_within"] < 0.809
    coef, r2_ref = sklearn_fit(j.select((j.verdict > 0) & np.all([j.criteria[c] > 0 for c in CRITERIA], 0)), 1, CRITERIA)
    np.testing.assert_allclose([res["within_game"][0]["coefficients"][c]["coef"] for c in CRITERIA], coef, atol=2e-4)
