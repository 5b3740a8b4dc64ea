"""`launch/sos_judge.py` with no flags: the built-in demo judge runs offline, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_flagless_judge_runs_offline(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # No flags at all, as a user would first try it (the default workdir lands in tmp_path).
    proc = subprocess.run([sys.executable, "-m", "launch.sos_judge"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [out] = (tmp_path / "runs" / "sos_judge").glob("judgments_*.jsonl")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    # Demo set: 2 models + the null-answer probe x 3 questions x 2 games (a random judge: verdicts
    # may be malformed).
    assert len(records) == 18 and {r["game"] for r in records} == {1, 2}
    assert "null-answer" in {r["model"] for r in records}
    assert "judged 18 games" in proc.stdout
