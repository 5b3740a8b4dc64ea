"""PNG figures for the report (matplotlib's Agg canvas directly: no pyplot, no global backend).

Each function writes one file atomically and returns its path.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from jaxrun import atomic_write_bytes


def _save(fig, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _fmt_ci(r: float, lo: float, hi: float) -> str:
    if math.isnan(r):
        return "r = n/a"
    return f"r = {r:.2f} [{lo:.2f}, {hi:.2f}]"


def scatter_row(path: str | Path, x_label: str, x: np.ndarray, targets: dict[str, np.ndarray],
                stats: dict[str, tuple[float, float, float, float]], models: Sequence[str],
                x_err: tuple[np.ndarray, np.ndarray] | None = None, method: str = "pearson") -> Path:
    """Writes one row of scatter plots, leaderboard score (x) vs each target (y), titled with r and CI.

    `stats[target] = (r, ci_low, ci_high, p)`; `x_err` are the leaderboard's CI bounds, drawn as
    horizontal bars.
    """
    from matplotlib.figure import Figure

    n = len(targets)
    fig = Figure(figsize=(3.6 * n, 3.4))
    for j, (name, y) in enumerate(targets.items()):
        ax = fig.add_subplot(1, n, j + 1)
        ok = np.isfinite(x) & np.isfinite(y)
        if x_err is not None:
            lo, hi = x_err
            xerr = np.vstack([x - lo, hi - x])[:, ok]
            ax.errorbar(x[ok], y[ok], xerr=np.where(np.isfinite(xerr), xerr, 0), fmt="o", ms=4, alpha=0.7,
                        elinewidth=0.8, capsize=0)
        else:
            ax.plot(x[ok], y[ok], "o", ms=4, alpha=0.7)
        if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
            slope, icpt = np.polyfit(x[ok], y[ok], 1)
            xs = np.linspace(x[ok].min(), x[ok].max(), 10)
            ax.plot(xs, slope * xs + icpt, "-", lw=1, color="gray")
        r, lo_, hi_, p = stats.get(name, (math.nan,) * 4)
        ax.set_title(f"{name}: {method} {_fmt_ci(r, lo_, hi_)}\np = {p:.3g}, n = {int(ok.sum())}", fontsize=8)
        ax.set_xlabel(x_label, fontsize=8)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save(fig, path)


def heatmap(path: str | Path, row_labels: Sequence[str], col_labels: Sequence[str], values: np.ndarray,
            pvalues: np.ndarray | None = None, title: str = "") -> Path:
    """Writes a correlation heatmap (rows x cols, -1..1), each cell annotated with r (and * if p < .05)."""
    from matplotlib.figure import Figure

    values = np.asarray(values, float)
    fig = Figure(figsize=(1.2 * len(col_labels) + 2.5, 0.45 * len(row_labels) + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(col_labels)), labels=list(col_labels), fontsize=8)
    ax.set_yticks(range(len(row_labels)), labels=list(row_labels), fontsize=8)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            star = "*" if pvalues is not None and np.isfinite(pvalues[i, j]) and pvalues[i, j] < 0.05 else ""
            ax.text(j, i, "n/a" if math.isnan(v) else f"{v:.2f}{star}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.04)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def forest(path: str | Path, panels: dict[str, tuple[Sequence[str], np.ndarray, np.ndarray, np.ndarray]],
           xlabel: str = "score") -> Path:
    """Writes a forest plot per panel: models sorted by score, with CI bars (e.g. BT plain vs style-controlled).

    `panels[title] = (models, score, ci_low, ci_high)`.
    """
    from matplotlib.figure import Figure

    n = len(panels)
    height = max(len(p[0]) for p in panels.values()) * 0.28 + 1.2
    fig = Figure(figsize=(4.6 * n, height))
    for j, (title, (models, score, lo, hi)) in enumerate(panels.items()):
        ax = fig.add_subplot(1, n, j + 1)
        score, lo, hi = (np.asarray(a, float) for a in (score, lo, hi))
        order = np.argsort(score)
        ys = np.arange(len(order))
        ax.errorbar(score[order], ys, xerr=np.vstack([score[order] - lo[order], hi[order] - score[order]]),
                    fmt="o", ms=3, capsize=2, elinewidth=1)
        ax.set_yticks(ys, labels=[models[i] for i in order], fontsize=7)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
