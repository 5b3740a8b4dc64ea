"""The SOS-Bench analysis report: factor scores, leaderboard correlations, judge leaderboards.

`analyze(config, workdir, inputs)` reads the results, leaderboards and judgments named by
`AnalysisInputs`, computes everything with the settings in `config` (`sos_jax.analysis.config`)
and writes `report.md`, `analysis.json` and PNG plots into `workdir` (atomically; only where
`write`). Choosing inputs when none are given (a demo) is the launcher's business.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from jaxrun import atomic_write_json, atomic_write_text
from sos_jax.analysis import plots
from sos_jax.analysis.correlations import CorrelationRow, correlation_table
from sos_jax.analysis.factors import FactorScores, factor_scores, merge_results
from sos_jax.analysis.ingest import Leaderboard, ModelResults, leaderboard_from_scores, read_leaderboard, read_results
from sos_jax.analysis.names import NameMap, join_report, load_name_map

ANCHOR_NAME_MAP = Path(__file__).with_name("anchor_names.yaml")


@dataclass
class AnalysisInputs:
    """What to analyse: results, leaderboards, judgments and the name map (paths or objects).

    `judge_baseline` is the baseline the judgments were made against, used when the config's
    `judge_baseline` is empty; `description` heads the report.
    """

    results: Any
    leaderboards: list = field(default_factory=list)
    judgments: Any = None
    name_map: Any = None
    judge_baseline: str = ""
    description: str = "user-supplied inputs"


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _p(p: float) -> str:
    return "n/a" if p is None or math.isnan(p) else f"{p:.2g}"


def _ci(v, lo, hi, digits=3) -> str:
    return f"{_fmt(v, digits)} [{_fmt(lo, digits)}, {_fmt(hi, digits)}]"


def _bt_panels(judgments, baseline: str, n_bootstrap: int, seed: int, notes: list[str]) -> dict[str, Any]:
    """Returns the judge's BT leaderboards (plain, style-controlled) and its style-vs-substance analysis."""
    from sos_jax.judge import bt_leaderboard, read_judgments, style_vs_substance

    table = read_judgments(judgments, baseline=baseline) if isinstance(judgments, (str, Path)) else judgments
    if not baseline:
        recorded = sorted({b for b in np.asarray(table.baseline).tolist() if b})
        if len(recorded) != 1:
            raise ValueError(f"{table.source or 'judgments'}: name the judge baseline (config judge_baseline); "
                             f"the judgments record {len(recorded)} baseline(s): {recorded[:5]}")
        baseline = recorded[0]
    out: dict[str, Any] = {"source": str(getattr(table, "source", "") or judgments), "baseline": baseline,
                           "leaderboards": {}}
    for label, style in (("plain", False), ("style-controlled", True)):
        try:
            out["leaderboards"][label] = bt_leaderboard(table, baseline=baseline, style_control=style,
                                                        n_bootstrap=n_bootstrap, seed=seed)
        except ValueError as e:
            notes.append(f"BT {label} leaderboard not computed: {e}")
    if getattr(table, "criteria", None):
        try:
            out["style_vs_substance"] = style_vs_substance(table, baseline=baseline, n_bootstrap=n_bootstrap, seed=seed)
        except ValueError as e:
            notes.append(f"style-vs-substance analysis not computed: {e}")
    return out


def analyze(config: Any, workdir: str | Path, inputs: AnalysisInputs, *, write: bool = True) -> dict[str, Any]:
    """Returns the analysis as a dict and writes `report.md`, `analysis.json` and plots to `workdir`.

    `config` holds the settings of `sos_jax.analysis.config.base_config()`. In `inputs`,
    `leaderboards` are CSV paths or `Leaderboard`s; `judgments` a judgments file for the judge's
    Bradley-Terry leaderboards (added to the correlation table); `name_map` a YAML/JSON/CSV path
    or dict. `config.leaderboard_columns`: "primary" (Arena-Hard `score`, LiveBench `average`,
    else the first column), "all", or a mapping leaderboard name -> columns. Only where `write`
    (process 0) are files written.
    """
    t0 = time.perf_counter()
    workdir = Path(workdir)
    c = config
    normalization, n_bootstrap, level, seed = c.normalization, c.n_bootstrap, c.level, c.seed
    methods = tuple(c.methods)
    leaderboard_columns = c.leaderboard_columns
    if isinstance(leaderboard_columns, Mapping):
        leaderboard_columns = {k: list(v) for k, v in leaderboard_columns.items()}
    results, leaderboards, judgments, name_map = inputs.results, inputs.leaderboards, inputs.judgments, inputs.name_map
    judge_baseline = c.judge_baseline or inputs.judge_baseline
    nm = name_map if isinstance(name_map, NameMap) else load_name_map(name_map)
    model_results: list[ModelResults] = (
        list(results) if isinstance(results, (list, tuple)) and results and isinstance(results[0], ModelResults)
        else read_results(results)
    )
    merged = merge_results(model_results, nm)
    notes: list[str] = []
    scores = factor_scores(merged, normalization=normalization, n_bootstrap=n_bootstrap, level=level, seed=seed)
    notes += scores.notes
    nm_joined = nm.extended(scores.models)
    lbs: list[Leaderboard] = [lb if isinstance(lb, Leaderboard) else read_leaderboard(lb) for lb in leaderboards]

    judge_out = None
    if judgments is not None:
        try:
            judge_out = _bt_panels(judgments, judge_baseline, c.judge_bootstrap, seed, notes)
        except ImportError as e:
            notes.append(f"judge leaderboards skipped: sos_jax.judge unavailable ({e})")
        if judge_out:
            boards = {f"judge BT ({k})": v for k, v in judge_out["leaderboards"].items()}
            svs = judge_out.get("style_vs_substance")
            excluded = getattr(svs, "excluded", None) or {}
            for crit, bt in (getattr(svs, "leaderboards", None) or {}).items():
                # "overall" is the plain leaderboard above; excluded criteria are flagged copies.
                if crit != "overall" and crit not in excluded:
                    boards[f"judge BT criterion: {crit}"] = bt
            for name, bt in boards.items():
                keep = [i for i, m in enumerate(bt.models) if m != bt.baseline]
                lbs.append(leaderboard_from_scores(
                    name, [bt.models[i] for i in keep], bt.score[keep], bt.ci_low[keep], bt.ci_high[keep],
                    source=judge_out["source"]))

    joins = join_report(("results", [r.model for r in model_results]), [(lb.name, lb.models) for lb in lbs], nm)
    targets = {f: scores.column(f) for f in scores.factors}
    targets["overall"] = scores.overall
    rows: list[CorrelationRow] = []
    if leaderboard_columns == "all":
        leaderboard_columns = {lb.name: list(lb.columns) for lb in lbs}
    elif leaderboard_columns == "primary":
        leaderboard_columns = None
    elif not isinstance(leaderboard_columns, dict):
        raise ValueError(f"leaderboard_columns must be 'primary', 'all' or a dict, got {leaderboard_columns!r}")
    if lbs:
        rows = correlation_table(lbs, targets, scores.models, name_map=nm_joined, columns=leaderboard_columns,
                                 methods=methods, n_boot=c.n_corr_bootstrap, n_perm=c.n_permutations, level=level,
                                 seed=seed)

    figures: list[str] = []
    if write and c.plots:
        figures = _write_plots(workdir, scores, lbs, rows, targets, nm_joined, judge_out, c.heatmap_method, methods)
    analysis = {
        "inputs": {"description": inputs.description, "results": list(dict.fromkeys(r.source for r in model_results)),
                   "leaderboards": [lb.source for lb in lbs], "judgments": None if judgments is None else str(judgments),
                   "name_map": nm.source},
        "settings": {"normalization": normalization, "n_bootstrap": n_bootstrap, "n_corr_bootstrap": c.n_corr_bootstrap,
                     "n_permutations": c.n_permutations, "level": level, "seed": seed, "methods": list(methods)},
        "joins": joins.to_dict(),
        "factor_scores": scores.to_dict(),
        "correlations": [r.to_dict() for r in rows],
        "judge": None if judge_out is None else {
            "source": judge_out["source"],
            "leaderboards": {k: v.to_json() for k, v in judge_out["leaderboards"].items()},
            "style_vs_substance": _jsonable(judge_out.get("style_vs_substance")),
        },
        "figures": figures,
        "notes": notes,
        "elapsed_s": time.perf_counter() - t0,
    }
    if write:
        atomic_write_json(workdir / "analysis.json", analysis)
        atomic_write_text(workdir / "report.md", render_markdown(analysis, scores, rows, joins, judge_out))
        logging.info("wrote %s and %s", workdir / "report.md", workdir / "analysis.json")
    return analysis


def _jsonable(obj: Any) -> Any:
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def _slug(s: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()


def _write_plots(workdir: Path, scores: FactorScores, lbs: list[Leaderboard], rows: list[CorrelationRow],
                 targets: dict[str, np.ndarray], nm: NameMap, judge_out, heatmap_method: str, methods) -> list[str]:
    from sos_jax.analysis.correlations import aligned

    out = []
    fig_dir = workdir / "plots"
    by_pair = {(r.leaderboard, r.column, r.target): r for r in rows}
    method = heatmap_method if heatmap_method in methods else methods[0]
    for lb in lbs:
        cols = sorted({r.column for r in rows if r.leaderboard == lb.name})
        for col in cols:
            x = aligned(lb, col, scores.models, nm)
            err = None
            if col in lb.ci_low:
                err = (aligned(_ci_board(lb, col, "lo"), col, scores.models, nm),
                       aligned(_ci_board(lb, col, "hi"), col, scores.models, nm))
            stats = {}
            for t in targets:
                r = by_pair.get((lb.name, col, t))
                if r is not None and method in r.stats:
                    c = r.stats[method]
                    stats[t] = (c.r, c.ci_low, c.ci_high, c.p_value)
            p = plots.scatter_row(fig_dir / f"scatter_{_slug(lb.name)}_{_slug(col)}.png", f"{lb.name}: {col}", x, targets,
                                  stats, scores.models, err, method)
            out.append(str(p.relative_to(workdir)))
    if rows:
        row_keys = list(dict.fromkeys((r.leaderboard, r.column) for r in rows))
        tnames = list(targets)
        vals = np.full((len(row_keys), len(tnames)), np.nan)
        pv = np.full_like(vals, np.nan)
        for r in rows:
            i, j = row_keys.index((r.leaderboard, r.column)), tnames.index(r.target)
            if method in r.stats:
                vals[i, j], pv[i, j] = r.stats[method].r, r.stats[method].p_value
        labels = [lb if col in ("score",) else f"{lb}: {col}" for lb, col in row_keys]
        p = plots.heatmap(fig_dir / "correlation_heatmap.png", labels, tnames, vals, pv,
                          f"{method} correlation, leaderboard vs factor (* permutation p < 0.05)")
        out.append(str(p.relative_to(workdir)))
    panels = {
        "overall SOS score": (scores.models, scores.overall, scores.overall_lo, scores.overall_hi),
    }
    p = plots.forest(fig_dir / "factor_overall_forest.png", panels, xlabel=f"overall ({scores.normalization})")
    out.append(str(p.relative_to(workdir)))
    if judge_out and judge_out["leaderboards"]:
        bt_panels = {f"BT {k}": (list(v.models), v.score, v.ci_low, v.ci_high) for k, v in judge_out["leaderboards"].items()}
        p = plots.forest(fig_dir / "bt_forest.png", bt_panels, xlabel="score (win rate vs baseline, %)")
        out.append(str(p.relative_to(workdir)))
    return out


def _ci_board(lb: Leaderboard, col: str, which: str) -> Leaderboard:
    vals = lb.ci_low[col] if which == "lo" else lb.ci_high[col]
    return Leaderboard(lb.name, lb.source, lb.models, {col: vals}, primary=col)


def render_markdown(analysis: dict, scores: FactorScores, rows: list[CorrelationRow], joins, judge_out) -> str:
    """Returns the report as Markdown."""
    s = analysis["settings"]
    lvl = int(round(100 * s["level"]))
    L = ["# SOS-Bench analysis", ""]
    L += [f"Inputs: {analysis['inputs']['description']}.", ""]
    L += [f"- results: {', '.join(analysis['inputs']['results'][:3])}{' ...' if len(analysis['inputs']['results']) > 3 else ''}",
          f"- leaderboards: {', '.join(analysis['inputs']['leaderboards']) or 'none'}",
          f"- judgments: {analysis['inputs']['judgments'] or 'none'}",
          f"- name map: {analysis['inputs']['name_map']}",
          f"- {len(scores.models)} models; normalisation `{scores.normalization}`; factor CIs: {scores.ci_method} "
          f"({lvl}%); correlation CIs: {s['n_corr_bootstrap']} bootstrap resamples of models (percentile); "
          f"p-values: two-sided permutation test ({s['n_permutations']} permutations, exact when n! is smaller)", ""]

    L += ["## Factor scores", "",
          "Benchmark = mean of its subtasks (BBQ, WMDP size-weighted; WMDP as 1 - acc; IFEval = mean of its 4 metrics); "
          "factor = unweighted mean of its benchmarks; overall = mean of the factors.", ""]
    head = ["model"] + scores.factors + ["overall"]
    L += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = np.argsort(-np.nan_to_num(scores.overall, nan=-np.inf))
    for i in order:
        cells = [scores.models[i]]
        cells += [_ci(scores.factor[i, j], scores.factor_lo[i, j], scores.factor_hi[i, j]) for j in range(len(scores.factors))]
        cells.append(_ci(scores.overall[i], scores.overall_lo[i], scores.overall_hi[i]))
        L.append("| " + " | ".join(cells) + " |")
    L.append("")

    if rows:
        L += ["## Leaderboards vs factors", "",
              f"Each cell: statistic [{lvl}% bootstrap CI], permutation p; n = models present in both.", ""]
        meths = list(rows[0].stats)
        head = ["leaderboard", "target", "n"] + meths
        L += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            lbl = r.leaderboard if r.column == "score" else f"{r.leaderboard}: {r.column}"
            cells = [lbl, r.target, str(len(r.models))]
            for m in meths:
                c = r.stats[m]
                cells.append(f"{_ci(c.r, c.ci_low, c.ci_high, 2)}, p={_p(c.p_value)}")
            L.append("| " + " | ".join(cells) + " |")
        L.append("")

    L += ["## Model joins", "", f"{len(joins.joined)} canonical models appear in the results and at least one leaderboard.", ""]
    for src, miss in joins.unmatched.items():
        shown = ", ".join(miss[:15]) + (f", ... ({len(miss) - 15} more in analysis.json)" if len(miss) > 15 else "")
        L.append(f"- `{src}`: {len(miss)} unmatched" + (f": {shown}" if miss else ""))
    L.append("")

    if judge_out is not None:
        L += ["## Judge: Bradley-Terry leaderboards", "", f"Judgments: {judge_out['source']}.", ""]
        for label, bt in judge_out["leaderboards"].items():
            L += [f"### {label}", "", "| model | score [95% CI] | rating | battles |", "|---|---|---|---|"]
            for i, m in enumerate(bt.models):
                L.append(f"| {m} | {_ci(float(bt.score[i]), float(bt.ci_low[i]), float(bt.ci_high[i]), 1)} | "
                         f"{_fmt(float(bt.rating[i]), 0)} | {int(bt.n_battles[i])} |")
            if len(bt.style_names):
                L += ["", "Style coefficients (per SD, logit): " + ", ".join(
                    f"{n} {_ci(float(c), float(lo), float(hi), 3)}" for n, c, lo, hi in
                    zip(bt.style_names, bt.style_coef, bt.style_ci_low, bt.style_ci_high))]
            L.append("")
        svs = judge_out.get("style_vs_substance")
        if svs is not None:
            L += ["### Style vs substance", "",
                  f"Standardised regression of the overall verdict on the criterion verdicts "
                  f"({svs.n_rows} games, R^2 = {_fmt(svs.r2)}; 95% bootstrap CIs):", "",
                  "| criterion | coefficient [95% CI] | BT scores vs overall BT: pearson / spearman / kendall |",
                  "|---|---|---|"]
            for c, b, lo, hi in zip(svs.criteria, svs.coef, svs.ci_low, svs.ci_high):
                cor = svs.correlations.get(c, {})
                L.append(f"| {c} | {_ci(float(b), float(lo), float(hi))} | " +
                         " / ".join(_fmt(cor.get(k), 2) for k in ("pearson", "spearman", "kendall")) + " |")
            for c, why in svs.excluded.items():
                L.append(f"\n- {c} left out of the regression: {why}")
            if svs.flags:
                L += ["", "Degenerate-data flags:", ""] + [f"- {f}" for f in svs.flags]
            L.append("")

    if analysis["figures"]:
        L += ["## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in analysis["figures"]] + [""]
    if analysis["notes"]:
        L += ["## Notes", ""] + [f"- {n}" for n in analysis["notes"]] + [""]
    return "\n".join(L)
