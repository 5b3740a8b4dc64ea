"""PEAR reports: the disagreement-matrix heatmap of one run and the λ-sweep trade-off
(`tradeoff.csv`, `tradeoff.png`, `report.md`) across runs.

Figures use matplotlib's Agg backend and are written atomically (a reader never sees half a PNG).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

import jaxrun


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: str | os.PathLike) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    jaxrun.atomic_write_bytes(path, buf.getvalue())


def disagreement_heatmap(matrix: dict, path: str | os.PathLike) -> None:
    """Writes one heatmap per agreement metric (explainer × explainer, mean over rows) as a PNG."""
    plt = _pyplot()
    names = matrix["explainers"]
    metrics = matrix["metrics"]
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.0 * cols, 4.6 * rows), squeeze=False, layout="constrained")
    for idx, (ax, (metric, values)) in enumerate(zip(axes.flat, metrics.items())):
        v = np.asarray(values, dtype=float)
        im = ax.imshow(v, vmin=min(0.0, np.nanmin(v)), vmax=1.0, cmap="viridis")
        ax.set_title(metric, fontsize=9)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        # Row labels only on the first column, so long explainer names never overlap a neighbour.
        ax.set_yticks(range(len(names)), names if idx % cols == 0 else [], fontsize=7)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{v[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(f"explainer agreement, k={matrix.get('k')}, {matrix.get('rows')} test rows", fontsize=10)
    _save_figure(fig, path)
    plt.close(fig)


def aggregate_cells(cells: Sequence[dict]) -> list[dict]:
    """Returns one row per λ: mean and standard deviation over seeds of every final eval metric.

    Each cell is a run's `final_metrics.json` (keys `lam`, `seed`, `final_eval`).
    """
    by_lam: dict[float, list[dict]] = {}
    for c in cells:
        by_lam.setdefault(float(c["lam"]), []).append(c["final_eval"])
    rows = []
    for lam in sorted(by_lam):
        evals = by_lam[lam]
        keys = [k for k in evals[0] if k not in ("step", "epoch")]
        row = {"lam": lam, "seeds": len(evals)}
        for k in keys:
            vals = np.array([e[k] for e in evals], dtype=float)
            row[f"{k}_mean"] = float(vals.mean())
            row[f"{k}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        rows.append(row)
    return rows


def agreement_keys(rows: Sequence[dict]) -> list[str]:
    """Returns the agreement metrics present in aggregated rows (without the _mean suffix)."""
    return [k[: -len("_mean")] for k in rows[0] if k.startswith("agree/") and k.endswith("_mean")]


def write_tradeoff(rows: Sequence[dict], outdir: str | os.PathLike, *, title: str = "") -> None:
    """Writes tradeoff.csv, tradeoff.png (test accuracy vs each agreement metric, one point per
    λ with error bars over seeds) and report.md into `outdir`."""
    outdir = Path(outdir)
    fields = list(rows[0].keys())
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        w.writerow(r)
    jaxrun.atomic_write_text(outdir / "tradeoff.csv", buf.getvalue())

    plt = _pyplot()
    metrics = agreement_keys(rows) + ["consensus"]
    cols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.4 * cols, 3.6 * nrows), squeeze=False, layout="constrained")
    for ax, m in zip(axes.flat, metrics):
        xs = [r[f"{m}_mean"] for r in rows]
        ys = [r["accuracy_mean"] for r in rows]
        ax.errorbar(xs, ys, xerr=[r[f"{m}_std"] for r in rows], yerr=[r["accuracy_std"] for r in rows],
                    fmt="o-", capsize=3)
        for r, x, y in zip(rows, xs, ys):
            ax.annotate(f"λ={r['lam']:g}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(m.replace("agree/", "") + (" (lower is better)" if m == "consensus" else ""), fontsize=8)
        ax.set_ylabel("test accuracy", fontsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(title or "PEAR accuracy vs explainer agreement", fontsize=10)
    _save_figure(fig, outdir / "tradeoff.png")
    plt.close(fig)

    jaxrun.atomic_write_text(outdir / "report.md", markdown_report(rows, title=title))


def markdown_report(rows: Sequence[dict], *, title: str = "") -> str:
    """Returns the sweep's Markdown report: a table of mean ± std over seeds per λ."""
    metrics = ["accuracy", "balanced_accuracy", "ce", "consensus"] + agreement_keys(rows)
    head = "| λ | seeds | " + " | ".join(m.replace("agree/", "") for m in metrics) + " |"
    sep = "|" + "---|" * (len(metrics) + 2)
    lines = [f"# {title or 'PEAR λ sweep'}", "",
             "Test-split metrics at the end of training, mean ± std over seeds. Agreement metrics "
             "compare the two training explainers (grad vs IG by default).", "", head, sep]
    for r in rows:
        cells = [f"{r[f'{m}_mean']:.4f} ± {r[f'{m}_std']:.4f}" for m in metrics]
        lines.append(f"| {r['lam']:g} | {r['seeds']} | " + " | ".join(cells) + " |")
    lines += ["", "![trade-off](tradeoff.png)", ""]
    return "\n".join(lines)
