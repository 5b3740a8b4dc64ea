"""On a tiny random model, our runner's metrics equal `lm_eval --model hf` on the same local data.

Both read the built-in sample documents: lm-eval through task YAMLs over the same JSONL files
(`tests/sos_jax/lmeval_tasks.py`), we through the registry and the JAX engine.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sos_jax.harness.results import model_slug
from sos_jax.harness.runner import EvalSettings, evaluate_model

from ..lmeval_tasks import write_task_yamls

TASKS = ("leaderboard_bbh_boolean_expressions", "xstest", "SaladBench", "wmdp_bio")


@pytest.mark.slow
def test_metrics_equal_lm_eval_hf(tmp_path, make_tiny_hf_model, devices):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from jaxrun import make_mesh
    from sos_jax.harness.models import load_engine

    model_dir = make_tiny_hf_model("llama")
    mapping = write_task_yamls(tmp_path / "yaml", TASKS)
    ref = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model_dir},dtype=float32", tasks=list(mapping.values()),
        task_manager=TaskManager(include_path=str(tmp_path / "yaml"), include_defaults=False),
        device="cpu", batch_size=8, log_samples=True, random_seed=0, numpy_random_seed=1234,
        torch_random_seed=1234, fewshot_random_seed=1234,
    )
    engine = load_engine(str(model_dir), make_mesh())
    ours = evaluate_model(engine, str(model_dir), EvalSettings(tasks=TASKS), tmp_path / "ours")
    for name, lm_name in mapping.items():
        theirs = ref["results"][lm_name]
        for metric in ("acc", "acc_norm"):
            key = f"{metric},none"
            if key in theirs:
                assert ours["results"][name][key] == pytest.approx(theirs[key], abs=1e-9), (name, metric)
                assert ours["results"][name][f"{metric}_stderr,none"] == pytest.approx(theirs[f"{metric}_stderr,none"])
        # per-choice loglikelihoods agree closely, so the metrics are not equal by luck
        ref_lls = [float(r[0][0]) for s in sorted(ref["samples"][lm_name], key=lambda s: s["doc_id"]) for r in s["resps"]]
        lines = (tmp_path / "ours" / model_slug(str(model_dir)) / f"samples_{name}.jsonl").read_text().splitlines()
        our_lls = [r[0][0] for ln in lines for r in json.loads(ln)["resps"]]
        np.testing.assert_allclose(our_lls, ref_lls, rtol=1e-4, atol=1e-4)
