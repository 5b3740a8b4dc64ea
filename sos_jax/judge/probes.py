"""The null-answer probe: a constant, content-free answer put through the judge like a model.

Zheng et al. (2024, "Cheating Automatic LLM Benchmarks: Null Models Achieve High Win Rates")
showed a "null model" that returns one constant response to every question scoring 83.0 on
Arena-Hard-Auto and 86.5% LC win rate on AlpacaEval 2 against GPT-4 judges (their response was
crafted to manipulate the judge template). This probe is the plain version: the same polite,
content-free sentence for every question, judged against the baseline in both orders. A judge that
rates it near 0 is not fooled by form alone; the report prints where this judge puts it.
"""

from __future__ import annotations

from typing import Any, Mapping

NULL_MODEL = "null-answer"
NULL_ANSWER = "Thank you for your question. I have considered it carefully, and here is my answer."
PUBLISHED = {"arena_hard_auto_score": 83.0, "alpaca_eval_2_lc_win_rate": 86.5}


def with_null_answer(questions: Mapping[str, str], answers: Mapping[str, Mapping[str, str]],
                     text: str = NULL_ANSWER) -> dict[str, dict[str, str]]:
    """Returns `answers` plus the null model answering every question with `text`."""
    if NULL_MODEL in answers:
        raise ValueError(f"answers already hold a model named {NULL_MODEL!r}")
    return {**{m: dict(a) for m, a in answers.items()}, NULL_MODEL: {q: text for q in questions}}


def null_probe_summary(leaderboard: Any | None) -> dict[str, Any]:
    """Returns how the judge rated the null model in a BT leaderboard (or that it was not measured)."""
    if leaderboard is None or NULL_MODEL not in leaderboard.models:
        return {"measured": False, "published": PUBLISHED,
                "note": (f"not measured: the judgments hold no {NULL_MODEL!r} games (run the local judge with "
                         "config.null_probe=True)")}
    i = leaderboard.models.index(NULL_MODEL)
    return {"measured": True, "published": PUBLISHED, "score": float(leaderboard.score[i]),
            "ci_low": float(leaderboard.ci_low[i]), "ci_high": float(leaderboard.ci_high[i]),
            "note": "score = 100 x predicted win rate of the constant answer against the baseline"}


__all__ = ["NULL_ANSWER", "NULL_MODEL", "PUBLISHED", "null_probe_summary", "with_null_answer"]
