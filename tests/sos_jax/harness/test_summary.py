"""Tests for sos_jax/harness/summary.py: summary.md grouped by factor, benchmarks computed as the analysis does."""

import numpy as np
import pytest

from sos_jax.analysis.factors import factor_scores
from sos_jax.analysis.ingest import ModelResults
from sos_jax.harness.summary import summary_markdown
from sos_jax.tasks import default_registry
from sos_jax.tasks.suite import WMDP_SIZES


def results(rng, bbq_group=None):
    r = {t: {"acc,none": float(rng.uniform(0.2, 0.8))} for t in WMDP_SIZES}
    r["xstest"] = {"acc,none": 0.5}
    r["leaderboard_ifeval"] = {f"{m},none": float(rng.uniform()) for m in (
        "prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc")}
    r["leaderboard_math_algebra_hard"] = {"exact_match,none": 0.1}
    r["my_custom_task"] = {"acc,none": 0.25}
    return {"results": r}


def test_layout_by_factor_and_values_match_the_analysis():
    rng = np.random.default_rng(0)
    all_results = {"m/a": results(rng), "m/b": results(rng)}
    md = summary_markdown(all_results, default_registry().benchmarks())
    lines = md.splitlines()
    assert lines.index("## IF (instruction following)") < lines.index("## SAFE (safety)")
    assert "| benchmark | m/a | m/b |" in md
    assert "partial 1/7" in md  # MATH-Hard with one subtask: no misleading number
    assert "## Tasks outside the factors" in md and "| my_custom_task/acc | 0.2500 | 0.2500 |" in md
    # Same numbers as the factor analysis' raw benchmark scores.
    mr = [ModelResults(m, "x", {f"{t}/{k.split(',')[0]}": v for t, e in r["results"].items() for k, v in e.items()})
          for m, r in all_results.items()]
    fs = factor_scores(mr)
    for bench in ("IFEval", "WMDP (1-acc)", "xstest"):
        row = next(line for line in lines if line.startswith(f"| {bench}"))
        got = [float(c) for c in row.strip("|").split("|")[1:]]
        np.testing.assert_allclose(got, fs.bench[:, fs.benchmarks.index(bench)], atol=1e-4)


def test_size_weighted_benchmark_shows_the_results_group_score():
    rng = np.random.default_rng(1)
    r = results(rng)
    r["results"]["wmdp"] = {"acc,none": 0.4}
    md = summary_markdown({"m": r}, default_registry().benchmarks())
    row = next(line for line in md.splitlines() if line.startswith("| WMDP"))
    assert float(row.strip("|").split("|")[1]) == pytest.approx(0.6)
