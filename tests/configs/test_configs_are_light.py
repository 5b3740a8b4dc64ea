"""Config files are data: loading one imports ml_collections and light config modules, never the
trainer or the engine. Each file loads in a fresh interpreter the way a launcher loads it
(`config_flags` imports it by path and calls `get_config()`), and the child reports whether jax,
flax or orbax got imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").rglob("*.py"))
HEAVY = ("jax", "jaxlib", "flax", "orbax")

_CHILD = """
import json, sys
from absl import flags
from ml_collections import config_flags
fv = flags.FlagValues()
config_flags.DEFINE_config_file("config", flag_values=fv)
fv(["prog", "--config=" + sys.argv[1]])
assert fv.config is not None
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps(heavy))
""".format(heavy=set(HEAVY))


def test_there_are_configs_to_check():
    assert {p.parent.name for p in CONFIGS} >= {"pear", "sos"}


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(REPO / "configs")) for p in CONFIGS])
def test_config_loads_without_jax_flax_orbax(path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert heavy == [], f"loading {path.relative_to(REPO)} imported {heavy[:10]}"


def test_the_check_sees_a_heavy_import(tmp_path):
    bad = tmp_path / "bad_config.py"
    bad.write_text("import ml_collections\nimport jax\n\n\ndef get_config():\n    return ml_collections.ConfigDict()\n")
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(bad)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "jax" in json.loads(proc.stdout.strip().splitlines()[-1])
