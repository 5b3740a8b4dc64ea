"""Membership-inference scores and their ROC summaries (host-side numpy).

* loss MIA: score = -CE of the true label (members are fitted better);
* explanation MIA (Shokri, Strobel & Zick 2021): score = -variance over features of the gradient
  explanation (members sit where the model is confident, so their input gradients are flatter).

Members and non-members are equal-size samples (training rows vs held-out rows); the AUC is the
Mann-Whitney statistic with ties counted one half (scikit-learn's `roc_auc_score`).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def roc_auc(scores, is_member) -> float:
    """Returns the ROC AUC of `scores` separating members (True) from non-members; ties count 1/2."""
    s = np.asarray(scores, np.float64)
    m = np.asarray(is_member, bool)
    if s.shape != m.shape or s.ndim != 1:
        raise ValueError(f"scores and is_member must be vectors of one length, got {s.shape} and {m.shape}")
    n_pos, n_neg = int(m.sum()), int((~m).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(s)  # average ranks: ties count one half
    return float((ranks[m].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def tpr_at_fpr(scores, is_member, fpr: float = 0.01) -> float:
    """Returns the largest true-positive rate over thresholds whose false-positive rate is <= `fpr`."""
    s = np.asarray(scores, np.float64)
    m = np.asarray(is_member, bool)
    order = np.argsort(-s, kind="stable")
    s, m = s[order], m[order]
    # One ROC point per distinct threshold (the last row of each run of equal scores).
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp, fp = np.cumsum(m)[last], np.cumsum(~m)[last]
    n_pos, n_neg = m.sum(), (~m).sum()
    ok = fp / n_neg <= fpr
    return float(np.max(tp[ok]) / n_pos) if ok.any() else 0.0


def attack_summary(scores, is_member, groups=None) -> dict[str, float]:
    """Returns {"auc", "tpr_at_1fpr"} and, with groups, the per-group AUCs and gap (minority - majority)."""
    out = {"auc": roc_auc(scores, is_member), "tpr_at_1fpr": tpr_at_fpr(scores, is_member, 0.01)}
    if groups is not None:
        g = np.asarray(groups)
        s, m = np.asarray(scores), np.asarray(is_member, bool)
        a0, a1 = roc_auc(s[g == 0], m[g == 0]), roc_auc(s[g == 1], m[g == 1])
        out.update({"auc_majority": a0, "auc_minority": a1, "auc_gap": a1 - a0})
    return out


def loss_scores(per_row_ce) -> np.ndarray:
    """Returns the loss attack's membership scores (higher: more likely a member)."""
    return -np.asarray(per_row_ce, np.float64)


def explanation_scores(gradients) -> np.ndarray:
    """Returns the explanation attack's scores: minus the variance over features of each row's gradient."""
    return -np.var(np.asarray(gradients, np.float64), axis=1)
