"""Caveats the report must state, computed from the data rather than written by hand.

Each check returns plain sentences: factors whose spread across models is small next to their
own CIs, results rows that are near-copies of each other (a possible mislabel), joins that left
rows unmatched or ambiguous, small-n correlation rows, uncorrected against corrected p-values,
separated judge models, a pooled style regression against its within-game fits, and the judge
baseline's provenance.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sos_jax.analysis.ingest import ModelResults


def factor_spread(scores) -> list[str]:
    """Returns a caveat per factor whose SD across models is below its median CI width."""
    out = []
    for j, f in enumerate(scores.factors):
        v = scores.factor[:, j]
        ok = np.isfinite(v)
        if ok.sum() < 3:
            continue
        sd = float(np.std(v[ok], ddof=1))
        width = float(np.nanmedian(scores.factor_hi[ok, j] - scores.factor_lo[ok, j]))
        if sd < width:
            out.append(f"{f} varies little across models: SD {sd:.3f} against a median {int(100 * scores.level)}% "
                       f"CI width of {width:.3f}, so its ranks and correlations rest on differences within noise.")
    return out


def near_duplicates(results: Sequence[ModelResults], tol: float = 0.008) -> list[str]:
    """Returns a caveat per pair of results rows whose shared metrics differ by < `tol` on average."""
    out = []
    rs = list(results)
    for i in range(len(rs)):
        for k in range(i + 1, len(rs)):
            shared = sorted(set(rs[i].scores) & set(rs[k].scores))
            if len(shared) < 10:
                continue
            d = np.abs(np.array([rs[i].scores[m] - rs[k].scores[m] for m in shared]))
            if d.mean() < tol:
                out.append(f"results rows {rs[i].model!r} and {rs[k].model!r} are near-copies (mean absolute "
                           f"difference {d.mean():.4f}, max {d.max():.3f} over {len(shared)} metrics): one may be "
                           "mislabelled.")
    return out


def join_caveats(joins: dict) -> list[str]:
    """Returns caveats on unmatched and possibly ambiguous joins."""
    out = []
    for src, c in joins["counts"].items():
        # The per-criterion judge boards hold the plain board's models: one caveat covers them.
        if c["results_without_partner"] and not src.startswith("judge BT criterion"):
            out.append(f"{len(c['results_without_partner'])} results model(s) have no row in `{src}` and are left "
                       f"out of its correlations: {', '.join(c['results_without_partner'][:8])}"
                       + (" ..." if len(c["results_without_partner"]) > 8 else "") + ".")
    near = [p for p in joins["pairs"] if p["how"] == "unmatched" and p.get("near")]
    if near:
        shown = "; ".join(f"`{p['leaderboard']}` {p['name']!r} ~ {', '.join(p['near'])}" for p in near[:8])
        out.append(f"{len(near)} unmatched leaderboard row(s) have similarly spelled results models and were not "
                   f"joined (ambiguous; add them to the name map only if they are the same run): {shown}"
                   + (" ..." if len(near) > 8 else "") + ".")
    return out


def correlation_caveats(correlations: list[dict], small_n: int) -> list[str]:
    """Returns caveats on small-n rows and on how many cells survive the multiple-comparison corrections."""
    out = []
    small = sorted({f"{r['leaderboard']}" for r in correlations if r["n"] < small_n})
    if small:
        ns = sorted({r["n"] for r in correlations if r["n"] < small_n})
        out.append(f"Correlations with fewer than {small_n} models ({', '.join(small)}; n = "
                   f"{', '.join(map(str, ns))}) have CIs spanning most of [-1, 1]; treat them as descriptive.")
    ps = [(r["p"], r["p_holm"], r["p_bh"]) for r in correlations if r.get("p") is not None]
    if ps:
        raw = sum(p < 0.05 for p, _, _ in ps)
        h = sum(q is not None and q < 0.05 for _, q, _ in ps)
        b = sum(q is not None and q < 0.05 for _, _, q in ps)
        out.append(f"Uncorrected permutation p < 0.05 in {raw} of {len(ps)} cells; after Holm {h}, after "
                   f"Benjamini-Hochberg {b}. The table's `p` is uncorrected; use the adjusted columns for claims.")
    return out


def judge_caveats(judge: dict[str, Any] | None) -> list[str]:
    """Returns caveats on separated models, the pooled style regression and the baseline label."""
    if not judge:
        return []
    out = []
    sep = judge.get("separated") or {}
    for board, models in sep.items():
        if models:
            out.append(f"Judge BT ({board}): {', '.join(models)} never won a game, so its BT rating is -inf (no "
                       "finite maximum-likelihood estimate); excluded from the correlations.")
    sub = judge.get("substance") or {}
    if sub.get("within_game"):
        r2s = ", ".join(f"{w['r2']:.3f}" for w in sub["within_game"])
        pooled = (sub.get("pooled_without_game_term") or {}).get("r2")
        out.append(f"The two games swap the A/B answers: the style regression pooled without a game term has R^2 "
                   f"{pooled:.3f}, against {r2s} within game; use the within-game fits.")
    b = judge.get("baseline_provenance") or {}
    c = b.get("contestant_with_baseline_name")
    if c and not c["consistent_with_self_match"]:
        out.append(f"Baseline label {b['label']!r} comes from {b['label_source']}; the file records "
                   f"{'no baseline' if not b['recorded_in_file'] else b['recorded_in_file']}. The contestant "
                   f"{c['model']!r} wins {100 * c['win_share']:.1f}% against it with {100 * c['tie_share']:.0f}% ties, "
                   "which is not a self-match: the baseline's identity is unverified.")
    return out


__all__ = ["correlation_caveats", "factor_spread", "join_caveats", "judge_caveats", "near_duplicates"]
