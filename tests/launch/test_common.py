"""launch.common: importing it defines no flag; configs resolve from the package, not the cwd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_CHILD = """
import json, os, sys
from absl import flags
before = set(flags.FLAGS)
from launch import common
after_import = sorted(set(flags.FLAGS) - before)
try:
    common.start_processes()
    error = None
except RuntimeError as e:
    error = str(e)
common.define_mesh_flags(); common.define_multihost_flags(); common.define_mesh_flags()  # twice is harmless
print(json.dumps({"after_import": after_import, "error": error, "defined": sorted(set(flags.FLAGS) - before),
                  "config": common.config_path("sos", "analyze.py")}))
"""


def test_import_defines_no_flags_and_configs_resolve_from_the_package(tmp_path):
    (tmp_path / "configs" / "sos").mkdir(parents=True)  # a decoy in the working directory
    (tmp_path / "configs" / "sos" / "analyze.py").write_text("raise SystemExit('decoy')\n")
    proc = subprocess.run([sys.executable, "-c", _CHILD], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["after_import"] == []
    assert "define_multihost_flags" in out["error"]
    assert out["defined"] == ["coordinator_address", "mesh_model", "num_processes", "process_id"]
    assert Path(out["config"]) == REPO / "configs" / "sos" / "analyze.py"
