"""Markdown sections of report.md built from the analysis dict alone (what analysis.json holds):
joins, the judge's baseline provenance, style vs substance by game, judge diagnostics and caveats.
"""

from __future__ import annotations

import math
from typing import Any


def _f(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _ci(d: dict, digits: int = 3, key: str = "coef") -> str:
    return f"{_f(d.get(key, d.get('value')), digits)} [{_f(d['ci_low'], digits)}, {_f(d['ci_high'], digits)}]"


def joins_section(joins: dict) -> list[str]:
    """Returns the join audit: per-leaderboard counts both ways, then every joined or near-miss pair."""
    L = ["## Model joins", "",
         "Each leaderboard row is joined to a results model `exact`ly, after `normalised` spelling (case and "
         "punctuation), through the name `map`, or left `unmatched`. The full table is `joins.pairs` in analysis.json.",
         "", "| leaderboard | rows | joined | exact | normalised | map | unmatched rows | results models without a row |",
         "|---|---|---|---|---|---|---|---|"]
    for src, c in joins["counts"].items():
        L.append(f"| {src} | {c['rows']} | {c['joined']} | {c['exact']} | {c['normalised']} | {c['map']} | "
                 f"{c['unmatched']} | {len(c['results_without_partner'])} |")
    L += ["", "| leaderboard | leaderboard name | results model | how |", "|---|---|---|---|"]
    seen = set()
    for p in joins["pairs"]:
        if p["how"] == "unmatched" and not p.get("near"):
            continue
        key = (p["name"], p["results_model"], p["how"])
        if p["leaderboard"].startswith("judge BT criterion") and key in seen:
            continue  # the criterion boards repeat the plain board's names
        seen.add(key)
        partner = p["results_model"] or f"none (similar: {', '.join(p['near'])})"
        L.append(f"| {p['leaderboard']} | {p['name']} | {partner} | {p['how']} |")
    return L + [""]


def baseline_section(judge: dict) -> list[str]:
    """Returns where the judge's baseline label and contestant labels come from, and the self-match check."""
    b = judge.get("baseline_provenance") or {}
    L = ["### Labels", "",
         f"- Contestant labels are the `model` column of {judge['source']}.",
         f"- Baseline label {b.get('label')!r} comes from {b.get('label_source')}; the file records "
         + (f"{b['recorded_in_file']}." if b.get("recorded_in_file") else "no baseline.")]
    c = b.get("contestant_with_baseline_name")
    if c:
        L.append(f"- Self-match check: contestant {c['model']!r} wins {_f(100 * c['win_share'], 1)}% of its "
                 f"{c['games']} games against the baseline, {_f(100 * c['tie_share'], 0)}% ties: {c['verdict']}.")
    return L + [""]


def substance_section(sub: dict) -> list[str]:
    """Returns the within-game and game-term style-vs-substance tables."""
    crit = sub["criteria"]
    lvl = int(round(100 * sub["level"]))
    L = ["### Style vs substance, within game", "",
         "Games 1 and 2 swap the A/B answers, so the verdict codes change meaning between them; the regression of "
         "the overall verdict on the criterion verdicts (all z-scored, per-SD coefficients) is fitted within each "
         "game, and pooled with a game term. "
         f"{lvl}% CIs: {sub['resampling']} ({sub['n_bootstrap']} rounds over {sub['n_questions']} questions).", "",
         "| fit | rows | R^2 | " + " | ".join(crit) + " |", "|" + "---|" * (3 + len(crit))]
    for w in sub["within_game"]:
        L.append(f"| game {w['game']} | {w['n_rows']} | {_ci(w['r2_ci'])} | "
                 + " | ".join(_ci(w["coefficients"][c]) for c in crit) + " |")
    g = sub["pooled_with_game_term"]
    L.append(f"| pooled + game term | {g['n_rows']} | within {_ci(g['r2_within_ci'])} (with game {_f(g['r2'])}) | "
             + " | ".join(_ci(g["coefficients"][c]) for c in crit) + " |")
    p = sub["pooled_without_game_term"]
    L.append(f"| pooled, no game term (inflated; comparison only) | {p['n_rows']} | {_f(p['r2'])} | "
             + " | ".join(_f(p["coefficients"][c]["coef"]) for c in crit) + " |")
    L += ["", f"Game term (mean verdict shift of game 2 over game 1 not explained by the criteria, in verdict codes): "
          f"{_ci(g['game_coef'])}.", ""]
    return L


def diagnostics_section(judge: dict) -> list[str]:
    """Returns the position-bias and self-family diagnostics."""
    pb = judge.get("position_bias") or {}
    o = pb.get("overall") or {}
    L = ["### Position bias and self-family preference", ""]
    if o.get("n_pairs"):
        L += [f"Over {o['n_pairs']} (question, model) pairs judged in both orders: verdicts mirror exactly in "
              f"{_f(100 * o['consistent'], 1)}%, name the same winner in {_f(100 * o['same_winner'], 1)}%; the answer "
              f"shown first wins {_f(100 * o['a_share'], 1)}% of decisive verdicts (50% = no position bias).", "",
              "| model | pairs | mirrored | same winner | first-shown wins |", "|---|---|---|---|---|"]
        for m, s in pb["per_model"].items():
            L.append(f"| {m} | {s['n_pairs']} | {_f(s['consistent'], 3)} | {_f(s['same_winner'], 3)} | "
                     f"{_f(s['a_share'], 3)} |")
        L.append("")
    sf = judge.get("self_family") or {}
    if sf.get("members"):
        L += [f"Judge {sf['judge']}: its family's contestants ({', '.join(sf['members'])}) win "
              f"{_f(100 * sf['family']['win_share'], 1)}% of games (others {_f(100 * sf['others']['win_share'], 1)}%); "
              f"{sf['note']}.", ""]
    elif sf:
        L += [f"Self-family check: {sf.get('note')}.", ""]
    return L


def caveats_section(items: list[str]) -> list[str]:
    """Returns the caveats as a bulleted section (nothing when there are none)."""
    return ["## Caveats", ""] + [f"- {c}" for c in items] + [""] if items else []


__all__ = ["baseline_section", "caveats_section", "diagnostics_section", "joins_section", "substance_section"]
