"""Writes the SOS-Bench analysis report (factor scores, leaderboard correlations, judge BT plots).

    sos-analyze --results=RESULTS[,MORE] [--leaderboards=A.csv,B.csv] [--judgments=J.csv]
                [--name_map=names.yaml] --workdir=DIR [--config=configs/sos/analyze.py]

With no --results it analyses the demo inputs (the published SOS-Bench tables when
../shared/anchors/sos-bench exists, else the harness's demo results).
"""

from __future__ import annotations

import logging

from absl import app, flags
from ml_collections import config_flags

from jaxrun import is_main_process
from launch import common

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", common.config_path("sos", "analyze.py"), "Analysis settings.", lock_config=True)
flags.DEFINE_list("results", [], "lm-eval results JSON files/directories or wide CSV exports.")
flags.DEFINE_list("leaderboards", [], "Leaderboard CSVs (Arena-Hard, LiveBench, or model + score columns).")
flags.DEFINE_string("judgments", None, "Pairwise judgments (.jsonl or SOS multifactor .csv) for BT leaderboards.")
flags.DEFINE_string("name_map", None, "Model-name map (.yaml/.json/.csv).")
flags.DEFINE_string("workdir", "sos_analysis", "Where report.md, analysis.json and plots/ go.")


def main(argv: list[str]) -> None:
    """Runs `sos_jax.analysis.report.analyze` with the flags and config."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from sos_jax.analysis.report import analyze

    c = FLAGS.config
    analyze(
        FLAGS.results or None, FLAGS.workdir, leaderboards=FLAGS.leaderboards, judgments=FLAGS.judgments,
        name_map=FLAGS.name_map, normalization=c.normalization, n_bootstrap=c.n_bootstrap,
        n_corr_bootstrap=c.n_corr_bootstrap, n_permutations=c.n_permutations, level=c.level,
        methods=tuple(c.methods), heatmap_method=c.heatmap_method, judge_baseline=c.judge_baseline,
        judge_bootstrap=c.judge_bootstrap, leaderboard_columns=c.leaderboard_columns, seed=c.seed,
        write=is_main_process(), plots_enabled=c.plots, demo_models=c.demo_models,
    )
    logging.info("report in %s", FLAGS.workdir)


def run() -> None:
    """Console entry point (`sos-analyze`)."""
    app.run(main)


if __name__ == "__main__":
    run()
