"""Tests for pear_jax.report: disagreement heatmap, sweep aggregation, trade-off files."""

import csv

import numpy as np
import pytest

from pear_jax import report


def cell(lam, seed, acc, rc):
    return {"lam": lam, "seed": seed, "dataset": "toy",
            "final_eval": {"step": 10, "epoch": 1.0, "accuracy": acc, "balanced_accuracy": acc, "ce": 0.5,
                           "consensus": 1 - rc, "agree/rank_correlation": rc, "agree/feature_agreement": rc / 2}}


def test_aggregate_cells_mean_and_std_over_seeds():
    rows = report.aggregate_cells([cell(0.5, 0, 0.8, 0.6), cell(0.0, 0, 0.9, 0.2), cell(0.5, 1, 0.7, 0.8)])
    assert [r["lam"] for r in rows] == [0.0, 0.5]
    assert rows[1]["seeds"] == 2
    assert rows[1]["accuracy_mean"] == pytest.approx(0.75)
    assert rows[1]["accuracy_std"] == pytest.approx(np.std([0.8, 0.7], ddof=1))
    assert rows[0]["accuracy_std"] == 0.0
    assert report.agreement_keys(rows) == ["agree/rank_correlation", "agree/feature_agreement"]


def test_write_tradeoff_files(tmp_path):
    rows = report.aggregate_cells([cell(lam, s, 0.9 - lam / 10, 0.3 + lam / 2) for lam in (0.0, 0.5, 1.0) for s in (0, 1)])
    report.write_tradeoff(rows, tmp_path, title="toy sweep")
    with open(tmp_path / "tradeoff.csv") as f:
        table = list(csv.DictReader(f))
    assert [float(r["lam"]) for r in table] == [0.0, 0.5, 1.0]
    assert float(table[2]["agree/rank_correlation_mean"]) == pytest.approx(0.8)
    assert (tmp_path / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# toy sweep") and "| 0.5 | 2 |" in md and "rank_correlation" in md
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "tradeoff.csv", "tradeoff.png"]


def test_disagreement_heatmap_png(tmp_path):
    names = ["vanilla_gradient", "integrated_gradients", "lime"]
    matrix = {"explainers": names, "k": 5, "rows": 500,
              "metrics": {"feature_agreement": np.eye(3).tolist(), "rank_correlation": (np.ones((3, 3)) * 0.5).tolist()}}
    report.disagreement_heatmap(matrix, tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
