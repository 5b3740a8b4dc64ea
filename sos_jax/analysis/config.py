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


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Returns `config` after checking every analysis setting; raises `jaxrun.checks.ConfigError`
    naming the first bad field, its value and what is allowed (before any input is read)."""
    from jaxrun.checks import ConfigError, check_choice, check_float, check_int, unknown_fields
    from sos_jax.analysis.correlations import METHODS
    from sos_jax.analysis.factors import NORMALIZATIONS

    reference = base_config().to_dict()
    extra = {k: v for k, v in config.to_dict().items() if k not in ("demo_models",)}  # the launcher's own
    unknown = unknown_fields(extra, reference)
    if unknown:
        raise ConfigError(f"config: unknown field {unknown[0]}")
    check_choice("config.normalization", config.normalization, NORMALIZATIONS)
    for field in ("n_bootstrap", "n_corr_bootstrap", "n_permutations"):
        check_int(f"config.{field}", config[field], minimum=1)
    check_int("config.judge_bootstrap", config.judge_bootstrap, minimum=0)
    check_float("config.level", config.level, minimum=0.0, maximum=1.0, open_min=True)
    if config.level >= 1.0:
        raise ConfigError(f"config.level={config.level!r}: must be < 1 (a confidence level, e.g. 0.95)")
    methods = list(config.methods)
    if not methods:
        raise ConfigError(f"config.methods is empty: expected some of {', '.join(METHODS)}")
    for i, m in enumerate(methods):
        check_choice(f"config.methods[{i}]", m, METHODS)
    check_choice("config.heatmap_method", config.heatmap_method, methods)
    if isinstance(config.leaderboard_columns, str):
        check_choice("config.leaderboard_columns", config.leaderboard_columns, ("primary", "all"))
    check_int("config.seed", config.seed)
    if "demo_models" in config:
        check_int("config.demo_models", config.demo_models, minimum=2)
    return config
