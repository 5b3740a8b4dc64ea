"""Battles: judged games turned into weighted pairwise outcomes for Bradley-Terry fitting.

As in arena-hard-auto: each game is a battle between the judged model and its baseline; a strong
verdict (`A>>B`, `B>>A`) counts `weight` times (3 by default), a weak one once, a tie is half a
win for each side; games without a verdict are left out.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sos_jax.judge.judgments import Judgments
from sos_jax.judge.style import style_covariates

# Outcome for the answer shown as B, indexed by verdict code 1..5 (index 0 = missing).
_B_WINS = np.array([np.nan, 0.0, 0.0, 0.5, 1.0, 1.0])
_STRONG = np.array([False, True, False, False, False, True])


@dataclasses.dataclass(frozen=True)
class Battles:
    """Unique battles with multiplicities.

    models: names; `a`/`b` index into it. outcome: 1 if a won, 0 if b won, 0.5 for a tie.
    weight: how many battle rows the game stands for (3 for strong verdicts).
    style: (n, 4) raw style covariates of a's answer against b's (see `style.py`), or None.
    """

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    weight: np.ndarray
    question_id: np.ndarray
    style: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.a)

    @property
    def n_rows(self) -> int:
        """Returns the number of battle rows after strong-verdict weighting."""
        return int(self.weight.sum())


def battles_from_judgments(
    judgments: Judgments,
    *,
    baseline: str | None = None,
    criterion: str | None = None,
    weight: int = 3,
) -> Battles:
    """Returns the battles of each judged model against its baseline.

    `criterion` picks a criterion's verdicts instead of the overall one. `baseline` fills rows
    that do not record a baseline. The baseline gets index 0 in `models`.
    """
    if baseline:
        judgments = judgments.with_baseline(baseline)
    if len(judgments) and (judgments.baseline == "").any():
        raise ValueError(
            f"{judgments.source or 'judgments'}: rows without a baseline model; pass baseline=NAME"
        )
    if criterion is None:
        codes = judgments.verdict
    elif criterion in judgments.criteria:
        codes = judgments.criteria[criterion]
    else:
        raise ValueError(
            f"{judgments.source or 'judgments'}: no criterion {criterion!r}; have {sorted(judgments.criteria)}"
        )
    if weight < 1:
        raise ValueError(f"weight must be a positive integer, got {weight}")
    self_play = judgments.model == judgments.baseline
    if self_play.any():
        name = judgments.model[self_play][0]
        raise ValueError(
            f"{judgments.source or 'judgments'}: model {name!r} is judged against itself as baseline; "
            "give the baseline a distinct name (read_judgments(..., baseline=...))"
        )
    keep = codes > 0
    j = judgments.select(keep)
    codes = codes[keep].astype(np.int64)

    names = [baseline] if baseline else []
    names += [m for m in dict.fromkeys(np.concatenate([j.baseline, j.model]).tolist()) if m not in names]
    index = {m: i for i, m in enumerate(names)}
    a = np.array([index[m] for m in j.model], dtype=np.int32)
    b = np.array([index[m] for m in j.baseline], dtype=np.int32)
    b_wins = _B_WINS[codes]
    # Model is B in game 1 and A in game 2.
    outcome = np.where(j.game == 1, b_wins, 1.0 - b_wins)
    w = np.where(_STRONG[codes], float(weight), 1.0)

    style = None
    if j.style_a is not None and j.style_b is not None:
        game1 = (j.game == 1)[:, None]
        model_f = np.where(game1, j.style_b, j.style_a)
        base_f = np.where(game1, j.style_a, j.style_b)
        if np.isnan(model_f).any() or np.isnan(base_f).any():
            bad = int(np.isnan(model_f).any(1).sum() + np.isnan(base_f).any(1).sum())
            raise ValueError(f"{judgments.source or 'judgments'}: {bad} games lack style features")
        style = style_covariates(model_f, base_f)
    return Battles(
        models=tuple(names),
        a=a,
        b=b,
        outcome=outcome.astype(np.float64),
        weight=w,
        question_id=j.question_id,
        style=style,
    )


__all__ = ["Battles", "battles_from_judgments"]
