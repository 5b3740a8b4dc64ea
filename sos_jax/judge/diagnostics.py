"""Judge diagnostics that need no second judge: where the baseline label comes from (and whether
the data agree with it), position bias, and preference for the judge's own model family.

* `baseline_check`: the file may not record the baseline (the SOS multifactor CSV does not), so
  its label comes from the config. When a contestant has the baseline's name, its games are a
  self-match and should give about 50% with many ties; a far-off score says the label is wrong.
* `position_bias`: every (question, model) is judged in both orders (game 1: baseline is A, game
  2: model is A). `consistent` is the share of pairs whose two verdicts mirror each other exactly
  (code_1 == 6 - code_2), `same_winner` the share naming the same winner (or a tie) in both
  orders, and `a_share` the share of decisive verdicts won by the answer shown first, pooled over
  both orders, where a judge without position bias gives 0.5 because each answer is shown first
  once.
* `self_family`: models whose names share the judge's vendor prefix (gpt-4o judges gpt-*). With
  one judge a family preference cannot be told apart from quality; this lists them and their
  position-consistency and win share next to the others, and says so.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from sos_jax.judge.judgments import Judgments

# Judge name prefix -> the model-name pattern of its family.
FAMILIES = {"gpt-": r"^(openai/)?(gpt-|o\d)", "claude": r"^(anthropic/)?claude", "gemini": r"^(google/)?gemini",
            "llama": r"llama", "qwen": r"qwen", "mistral": r"mistral"}


def _pairs(j: Judgments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (model, code in game 1, code in game 2) for (question, model) pairs with both verdicts."""
    ok = j.verdict > 0
    g1 = {(q, m): v for q, m, g, v, k in zip(j.question_id, j.model, j.game, j.verdict, ok) if k and g == 1}
    out = [(m, v, int(v2)) for (q, m, g, v2, k) in zip(j.question_id, j.model, j.game, j.verdict, ok)
           if k and g == 2 and (q, m) in g1 for v in [int(g1[(q, m)])]]
    if not out:
        return np.zeros(0, object), np.zeros(0, int), np.zeros(0, int)
    m, a, b = zip(*out)
    return np.asarray(m, object), np.asarray(a), np.asarray(b)


def _bias_stats(c1: np.ndarray, c2: np.ndarray) -> dict[str, Any]:
    n = len(c1)
    if n == 0:
        return {"n_pairs": 0, "consistent": None, "same_winner": None, "a_share": None}
    side = lambda c: np.sign(3 - c)  # noqa: E731  +1: A better, -1: B better, 0: tie
    # Game 1 shows the baseline as A, game 2 the model: the same winner means opposite sides.
    same = side(c1) == -side(c2)
    codes = np.concatenate([c1, c2])
    decisive = codes != 3
    return {"n_pairs": int(n), "consistent": float(np.mean(c1 == 6 - c2)), "same_winner": float(np.mean(same)),
            "a_share": float(np.mean(codes[decisive] < 3)) if decisive.any() else None}


def position_bias(judgments: Judgments) -> dict[str, Any]:
    """Returns position-bias statistics overall, per judge and per model (see module doc)."""
    m, c1, c2 = _pairs(judgments)
    per = {str(name): _bias_stats(c1[m == name], c2[m == name]) for name in dict.fromkeys(m.tolist())}
    judges = {str(x) for x in judgments.judge}
    per_judge = {}
    if len(judges) > 1:
        for name in sorted(judges):
            _, j1, j2 = _pairs(judgments.select(judgments.judge == name))
            per_judge[name] = _bias_stats(j1, j2)
    else:
        per_judge = {next(iter(judges), ""): _bias_stats(c1, c2)}
    return {"overall": _bias_stats(c1, c2), "per_judge": per_judge, "per_model": per}


def _win_share(j: Judgments, rows: np.ndarray) -> float | None:
    """Returns the model side's share of wins (ties half) in the selected games."""
    v = j.verdict[rows]
    g = j.game[rows]
    keep = v > 0
    if not keep.any():
        return None
    b_win = np.array([np.nan, 0, 0, 0.5, 1, 1])[v[keep]]
    return float(np.mean(np.where(g[keep] == 1, b_win, 1 - b_win)))


def baseline_check(judgments: Judgments, label: str, label_source: str) -> dict[str, Any]:
    """Returns where the baseline label comes from and whether a same-named contestant agrees.

    `label_source` says where `label` came from (e.g. "config judge_baseline"). The check looks for
    a contestant whose name is the label without a parenthesised suffix (`gpt-4-0314 (baseline)`
    -> `gpt-4-0314`).
    """
    recorded = sorted({b for b in np.asarray(judgments.baseline).tolist() if b})
    base_name = re.sub(r"\s*\(.*\)\s*$", "", label).strip()
    out: dict[str, Any] = {"label": label, "label_source": label_source, "recorded_in_file": recorded,
                           "contestant_with_baseline_name": None}
    rows = judgments.model == base_name
    if base_name and rows.any():
        v = judgments.verdict[rows]
        share = _win_share(judgments, rows)
        ties = float(np.mean(v[v > 0] == 3)) if (v > 0).any() else None
        consistent = share is not None and abs(share - 0.5) < 0.1
        out["contestant_with_baseline_name"] = {
            "model": base_name, "games": int(rows.sum()), "win_share": share, "tie_share": ties,
            "consistent_with_self_match": bool(consistent),
            "verdict": ("a self-match should score about 50% with many ties; this one does" if consistent else
                        "a self-match should score about 50% with many ties; this contestant does not, so the "
                        "file's baseline is probably another model (or other answers) than the label says"),
        }
    return out


def self_family(judgments: Judgments, judge: str | None = None) -> dict[str, Any]:
    """Returns the judge's family members among the contestants and their stats next to the rest."""
    judge = judge or next((str(x) for x in judgments.judge if str(x)), "")
    pattern = next((p for prefix, p in FAMILIES.items() if judge.lower().startswith(prefix)), None)
    if pattern is None:
        return {"judge": judge, "family_pattern": None, "members": [],
                "note": "judge family unknown from its name; no self-family check"}
    is_fam = np.array([bool(re.search(pattern, str(m).lower())) for m in judgments.model])
    members = sorted(set(judgments.model[is_fam].tolist()))
    m, c1, c2 = _pairs(judgments)
    fam_pair = np.array([bool(re.search(pattern, str(x).lower())) for x in m], bool)
    return {
        "judge": judge, "family_pattern": pattern, "members": members,
        "family": {"win_share": _win_share(judgments, is_fam), **_bias_stats(c1[fam_pair], c2[fam_pair])},
        "others": {"win_share": _win_share(judgments, ~is_fam), **_bias_stats(c1[~fam_pair], c2[~fam_pair])},
        "note": ("one judge cannot separate a preference for its own family from those models' quality; "
                 "compare against another judge's verdicts on the same answers"),
    }


__all__ = ["baseline_check", "position_bias", "self_family"]
