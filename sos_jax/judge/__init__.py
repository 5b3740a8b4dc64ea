"""LLM-judge analysis for SOS-Bench: verdict parsing, judgment ingest, Bradley-Terry leaderboards
with bootstrap CIs and style control, the style-vs-substance analysis, and a local pairwise judge.

Public interface (names kept stable for `sos_jax.analysis` and `launch/sos_analyze.py`):
    parse_verdict(text) -> label | None
    read_judgments(path, baseline="") -> Judgments
    battles_from_judgments(judgments, baseline=..., criterion=None) -> Battles
    bt_leaderboard(judgments, baseline=..., style_control=False, n_bootstrap=100, seed=0) -> BTLeaderboard
    style_features(text) -> {token_len, header_count, list_count, bold_count}
    style_vs_substance(judgments, baseline=..., n_bootstrap=100) -> StyleVsSubstance
    JudgeRunner(lm, ...).run(questions, answers, baseline=..., out_path=...)
"""

from sos_jax.judge.battles import Battles, battles_from_judgments
from sos_jax.judge.bradley_terry import BTLeaderboard, bt_leaderboard, fit_battles
from sos_jax.judge.judgments import Judgments, read_judgments
from sos_jax.judge.runner import GenerationLM, JudgeRunner, RunSummary
from sos_jax.judge.style import attach_style, markdown_counts, style_covariates, style_features
from sos_jax.judge.substance import StyleVsSubstance, style_vs_substance
from sos_jax.judge.verdicts import LABELS, parse_criteria, parse_verdict

__all__ = [
    "Battles",
    "GenerationLM",
    "JudgeRunner",
    "Judgments",
    "LABELS",
    "BTLeaderboard",
    "attach_style",
    "battles_from_judgments",
    "bt_leaderboard",
    "fit_battles",
    "markdown_counts",
    "parse_criteria",
    "parse_verdict",
    "read_judgments",
    "RunSummary",
    "StyleVsSubstance",
    "style_covariates",
    "style_features",
    "style_vs_substance",
]
