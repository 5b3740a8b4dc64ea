"""Log-probability verdicts: the judge's verdict read from its label probabilities, not its prose.

Small judges rarely finish a free-form judgment with a well-formed `[[label]]` (SmolLM2-135M: 0 of
8 demo games). Here the judge prompt is followed by the start of the verdict line the prompt asks
for (`My final verdict is: [[`, or `Correctness: ((` for a criterion), and each of the five labels
(with its closing brackets) is scored by loglikelihood; a softmax over the five gives the label
probabilities, and the most probable label is the verdict, so every game gets one. All the
requests of a batch go to the LM in one `loglikelihood` call: the engine scores requests that share
the long judge prompt together.

The probabilities also give an expected outcome per game (P(B wins) = P(B>A) + P(B>>A) +
P(A=B) / 2 for the answer shown as B), which `expected_score_battles` turns into soft-outcome
battles for the Bradley-Terry fit.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from sos_jax.judge.battles import Battles, battles_from_judgments
from sos_jax.judge.judgments import judgments_from_records
from sos_jax.judge.verdicts import CRITERIA, LABELS

# What follows the judge prompt before the label: the verdict lines the prompts ask for.
VERDICT_PREFIX = "My final verdict is: [["
VERDICT_SUFFIX = "]]"
CRITERION_SUFFIX = "))"

# P(answer B wins) per label, in LABELS order (A>>B, A>B, A=B, B>A, B>>A).
_B_WIN = np.array([0.0, 0.0, 0.5, 1.0, 1.0])


class ScoringLM(Protocol):
    """What log-probability verdicts need from the judge model (matches `sos_jax.engine.Engine`)."""

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]: ...


def criterion_prefix(criterion: str) -> str:
    """Returns the start of a criterion's verdict line, as the multi-criteria prompt spells it."""
    return f"{criterion.capitalize()}: (("


def _softmax(ll: np.ndarray) -> np.ndarray:
    z = np.exp(ll - ll.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class LabelVerdict:
    """Label probabilities of one game: overall and per criterion (empty unless multi-criteria)."""

    probs: dict[str, float]
    criteria_probs: dict[str, dict[str, float]]

    @property
    def label(self) -> str:
        """Returns the most probable overall label."""
        return max(self.probs, key=self.probs.get)

    @property
    def criteria(self) -> dict[str, str]:
        """Returns the most probable label per criterion."""
        return {c: max(p, key=p.get) for c, p in self.criteria_probs.items()}


def label_verdicts(lm: ScoringLM, prompts: Sequence[str], criteria: Sequence[str] = ()) -> list[LabelVerdict]:
    """Returns the label probabilities for each rendered judge prompt (one `loglikelihood` call).

    `prompts` end where the judge's reply starts (after the chat template's assistant header).
    `criteria` (e.g. `verdicts.CRITERIA` for the multi-criteria prompt) adds one verdict per criterion.
    """
    lines = [(VERDICT_PREFIX, VERDICT_SUFFIX)] + [(criterion_prefix(c), CRITERION_SUFFIX) for c in criteria]
    requests = [(p + prefix, label + suffix) for p in prompts for prefix, suffix in lines for label in LABELS]
    scores = lm.loglikelihood(requests)
    if len(scores) != len(requests):
        raise RuntimeError(f"judge LM returned {len(scores)} loglikelihoods for {len(requests)} requests")
    ll = np.asarray([s[0] for s in scores], np.float64).reshape(len(prompts), len(lines), len(LABELS))
    probs = _softmax(ll)
    out = []
    for row in probs:
        as_dict = [dict(zip(LABELS, map(float, r))) for r in row]
        out.append(LabelVerdict(probs=as_dict[0], criteria_probs=dict(zip(criteria, as_dict[1:]))))
    return out


def expected_b_win(probs: Mapping[str, float]) -> float:
    """Returns P(answer B wins) + P(tie) / 2 under the label probabilities `probs`."""
    return float(sum(_B_WIN[i] * float(probs.get(label, 0.0)) for i, label in enumerate(LABELS)))


def expected_score_battles(records: Sequence[Mapping[str, Any]], *, baseline: str = "") -> Battles:
    """Returns one battle per judged game whose outcome is the model's expected score.

    The expected score comes from the recorded `label_probs` (a tie counts half), oriented like
    `battles_from_judgments` (the model is B in game 1, A in game 2); every game weighs 1, as
    the strong-verdict weighting has no meaning for an expectation. Records without
    `label_probs` raise ValueError.
    """
    for i, rec in enumerate(records):
        if not isinstance(rec.get("label_probs"), Mapping):
            raise ValueError(f"judgment record {i + 1} has no 'label_probs' (judge with verdicts='logprob' or 'both')")
    # Rows come out in record order: every logprob record has a verdict, so none is dropped.
    records = [{**r, "score": max(r["label_probs"], key=r["label_probs"].get)} for r in records]
    battles = battles_from_judgments(judgments_from_records(records), baseline=baseline or None)
    b_win = np.array([expected_b_win(r["label_probs"]) for r in records])
    game = np.array([int(r.get("game", 1)) for r in records])
    outcome = np.where(game == 1, b_win, 1.0 - b_win)
    return dataclasses.replace(battles, outcome=outcome, weight=np.ones(len(records)))


def agreement(records: Sequence[Mapping[str, Any]]) -> tuple[float | None, int]:
    """Returns (fraction of games where the log-probability and free-generation verdicts agree, games compared).

    Only games judged both ways with a well-formed generated verdict count; the fraction is None
    when there are none.
    """
    pairs = [(r["score"], r["generated_score"]) for r in records
             if r.get("label_probs") is not None and r.get("generated_score")]
    if not pairs:
        return None, 0
    return sum(a == b for a, b in pairs) / len(pairs), len(pairs)


__all__ = ["CRITERIA", "LabelVerdict", "ScoringLM", "agreement", "expected_b_win", "expected_score_battles",
           "label_verdicts"]
