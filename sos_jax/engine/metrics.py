"""Multiple-choice metrics computed from per-choice loglikelihoods, as lm-eval's tasks do.

Follows `ConfigurableTask.process_results` for `output_type: multiple_choice` in lm-eval 0.4.13:
`acc` takes the arg-max loglikelihood, `acc_norm` divides each by its choice's length in
characters, `acc_bytes` by its length in UTF-8 bytes; ties go to the first choice (np.argmax).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def multiple_choice_metrics(
    choice_loglikelihoods: Sequence[float] | Sequence[tuple[float, bool]],
    choices: Sequence[str],
    gold: int | Sequence[int],
) -> dict:
    """Returns acc, acc_norm, acc_bytes, exact_match, the predictions and per-choice log-probs.

    `choice_loglikelihoods` holds one loglikelihood per choice, or the engine's (ll, is_greedy)
    pairs. `choices` are the choice strings without the target delimiter (lm-eval measures those).
    `gold` is the index of the right choice, or a list of indices when several are right.
    """
    if len(choices) == 0:
        raise ValueError("multiple_choice_metrics: `choices` is empty")
    if len(choice_loglikelihoods) != len(choices):
        raise ValueError(
            f"multiple_choice_metrics: {len(choice_loglikelihoods)} loglikelihoods for {len(choices)} choices"
        )
    if isinstance(choice_loglikelihoods[0], (tuple, list)):
        lls = np.array([float(x[0]) for x in choice_loglikelihoods])
        is_greedy = [bool(x[1]) for x in choice_loglikelihoods]
    else:
        lls = np.array([float(x) for x in choice_loglikelihoods])
        is_greedy = [False] * len(choices)
    if not np.all(np.isfinite(lls)):
        raise ValueError(f"multiple_choice_metrics: non-finite loglikelihoods {lls.tolist()}")
    char_len = np.array([float(len(c)) for c in choices])
    byte_len = np.array([float(len(c.encode("utf-8"))) for c in choices])
    if np.any(char_len == 0):
        raise ValueError("multiple_choice_metrics: a choice is the empty string, so acc_norm is undefined")

    golds = [int(gold)] if isinstance(gold, (int, np.integer)) else [int(g) for g in gold]
    if not golds or any(g < 0 or g >= len(choices) for g in golds):
        raise ValueError(f"multiple_choice_metrics: gold {gold!r} is not an index into {len(choices)} choices")

    pred = int(np.argmax(lls))
    pred_norm = int(np.argmax(lls / char_len))
    pred_bytes = int(np.argmax(lls / byte_len))
    return {
        "acc": float(pred in golds),
        "acc_norm": float(pred_norm in golds),
        "acc_bytes": float(pred_bytes in golds),
        "exact_match": float(any(is_greedy[g] for g in golds)),
        "pred": pred,
        "pred_norm": pred_norm,
        "pred_bytes": pred_bytes,
        "choice_logprobs": lls.tolist(),
    }
