"""Tests for sos_jax/judge/diagnostics.py: position bias, baseline provenance, self-family listing."""

import numpy as np

from sos_jax.judge.diagnostics import baseline_check, position_bias, self_family
from sos_jax.judge.judgments import Judgments


def table(codes_g1, codes_g2, models, judge="gpt-4o-2024-08-06", baseline=""):
    n = len(codes_g1)
    return Judgments(
        question_id=np.array([f"q{i}" for i in range(n)] * 2, dtype=object),
        model=np.array(list(models) * 2, dtype=object),
        baseline=np.full(2 * n, baseline, dtype=object),
        game=np.repeat([1, 2], n).astype(np.int8),
        verdict=np.concatenate([codes_g1, codes_g2]).astype(np.int8),
        criteria={},
        judge=np.full(2 * n, judge, dtype=object),
        source="synthetic",
    )


def test_position_bias_counts_mirrors_and_first_shown_wins():
    # Pair 0 mirrors exactly; pair 1: the first-shown answer wins in both orders (pure position bias).
    j = table(np.array([2, 1]), np.array([4, 1]), ["m", "m"])
    pb = position_bias(j)["overall"]
    assert pb["n_pairs"] == 2 and pb["consistent"] == 0.5 and pb["same_winner"] == 0.5
    assert pb["a_share"] == 0.75  # 3 of 4 decisive verdicts favour A
    assert position_bias(j)["per_judge"] == {"gpt-4o-2024-08-06": pb}


def test_baseline_check_flags_a_non_self_match():
    rng = np.random.default_rng(0)
    g1 = rng.choice([1, 2], 100)  # baseline (A) wins game 1
    j = table(g1, 6 - g1, ["gpt-4-0314"] * 100)
    out = baseline_check(j, "gpt-4-0314 (baseline)", "config")
    c = out["contestant_with_baseline_name"]
    assert out["recorded_in_file"] == [] and c["win_share"] == 0.0 and not c["consistent_with_self_match"]
    ties = table(np.full(100, 3), np.full(100, 3), ["gpt-4-0314"] * 100)
    assert baseline_check(ties, "gpt-4-0314 (baseline)", "config")["contestant_with_baseline_name"][
        "consistent_with_self_match"]


def test_self_family_lists_the_judges_family():
    j = table(np.array([4, 2, 4]), np.array([2, 4, 2]), ["gpt-4-0613", "llama-3", "gpt-3.5-turbo"])
    sf = self_family(j)
    assert sf["members"] == ["gpt-3.5-turbo", "gpt-4-0613"]
    assert sf["family"]["win_share"] == 1.0 and sf["others"]["win_share"] == 0.0
    assert self_family(table(np.array([3]), np.array([3]), ["x"], judge="local-judge"))["members"] == []
