"""End-to-end: `python -m launch.pear_tensions` on the smoke config writes the report, JSON, PNGs
and TensorBoard logs; a rerun trains nothing (resumable per cell); configs load without jax."""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jaxrun

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "pear" / "tensions" / "smoke.py"


@pytest.fixture(scope="module")
def bank_like(tmp_path_factory) -> Path:
    """A small table in the pear-xai Bank Marketing layout (V1 = age, both age groups present)."""
    d = tmp_path_factory.mktemp("bank_like")
    rng = np.random.default_rng(0)
    for name, n in (("bankmarketing-train.csv", 600), ("bankmarketing-test.csv", 300)):
        age = rng.integers(18, 90, n)
        v = rng.normal(size=(n, 3))
        y = ((v[:, 0] + 0.03 * (age - 40) + 0.3 * rng.normal(size=n)) > 0).astype(int)
        rows = [f"{a},{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{c}" for a, r, c in zip(age, v, y)]
        (d / name).write_text("V1,V6,V10,V12,class\n" + "\n".join(rows) + "\n")
    return d


def test_configs_load_without_jax():
    code = ("import sys, runpy; "
            f"[runpy.run_path(p)['get_config']() for p in {sorted(str(p) for p in SMOKE.parent.glob('*.py'))!r}]; "
            "heavy = [m for m in ('jax', 'flax', 'orbax') if m in sys.modules]; assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_smoke_pipeline_and_resume(bank_like, tmp_path):
    workdir = tmp_path / "run"
    cmd = [sys.executable, "-m", "launch.pear_tensions", f"--config={SMOKE}",
           f"--config.dataset.data_dir={bank_like}", f"--workdir={workdir}"]
    proc = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for f in ("report.md", "results.json", "bank_marketing_pareto.png", "dp_disparate_impact.png",
              "consensus_vs_expl_mia.png", "share_vs_dp_diff.png"):
        assert (workdir / f).stat().st_size > 0, f
    assert list((workdir / "tb").glob("events.out.tfevents.*"))
    results = json.loads((workdir / "results.json").read_text())
    records = results["records"]
    assert len(records) == 2 * 2 * 2 * 2  # λ × DP {off, ε 8} × reweighing × seeds
    for r in records:
        m = r["metrics"]
        assert 0 <= m["accuracy"] <= 1 and 0 <= m["loss_mia_auc"] <= 1 and -1 <= m["spearman"] <= 1
        if r["dp_target"] is None:
            assert r["epsilon"] is None and r["noise_multiplier"] == 0
        else:
            assert 7.5 < r["epsilon"] <= 8.0 and r["noise_multiplier"] > 0 and "dp_disparate_impact" in m
    report = (workdir / "report.md").read_text()
    for part in ("T1", "T2", "T3", "DP ε=8", "reweighing", "PEAR λ=0.5"):
        assert part in report

    # Rerun in-process: every cell's file exists, so nothing trains and the records come back.
    from pear_jax.tensions import grid

    config = runpy.run_path(str(SMOKE))["get_config"]()
    config.dataset.data_dir = str(bank_like)
    again = grid.run(config, workdir, mesh=jaxrun.make_mesh())
    key = lambda r: (r["cell"], r["seed"])  # noqa: E731
    assert sorted(map(key, again["records"])) == sorted(map(key, records))
    assert all(r["stack_train_seconds"] == o["stack_train_seconds"]
               for r, o in zip(sorted(again["records"], key=key), sorted(records, key=key)))
