"""End-to-end test of `python -m launch.plan`: a small model from a config.json planned for a v5e
2x2 slice from this host (engine kernels and the PEAR train step), printed and written as JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = dict(model_type="llama", vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, intermediate_size=128, max_position_embeddings=512)


def test_plan_launcher_on_v5e_2x2(tmp_path):
    pytest.importorskip("libtpu", reason="TPU topologies need libtpu (the test extra installs jax[tpu])")
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-m", "launch.plan", f"--workdir={tmp_path / 'w'}", f"--config.model={tmp_path}",
         "--config.shapes.score_rows=1", "--config.shapes.row_len=128", "--config.shapes.gen_rows=4",
         "--config.shapes.prompt_len=64", "--config.shapes.max_new=16", "--config.search_limit_rows=4"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    plan = json.loads((tmp_path / "w" / "plan.json").read_text())
    assert plan["target"] == "v5e:2x2" and plan["devices"] == 4 and plan["mesh"] == {"data": 1, "model": 4}
    assert all(plan["kernels"][k]["fits"] for k in ("score", "score_after_prefix", "prefill", "decode")) and plan["pear"]["fits"]
    assert plan["max_score_rows"] == 4  # the search limit: a tiny model fits anything asked
    # The hand count is matmuls only; in a 64-wide model norms and softmax are a visible share.
    assert plan["projected_hours"] > 0 and 1.0 < plan["score_flops_vs_hand_count"] < 1.5
    for line in ("score            fits", "pear_train_step  fits", "largest scoring batch: 4 rows", "at 40% MFU"):
        assert line in out.stdout
