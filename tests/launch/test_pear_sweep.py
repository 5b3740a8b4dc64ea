"""End-to-end test of `python -m launch.pear_sweep`: λ × seed cells, trade-off files, resumability."""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jaxrun
from pear_jax import sweep

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "pear" / "smoke.py"


def test_sweep_writes_tradeoff_and_skips_finished_cells(tmp_path, tmp_path_factory, devices, pear_smoke_data):
    data = pear_smoke_data
    workdir = tmp_path / "sweep"
    env = dict(os.environ, PYTHONPATH=str(REPO),
               JAX_COMPILATION_CACHE_DIR=str(tmp_path_factory.getbasetemp() / "pear_jax_cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.2")
    cmd = [sys.executable, "-m", "launch.pear_sweep", f"--config={SMOKE}", f"--config.dataset.data_dir={data}",
           "--config.num_epochs=2", "--config.final.rows=0", f"--workdir={workdir}", "--lams=0,0.5", "--seeds=0"]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"report: {workdir / 'report.md'}" in proc.stdout

    for lam in ("0", "0.5"):
        final = json.loads((workdir / f"lam_{lam}" / "seed_0" / "final_metrics.json").read_text())
        assert final["lam"] == float(lam) and final["steps"] == 32
        assert any(p.name.startswith("events.out.tfevents") for p in (workdir / f"lam_{lam}" / "seed_0" / "tb").iterdir())
    with open(workdir / "tradeoff.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["lam"]) for r in rows] == [0.0, 0.5]
    assert all(0 <= float(r["accuracy_mean"]) <= 1 for r in rows)
    assert "agree/rank_correlation_mean" in rows[0]
    assert (workdir / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 0.5 | 1 |" in (workdir / "report.md").read_text()

    # Rerun (in-process, same library call as the launcher): finished cells are skipped, so no
    # training happens and the cells' results are untouched.
    stamp = (workdir / "lam_0.5" / "seed_0" / "final_metrics.json").stat().st_mtime_ns
    spec = importlib.util.spec_from_file_location("smoke_cfg", SMOKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = module.get_config()
    cfg.dataset.data_dir, cfg.num_epochs, cfg.final.rows = str(data), 2, 0
    rows2 = sweep.sweep(cfg, workdir, lams=(0.0, 0.5), seeds=(0,), mesh=jaxrun.make_mesh())
    assert (workdir / "lam_0.5" / "seed_0" / "final_metrics.json").stat().st_mtime_ns == stamp
    assert [r["lam"] for r in rows2] == [0.0, 0.5]
    assert rows2[1]["accuracy_mean"] == float(rows[1]["accuracy_mean"])
