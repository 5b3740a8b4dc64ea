"""Settings of `launch/sos_analyze.py`: factor normalisation, bootstrap/permutation sizes, judge baseline."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the default analysis settings (override with --config.<field>=...)."""
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
    # Judge Bradley-Terry leaderboards: baseline model name and bootstrap rounds.
    c.judge_baseline = ""
    c.judge_bootstrap = 100
    # No --results and no published anchor tables: how many tiny random models the harness demo runs.
    c.demo_models = 4
    c.seed = 0
    c.plots = True
    return c
