"""The tensions report: T1 (every metric, 95% CI over seeds), T2 (the tension matrix of single
interventions' signed effects), T3 (pairwise interactions), plots and JSON.

Effects are paired by seed: for intervention A, Δ_s(A) = metric(A, seed s) - metric(baseline, s),
the baseline being λ = 0, DP off, no reweighing. The interaction of A and B is
Δ_s(A+B) - Δ_s(A) - Δ_s(B) (0 when the effects add). A 95% CI is mean ± t_{0.975, n-1} · sd / √n
over the n seeds; an interaction is flagged when its CI excludes 0.

DI(ε) = [acc_min(∞) - acc_min(ε)] - [acc_maj(∞) - acc_maj(ε)] is computed per DP model against
the non-DP model of the same λ, reweighing and seed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import stats

import jaxrun
from pear_jax.report import _pyplot, _save_figure
from pear_jax.tensions import fairness

# The axes each table reports (when the dataset has them), in order.
AXES = {
    "accuracy": ("accuracy", "acc_gap"),
    "fairness": ("dp_diff", "eo_diff", "dp_disparate_impact"),
    "privacy": ("epsilon", "loss_mia_auc", "loss_mia_tpr_at_1fpr", "loss_mia_auc_gap", "expl_mia_auc",
                "expl_mia_auc_gap"),
    "transparency": ("spearman", "fa_at_k", "spearman_gap", "sensitive_share"),
}


def _metric_names(records: Sequence[dict]) -> list[str]:
    present = set()
    for r in records:
        present |= set(r["metrics"])
    out = []
    for names in AXES.values():
        for m in names:
            if m == "fa_at_k":
                out += sorted(k for k in present if k.startswith("fa_at_"))
            elif m in present or m == "epsilon":
                out.append(m)
    return out


def _value(r: dict, m: str) -> float:
    if m == "epsilon":
        return math.inf if r["epsilon"] is None else float(r["epsilon"])
    v = r["metrics"].get(m)
    if v is None and m == "dp_disparate_impact" and r["dp_target"] is None and "acc_minority" in r["metrics"]:
        return 0.0  # DI(∞) = 0 by definition: a non-DP model is its own reference
    return float("nan") if v is None else float(v)


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Returns (mean, 95% CI half-width over seeds by Student's t); half-width NaN for one value."""
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def add_disparate_impact(records: list[dict]) -> None:
    """Adds metrics["dp_disparate_impact"] to every DP model with a non-DP twin (same λ, reweighing, seed)."""
    nodp = {(r["dataset"], r["lam"], r["reweigh"], r["seed"]): r for r in records if r["dp_target"] is None}
    for r in records:
        twin = nodp.get((r["dataset"], r["lam"], r["reweigh"], r["seed"]))
        if r["dp_target"] is None or twin is None or "acc_minority" not in r["metrics"]:
            continue
        a, b = twin["metrics"], r["metrics"]
        r["metrics"]["dp_disparate_impact"] = fairness.disparate_impact_of_dp(
            a["acc_minority"], b["acc_minority"], a["acc_majority"], b["acc_majority"])


def _key(lam: float, eps, rw: bool) -> tuple:
    return (float(lam), None if eps is None else float(eps), bool(rw))


def _label(key: tuple) -> str:
    lam, eps, rw = key
    return f"λ={lam:g}, DP {'off' if eps is None else f'ε={eps:g}'}, RW {'on' if rw else 'off'}"


def build_tables(records: list[dict]) -> dict:
    """Returns {dataset: {"t1": rows, "t2": rows, "t3": rows}} (see the module docstring)."""
    add_disparate_impact(records)
    out = {}
    for ds in sorted({r["dataset"] for r in records}):
        recs = [r for r in records if r["dataset"] == ds]
        metrics = _metric_names(recs)
        by = {}
        for r in recs:
            by.setdefault(_key(r["lam"], r["dp_target"], r["reweigh"]), {})[r["seed"]] = r
        t1 = []
        for key in sorted(by, key=lambda k: (k[0], -1 if k[1] is None else -k[1], k[2])):
            row = {"cell": _label(key), "lam": key[0], "dp_target": key[1], "reweigh": key[2], "seeds": len(by[key])}
            for m in metrics:
                row[m] = mean_ci([_value(r, m) for r in by[key].values()])
            t1.append(row)
        lams = sorted({k[0] for k in by})
        epss = sorted({k[1] for k in by if k[1] is not None}, reverse=True)
        base = _key(lams[0], None, False)
        singles = {}
        if len(lams) > 1:
            singles[f"PEAR λ={lams[1]:g}"] = _key(lams[1], None, False)
        for e in epss:
            singles[f"DP ε={e:g}"] = _key(lams[0], e, False)
        if any(k[2] for k in by):
            singles["reweighing"] = _key(lams[0], None, True)

        def delta(key, m, by=by, base=base):
            if key not in by or base not in by:
                return {}
            return {s: _value(by[key][s], m) - _value(by[base][s], m) for s in by[key] if s in by[base]}

        effect_metrics = [m for m in metrics if m != "epsilon"]
        t2 = []
        for name, key in singles.items():
            t2.append({"intervention": name, **{m: mean_ci(list(delta(key, m).values())) for m in effect_metrics}})
        t3 = []
        names = list(singles)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if a.startswith("DP") and b.startswith("DP"):
                    continue  # two privacy levels are not combined
                ka, kb = singles[a], singles[b]
                kab = (max(ka[0], kb[0]), ka[1] if ka[1] is not None else kb[1], ka[2] or kb[2])
                if kab not in by:
                    continue
                row = {"pair": f"{a} + {b}"}
                for m in effect_metrics:
                    da, db, dab = delta(ka, m), delta(kb, m), delta(kab, m)
                    seeds = set(da) & set(db) & set(dab)
                    mean, hw = mean_ci([dab[s] - da[s] - db[s] for s in seeds])
                    row[m] = (mean, hw, bool(np.isfinite(hw) and abs(mean) > hw))
                t3.append(row)
        out[ds] = {"metrics": metrics, "t1": t1, "t2": t2, "t3": t3,
                   "group": recs[0]["group"], "baseline": _label(base)}
    return out


def _fmt(v: tuple) -> str:
    mean, hw = v[0], v[1]
    if not np.isfinite(mean):
        return "–" if not math.isinf(mean) else "∞"
    s = f"{mean:.3f}" if abs(mean) < 100 else f"{mean:.3g}"
    s += f" ± {hw:.3f}" if np.isfinite(hw) else ""
    return s + (" **\\***" if len(v) > 2 and v[2] else "")


def _table(rows: list[dict], first: str, metrics: list[str]) -> list[str]:
    lines = [f"| {first} | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 1)]
    for r in rows:
        lines.append(f"| {r[first]} | " + " | ".join(_fmt(r[m]) for m in metrics) + " |")
    return lines


def markdown(tables: dict, *, seconds: float | None = None) -> str:
    """Returns the Markdown report of every dataset's T1, T2 and T3."""
    lines = ["# Tensions: accuracy × fairness × privacy × explanation consensus", "",
             "Mean ± 95% CI half-width over seeds (Student's t). Fairness gaps: fairlearn's demographic-parity "
             "and equalized-odds differences; acc_gap = majority − minority accuracy; DI(ε) = [acc_min(∞) − "
             "acc_min(ε)] − [acc_maj(∞) − acc_maj(ε)]. MIA: members vs held-out rows of equal size; *_gap = "
             "minority − majority. Transparency: mean pairwise Spearman / FA@k over six explainers on held-out "
             "rows; sensitive_share: mean share of |attribution| on the sensitive feature.", ""]
    if seconds is not None:
        lines += [f"Wall time of this invocation: {seconds / 60:.1f} min.", ""]
    for ds, t in tables.items():
        m = t["metrics"]
        em = [x for x in m if x != "epsilon"]
        lines += [f"## {ds}" + (f" (group: {t['group']})" if t["group"] else " (control: no people)"), "",
                  "### T1: metrics per cell", ""]
        lines += _table(t["t1"], "cell", m)
        lines += ["", f"### T2: tension matrix (signed effect of each single intervention vs {t['baseline']})", ""]
        lines += _table(t["t2"], "intervention", em)
        lines += ["", "### T3: interactions Δ(A+B) − Δ(A) − Δ(B) (**\\*** = 95% CI excludes 0)", ""]
        lines += _table(t["t3"], "pair", em) if t["t3"] else ["(no pairs in this grid)"]
        lines += ["", f"![pareto]({ds}_pareto.png)", ""]
    lines += ["![DP disparate impact](dp_disparate_impact.png)", "", "![consensus vs explanation MIA]"
              "(consensus_vs_expl_mia.png)", "", "![sensitive share vs DP difference](share_vs_dp_diff.png)", ""]
    return "\n".join(lines)


def _json_tables(tables: dict) -> dict:
    def conv(v):
        if isinstance(v, tuple):
            return {"mean": v[0], "ci95": v[1], **({"flag": v[2]} if len(v) > 2 else {})}
        return v

    return {ds: {k: ([{kk: conv(vv) for kk, vv in row.items()} for row in v] if isinstance(v, list) and v
                     and isinstance(v[0], dict) else v) for k, v in t.items()} for ds, t in tables.items()}


def _cell_means(records, ds, m):
    by = {}
    for r in records:
        if r["dataset"] == ds:
            by.setdefault(_key(r["lam"], r["dp_target"], r["reweigh"]), []).append(_value(r, m))
    return {k: np.nanmean(v) if np.isfinite(v).any() else np.nan for k, v in by.items()}


def plots(records: list[dict], outdir: Path) -> list[str]:
    """Writes the PNGs and returns their file names."""
    plt = _pyplot()
    written = []
    datasets = sorted({r["dataset"] for r in records})
    colors = {None: "tab:blue"}
    for i, e in enumerate(sorted({r["dp_target"] for r in records if r["dp_target"] is not None}, reverse=True)):
        colors[e] = ("tab:orange", "tab:red", "tab:purple")[i % 3]
    for ds in datasets:
        has_groups = any("eo_diff" in r["metrics"] for r in records if r["dataset"] == ds)
        axes = ["accuracy", "eo_diff" if has_groups else None, "loss_mia_auc", "spearman"]
        axes = [a for a in axes if a]
        pairs = [(a, b) for i, a in enumerate(axes) for b in axes[i + 1:]]
        fig, axs = plt.subplots(1, len(pairs), figsize=(3.6 * len(pairs), 3.4), squeeze=False, layout="constrained")
        means = {a: _cell_means(records, ds, a) for a in axes}
        for ax, (a, b) in zip(axs.flat, pairs):
            for key in means[a]:
                lam, eps, rw = key
                ax.scatter(means[a][key], means[b][key], marker="o" if lam == 0 else "^", s=40,
                           facecolors="none" if rw else colors[eps], edgecolors=colors[eps])
            ax.set_xlabel(a, fontsize=8)
            ax.set_ylabel(b, fontsize=8)
        fig.suptitle(f"{ds}: cell means (colour: DP ε, ▲: PEAR, hollow: reweighing)", fontsize=9)
        _save_figure(fig, outdir / f"{ds}_pareto.png")
        plt.close(fig)
        written.append(f"{ds}_pareto.png")

    fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
    for ds in datasets:
        for lam, style in ((0.0, "o-"), (max(r["lam"] for r in records), "^--")):
            pts = sorted((r["epsilon"], r["metrics"]["dp_disparate_impact"]) for r in records
                         if r["dataset"] == ds and r["lam"] == lam and not r["reweigh"]
                         and "dp_disparate_impact" in r["metrics"])
            if pts:
                eps = sorted({p[0] for p in pts})
                ax.plot(eps, [np.mean([v for e2, v in pts if e2 == e]) for e in eps], style, label=f"{ds} λ={lam:g}")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("ε (δ = 1e-5)")
    ax.set_ylabel("DP disparate impact DI(ε)")
    ax.legend(fontsize=6)
    _save_figure(fig, outdir / "dp_disparate_impact.png")
    plt.close(fig)
    written.append("dp_disparate_impact.png")

    for fname, xm, ym in (("consensus_vs_expl_mia.png", "spearman", "expl_mia_auc"),
                          ("share_vs_dp_diff.png", "sensitive_share", "dp_diff")):
        fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
        for ds in datasets:
            pts = [(r["metrics"].get(xm), r["metrics"].get(ym)) for r in records if r["dataset"] == ds]
            pts = [p for p in pts if p[0] is not None and p[1] is not None]
            if pts:
                ax.scatter(*zip(*pts), s=14, label=ds)
        ax.set_xlabel(xm)
        ax.set_ylabel(ym)
        ax.legend(fontsize=6)
        _save_figure(fig, outdir / fname)
        plt.close(fig)
        written.append(fname)
    return written


def write_report(records: list[dict], tables: dict, outdir: str | Path, *, seconds: float | None = None) -> None:
    """Writes report.md, results.json and the PNGs into `outdir` (atomically)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    plots(records, outdir)
    jaxrun.atomic_write_json(outdir / "results.json", {"records": records, "tables": _json_tables(tables),
                                                       "seconds": seconds})
    jaxrun.atomic_write_text(outdir / "report.md", markdown(tables, seconds=seconds))
