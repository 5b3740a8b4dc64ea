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


def methods_section(judge: dict) -> list[str]:
    """Returns the judge methods side by side: BT (tie = half), sandwich CI, Davidson, LC; and the null probe."""
    meth = judge.get("methods") or {}
    plain = (judge.get("leaderboards") or {}).get("plain")
    if not meth or not plain:
        return []
    dav = {r["model"]: r for r in meth["davidson"]["models"]}
    sw = {r["model"]: r for r in meth["sandwich"]["models"]}
    lc = (meth.get("length_controlled") or {}).get("models", {})
    lvl = int(round(100 * meth["sandwich"]["level"]))
    L = ["### Judge methods compared", "",
         f"BT with a tie as half a win (bootstrap CI over battle rows, as above); the same fit with sandwich "
         f"(closed-form) {lvl}% intervals clustered by question; Davidson's ties model (score = 100 (P(win) + "
         f"P(tie)/2), nu = {_f(meth['davidson']['nu'])}); AlpacaEval-2-style length-controlled win rate where answer "
         "lengths are known.", "",
         "| model | BT score [bootstrap CI] | sandwich CI | Davidson score [CI] | P(tie) | LC win rate |",
         "|---|---|---|---|---|---|"]
    for r in plain["models"]:
        m = r["model"]
        d, s = dav.get(m, {}), sw.get(m, {})
        L.append(f"| {m} | {_f(r['score'], 1)} [{_f(r['ci_low'], 1)}, {_f(r['ci_high'], 1)}] | "
                 f"[{_f(s.get('ci_low'), 1)}, {_f(s.get('ci_high'), 1)}] | "
                 f"{_f(d.get('score'), 1)} [{_f(d.get('ci_low'), 1)}, {_f(d.get('ci_high'), 1)}] | "
                 f"{_f(d.get('p_tie'), 3)} | {_f(lc.get(m, {}).get('lc_win_rate'), 1)} |")
    n = judge.get("null_probe") or {}
    pub = n.get("published", {})
    L += ["", f"Null-answer probe (a constant, content-free answer; published attack: {pub.get('arena_hard_auto_score')} "
          f"on Arena-Hard-Auto, {pub.get('alpaca_eval_2_lc_win_rate')}% LC on AlpacaEval 2): "
          + (f"this judge scores it {_f(n['score'], 1)} [{_f(n['ci_low'], 1)}, {_f(n['ci_high'], 1)}]."
             if n.get("measured") else f"{n.get('note')}."), ""]
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


def post_training_section(pt: dict, normalization: str) -> list[str]:
    """Returns the post-training attribution: stage effects, the SFT-vs-PO claim tested, data scale."""
    lvl = int(round(100 * pt["level"]))
    st = pt["stage_effects"]
    names = list(next(iter(st.values()))["effects"]) if st else []
    L = ["## Post-training: SFT vs preference optimisation", "",
         f"Effects in factor-score units ({normalization}): SFT = SFT model - its base, PO = PO model - its SFT parent "
         f"(pairs from the model-metadata table, {pt['metadata_models']} models). {pt['method']}.", "",
         "| stage | pairs | " + " | ".join(f"{f} mean effect [{lvl}% CI]" for f in names) + " |",
         "|" + "---|" * (2 + len(names))]
    for stage, e in st.items():
        L.append(f"| {stage.upper()} | {e['n_pairs']} | " + " | ".join(
            f"{_f(e['effects'][f]['mean'])} [{_f(e['effects'][f]['ci_low'])}, {_f(e['effects'][f]['ci_high'])}]"
            for f in names) + " |")
    if pt["sft_vs_po"]:
        L += ["", "**The published claim, tested** (SFT moves the factors more than PO): mean |SFT effect| - mean "
              f"|PO effect|, {lvl}% bootstrap CI:", ""]
        for f, c in pt["sft_vs_po"].items():
            L.append(f"- {f}: {_f(c['sft_minus_po_mean_abs'])} [{_f(c['ci_low'])}, {_f(c['ci_high'])}]: {c['claim']}")
    if pt["scale"]:
        n = next(iter(pt["scale"].values()))["n"]
        L += ["", f"**Data scale**: SFT effect against log10(SFT examples) over the {n} SFT pairs with a documented "
              "size (slope per tenfold more data, bootstrap CI over models; Spearman with permutation p):", ""]
        for f, c in pt["scale"].items():
            L.append(f"- {f}: slope {_f(c['slope_per_decade'])} [{_f(c['ci_low'])}, {_f(c['ci_high'])}], "
                     f"Spearman {_f(c['spearman'], 2)} (p = {c['p_permutation']:.2g})")
        L += ["", "Sizes used: " + ", ".join(f"{m['model']} {m['n_examples']:,}" for m in pt["scale_models"]) + "."]
        lev = pt.get("scale_max_leverage")
        if lev and lev["leverage"] > 0.5:
            L.append(f"With {n} pairs this is a weak test, and {lev['model']} alone carries leverage "
                     f"{lev['leverage']:.2f} of the slope (its size is far from the others), so the bootstrap "
                     "interval of the slope is unstable.")
    L += ["", f"Diversity: {pt['diversity']}."]
    uncertain = [p["model"] for p in pt["pairs"] if not p["base_certain"]]
    if uncertain:
        L.append(f"Base version assumed (not stated) for {len(uncertain)} SFT model(s): {', '.join(uncertain)}.")
    if pt["skipped"]:
        L.append("Left out: " + "; ".join(f"{s['model']} ({s['why']})" for s in pt["skipped"]) + ".")
    L += ["", "| model | stage | parent | " + " | ".join(names) + " |", "|" + "---|" * (3 + len(names))]
    for p in pt["pairs"]:
        L.append(f"| {p['model']} | {p['stage']} | {p['parent']} | " + " | ".join(
            f"{_f(p['effects'][f]['value'])} [{_f(p['effects'][f]['ci_low'])}, {_f(p['effects'][f]['ci_high'])}]"
            for f in names) + " |")
    return L + [""]


def caveats_section(items: list[str]) -> list[str]:
    """Returns the caveats as a bulleted section (nothing when there are none)."""
    return ["## Caveats", ""] + [f"- {c}" for c in items] + [""] if items else []


__all__ = ["baseline_section", "caveats_section", "diagnostics_section", "joins_section", "methods_section",
           "post_training_section",
           "substance_section"]
