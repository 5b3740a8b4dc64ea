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
                stats: dict[str, tuple], models: Sequence[str],
                x_err: tuple[np.ndarray, np.ndarray] | None = None, method: str = "pearson",
                y_err: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                y_labels: dict[str, str] | None = None, level: float = 0.95) -> Path:
    """Writes a grid of scatter plots (two per row), leaderboard score (x) vs each target (y), one point per model.

    `stats[target] = (r, ci_low, ci_high, p[, p_holm])` of `method`; the p-value is a permutation
    p. Points carry model names; `x_err` (leaderboard CI bounds) and `y_err[target]` (factor CI
    bounds) are drawn as bars. The grey line is an OLS fit, drawn only as a guide: the statistic in
    the title is `method`'s, not the line's.
    """
    from matplotlib.figure import Figure

    n = len(targets)
    ncol = min(2, n)
    nrow = -(-n // ncol)
    fig = Figure(figsize=(6.8 * ncol, 5.4 * nrow))
    for j, (name, y) in enumerate(targets.items()):
        ax = fig.add_subplot(nrow, ncol, j + 1)
        ok = np.isfinite(x) & np.isfinite(y)
        xerr = yerr = None
        if x_err is not None:
            lo, hi = x_err
            xerr = np.vstack([x - lo, hi - x])[:, ok]
            xerr = np.where(np.isfinite(xerr), np.maximum(xerr, 0), 0)
        if y_err is not None and name in y_err:
            lo, hi = y_err[name]
            yerr = np.vstack([y - lo, hi - y])[:, ok]
            yerr = np.where(np.isfinite(yerr), np.maximum(yerr, 0), 0)
        ax.errorbar(x[ok], y[ok], xerr=xerr, yerr=yerr, fmt="o", ms=4, alpha=0.75, elinewidth=0.7, capsize=0)
        for xi, yi, m in zip(x[ok], y[ok], np.asarray(models, object)[ok]):
            ax.annotate(str(m), (xi, yi), fontsize=5, alpha=0.8, xytext=(2, 2), textcoords="offset points")
        if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
            slope, icpt = np.polyfit(x[ok], y[ok], 1)
            xs = np.linspace(x[ok].min(), x[ok].max(), 10)
            ax.plot(xs, slope * xs + icpt, "-", lw=1, color="gray", label="OLS fit (guide only)")
            ax.legend(fontsize=6, loc="best")
        st = tuple(stats.get(name, ())) + (math.nan,) * 5
        r, lo_, hi_, p, p_holm = st[:5]
        pct = int(round(100 * level))
        holm = "" if math.isnan(p_holm) else f", Holm p = {p_holm:.2g}"
        ax.set_title(f"{method.capitalize()} {_fmt_ci(r, lo_, hi_)} ({pct}% bootstrap CI)\n"
                     f"permutation p = {p:.2g}{holm}, n = {int(ok.sum())}", fontsize=8)
        ax.set_xlabel(x_label, fontsize=8)
        ax.set_ylabel((y_labels or {}).get(name, name), fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save(fig, path)


def heatmap(path: str | Path, row_labels: Sequence[str], col_labels: Sequence[str], values: np.ndarray,
            pvalues: np.ndarray | None = None, title: str = "", ns: np.ndarray | None = None,
            ci: tuple[np.ndarray, np.ndarray] | None = None, small_n: int = 10) -> Path:
    """Writes a correlation heatmap (rows x cols, -1..1); each cell shows r, its CI and n.

    `pvalues` (already corrected by the caller) mark cells with * when < .05. With `ns`, rows with
    fewer than `small_n` models go to a separate, hatched and faded panel below, so their noisy
    values do not read on one scale with the large-n rows.
    """
    from matplotlib.figure import Figure

    values = np.asarray(values, float)
    ns = np.full(values.shape, -1) if ns is None else np.asarray(ns)
    row_n = ns.max(1) if ns.ndim == 2 else ns
    groups = [("", np.ones(len(row_labels), bool))] if (ns < 0).all() else [
        (f"n >= {small_n}", row_n >= small_n),
        (f"n < {small_n}: CIs span most of [-1, 1], descriptive only", row_n < small_n)]
    groups = [(t, g) for t, g in groups if g.any()]
    heights = [max(1, int(g.sum())) for _, g in groups]
    fig = Figure(figsize=(1.9 * len(col_labels) + 3.2, 0.62 * sum(heights) + 1.4 * len(groups) + 0.6))
    gs = fig.add_gridspec(len(groups), 1, height_ratios=heights)
    im = None
    for k, (sub, keep) in enumerate(groups):
        ax = fig.add_subplot(gs[k])
        idx = np.flatnonzero(keep)
        faded = sub.startswith("n <")
        shown = ax.imshow(np.ma.masked_invalid(values[idx]), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto",
                          alpha=0.45 if faded else 1.0)
        im = shown if im is None else im  # the colour bar follows the unfaded panel
        ax.set_xticks(range(len(col_labels)), labels=list(col_labels), fontsize=8)
        ax.set_yticks(range(len(idx)), labels=[row_labels[i] for i in idx], fontsize=8)
        for a, i in enumerate(idx):
            for j in range(values.shape[1]):
                v = values[i, j]
                star = "*" if pvalues is not None and np.isfinite(pvalues[i, j]) and pvalues[i, j] < 0.05 else ""
                txt = "n/a" if math.isnan(v) else f"{v:.2f}{star}"
                if ci is not None and np.isfinite(ci[0][i, j]):
                    txt += f"\n[{ci[0][i, j]:.2f}, {ci[1][i, j]:.2f}]"
                n_ij = ns[i, j] if ns.ndim == 2 else ns[i]
                if n_ij >= 0:
                    txt += f"\nn={int(n_ij)}"
                ax.text(j, a, txt, ha="center", va="center", fontsize=6.5)
                if faded:
                    ax.add_patch(_hatch(j, a))
        ax.set_title((title + "\n" if k == 0 and title else "") + sub, fontsize=8.5)
    fig.colorbar(im, ax=fig.axes, fraction=0.03)
    return _save(fig, path)


def _hatch(j: int, i: int):
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", lw=0, alpha=0.3)


def coefficients(path: str | Path, fits: dict[str, dict[str, dict[str, float]]], title: str = "",
                 xlabel: str = "standardised coefficient (per SD)") -> Path:
    """Writes a coefficient plot: one row per term, one marker per fit, with CI bars.

    `fits[label][term] = {"coef", "ci_low", "ci_high"}` (e.g. game 1, game 2, pooled + game term).
    """
    from matplotlib.figure import Figure

    terms = list(dict.fromkeys(t for f in fits.values() for t in f))
    fig = Figure(figsize=(6.4, 0.55 * len(terms) + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    k = len(fits)
    for n, (label, f) in enumerate(fits.items()):
        off = (n - (k - 1) / 2) * 0.18
        ys = [terms.index(t) + off for t in f]
        c = np.array([f[t]["coef"] for t in f], float)
        lo = np.array([f[t]["ci_low"] for t in f], float)
        hi = np.array([f[t]["ci_high"] for t in f], float)
        err = np.vstack([c - lo, hi - c])
        ax.errorbar(c, ys, xerr=np.where(np.isfinite(err), err, 0), fmt="os^dv"[n % 5], ms=4, capsize=2,
                    elinewidth=1, label=label)
    ax.axvline(0, color="gray", lw=0.8)
    ax.set_yticks(range(len(terms)), labels=terms, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
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
