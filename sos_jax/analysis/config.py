"""The analysis settings `report.analyze(config, workdir, inputs)` reads, as an `ml_collections.ConfigDict`.

Imports only ml_collections, so config files (`configs/sos/analyze.py`) build on it cheaply.
"""

from __future__ import annotations

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    """Returns the default analysis settings (a launcher overrides them with --config.<field>=...)."""
    c = ml_collections.ConfigDict()
    # Across-model normalisation of benchmark scores before averaging: raw | zscore | rank.
    c.normalization = "raw"
    # Bootstrap rounds for factor CIs (per-question logs, or stderr simulation for zscore/rank).
    c.n_bootstrap = 1000
    # Bootstrap resamples of models for correlation CIs, and permutations for their p-values.
    c.n_corr_bootstrap = 2000
    c.n_permutations = 10000
    c.level = 0.95
    c.methods = ("pearson", "spearman", "kendall")
    c.heatmap_method = "spearman"
    # Leaderboard columns to correlate: "primary" (Arena-Hard score, LiveBench average) or "all".
    c.leaderboard_columns = "primary"
    # Judge Bradley-Terry leaderboards: baseline model name ("" = the one the judgments record)
    # and bootstrap rounds.
    c.judge_baseline = ""
    c.judge_bootstrap = 100
    c.seed = 0
    c.plots = True
    return c
