"""The wheel works outside the checkout: it is built from a copy of the sources, installed with
`pip install --no-deps --target`, and every console script parses its flags and loads its default
config from an unrelated directory. The wheel installs no top-level `launch` package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("setup.py", "README.md", "jaxrun", "sos_jax", "pear_jax", "launch", "configs")

# In a child: import the entry point's module, parse no flags, report where the config came from.
_PARSE = """
import importlib, json, sys
from absl import flags
module = importlib.import_module(sys.argv[1])
flags.FLAGS(["prog"])
out = {"module": module.__file__, "flags": sorted(flags.FLAGS)}
if "config" in flags.FLAGS:
    out["config_path"] = flags.FLAGS["config"].config_filename
    out["config_keys"] = sorted(flags.FLAGS.config.keys())
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Returns the --target directory the freshly built wheel was installed into."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=ignore)
        else:
            shutil.copy(REPO / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (root / "dist").glob("*.whl")
    target = root / "site"
    inst = subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return target


def _entry_points(target: Path) -> dict[str, str]:
    (dist,) = target.glob("sos_pear_jax-*.dist-info")
    lines = (dist / "entry_points.txt").read_text().splitlines()
    return {k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in lines if "=" in ln)}


def _env(target: Path) -> dict[str, str]:
    # Only the install on the path: the checkout must not be what gets imported.
    return {**os.environ, "PYTHONPATH": str(target), "JAX_PLATFORMS": "cpu"}


@pytest.mark.slow
def test_wheel_layout(installed):
    assert not (installed / "launch").exists(), "the wheel must not install a top-level `launch` package"
    assert {p.name for p in installed.iterdir()} >= {"jaxrun", "sos_jax", "pear_jax", "sos_pear_launch"}
    configs = installed / "sos_pear_launch" / "configs"
    assert {p.relative_to(configs).as_posix() for p in configs.rglob("*.py")} == {
        p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.py")}
    assert set(_entry_points(installed)) == {"pear-train", "pear-sweep", "pear-tensions", "sos-eval", "sos-analyze",
                                             "sos-judge", "tpu-pod", "sos-pear-plan"}


@pytest.mark.slow
def test_every_launcher_parses_its_flags_with_its_default_config_outside_the_checkout(installed, tmp_path):
    site = installed.resolve()
    for script, target in _entry_points(installed).items():
        module = target.partition(":")[0]
        proc = subprocess.run([sys.executable, "-c", _PARSE, module], cwd=tmp_path, env=_env(installed),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{script}: {proc.stderr[-3000:]}"
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert Path(out["module"]).resolve().is_relative_to(site), (script, out["module"])
        if script == "tpu-pod":
            assert "config" not in out["flags"]
            continue
        config = Path(out["config_path"]).resolve()
        assert config.is_relative_to(site / "sos_pear_launch" / "configs") and config.is_file(), (script, config)
        assert out["config_keys"], script
        # Mesh and multi-host flags only where the launcher honours them.
        # (sos-pear-plan compiles for a target's devices: its mesh is config.mesh_model.)
        assert ("mesh_model" in out["flags"]) == (script not in ("sos-analyze", "sos-pear-plan")), script


@pytest.mark.slow
def test_console_script_runs_from_another_directory(installed, tmp_path):
    """The generated script itself: `sos-analyze --helpfull` lists the config shipped in the package."""
    proc = subprocess.run([sys.executable, str(installed / "bin" / "sos-analyze"), "--helpfull"], cwd=tmp_path,
                          env=_env(installed), capture_output=True, text=True, timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), text[-3000:]  # absl's --helpfull exits 1
    assert "sos_pear_launch/configs/sos/analyze.py" in text and "--results" in text
