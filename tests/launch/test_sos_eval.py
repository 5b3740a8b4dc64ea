"""`launch/sos_eval.py` end to end in subprocesses (absl flags are process-global)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(args, tmp_path, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    return subprocess.run([sys.executable, "-m", "launch.sos_eval", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _config(name):
    spec = importlib.util.spec_from_file_location(f"sos_cfg_{name}", ROOT / "configs" / "sos" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def test_configs_describe_the_embedded_default_and_the_real_suite():
    from sos_jax.tasks import resolve

    default = _config("default")
    assert default.models == ["builtin:tiny"] and default.tasks == "sos" and default.data_source == "sample"
    assert len(resolve(default.tasks)) == 63
    assert default.max_gen_toks == 32  # the random model never stops; real runs keep each task's length
    full = _config("full")
    assert full.data_source == "hub" and full.max_gen_toks is None and list(full.models) == []
    smoke = _config("smoke")
    assert len(resolve(smoke.tasks)) == 10


@pytest.mark.slow
def test_launcher_runs_resumes_and_writes_lm_eval_results(tmp_path):
    custom = tmp_path / "yn.yaml"
    (tmp_path / "yn.jsonl").write_text('{"q": "Is ice cold?", "y": 0}\n{"q": "Is fire cold?", "y": 1}\n')
    custom.write_text("task: my_yes_no\ndataset_path: json\ndata_files: yn.jsonl\ndoc_to_text: 'Q: {{q}}\\nA:'\n"
                      "doc_to_choice: ['yes', 'no']\ndoc_to_target: y\n")
    args = ["--config=" + str(ROOT / "configs" / "sos" / "smoke.py"), "--workdir=out", "--model=builtin:tiny",
            "--tasks=xstest,leaderboard_bbh_boolean_expressions,leaderboard_ifeval,my_yes_no",
            f"--custom_tasks={custom}", "--limit=2", "--config.max_gen_toks=4"]
    first = _run(args, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "SOS-Bench results for 1 model(s)" in first.stdout
    model_dir = tmp_path / "out" / "builtin__tiny"
    [results] = model_dir.glob("results_*.json")
    payload = json.loads(results.read_text())
    assert set(payload["results"]) >= {"xstest", "leaderboard_bbh_boolean_expressions", "leaderboard_ifeval", "my_yes_no"}
    assert payload["n-samples"]["xstest"] == {"original": 3, "effective": 2}
    assert "docs/s" in first.stderr and "ETA" in first.stderr
    assert list((model_dir / "tb").glob("events.out.tfevents.*"))
    assert (tmp_path / "out" / "summary.md").is_file()
    second = _run(args, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("complete for this config, reused") == 4


def test_launcher_errors_name_the_problem(tmp_path):
    missing = _run(["--model=/no/such/checkpoint", "--tasks=xstest", "--workdir=out"], tmp_path)
    assert missing.returncode != 0
    assert "model path '/no/such/checkpoint' does not exist" in missing.stderr


def test_base_config_mirrors_the_eval_settings_defaults():
    from sos_jax.harness.config import EvalSettings, base_config, settings_from_config

    assert settings_from_config(base_config()) == EvalSettings()


def test_run_config_fails_before_loading_any_model(tmp_path):
    from sos_jax.harness.config import base_config, run_config

    config = base_config()
    config.tasks = "xstets"
    with pytest.raises(KeyError, match="did you mean xstest"):
        run_config(config, tmp_path, mesh=None)
    config.tasks = "xstest"
    config.models = ["builtin:tiny", "/no/such/second/model"]
    with pytest.raises(FileNotFoundError, match="'/no/such/second/model' does not exist"):
        run_config(config, tmp_path, mesh=None)
    config.models = []
    with pytest.raises(ValueError, match="no model given"):
        run_config(config, tmp_path, mesh=None)
    assert not (tmp_path / "models").exists()
