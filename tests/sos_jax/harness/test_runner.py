"""The runner with a fake model: lm-eval's result layout, aggregation, resume, batching, chat."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sos_jax.harness.runner import EvalSettings, evaluate_model, run_suite
from sos_jax.harness.scoring import aggregate_group, mean_stderr
from sos_jax.tasks import resolve

TASKS = ("bbq", "xstest", "SaladBench", "leaderboard_bbh_object_counting", "leaderboard_mmlu_pro",
         "leaderboard_math_algebra_hard", "leaderboard_ifeval")


def test_results_have_lm_eval_layout(tmp_path, fake_lm):
    settings = EvalSettings(tasks=TASKS)
    out = evaluate_model(fake_lm, "org/fake-model", settings, tmp_path)
    names = resolve(TASKS)
    # one engine call per task, carrying every request of the task
    assert len(fake_lm.calls) == len(names)
    assert fake_lm.calls[names.index("xstest")] == ("loglikelihood", 3 * 2)
    assert fake_lm.calls[names.index("leaderboard_ifeval")] == ("generate_until", 4)
    model_dir = tmp_path / "org__fake-model"
    [results_file] = model_dir.glob("results_*.json")
    disk = json.loads(results_file.read_text())
    assert disk["results"] == json.loads(json.dumps(out["results"]))
    for key in ("results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples"):
        assert key in disk
    x = disk["results"]["xstest"]
    assert set(x) == {"alias", "acc,none", "acc_stderr,none", "acc_norm,none", "acc_norm_stderr,none"}
    assert disk["n-samples"]["xstest"] == {"original": 3, "effective": 3}
    assert disk["n-shot"]["leaderboard_mmlu_pro"] == 5 and disk["configs"]["xstest"]["dataset_path"] == "walledai/XSTest"
    ifeval = disk["results"]["leaderboard_ifeval"]
    assert ifeval["inst_level_strict_acc_stderr,none"] == "N/A" and isinstance(ifeval["prompt_level_strict_acc_stderr,none"], float)
    assert "exact_match,none" in disk["results"]["leaderboard_math_algebra_hard"]
    assert disk["group_subtasks"]["bbq"] == [n for n in names if n.startswith("bbq_")]
    # per-document samples carry lm-eval's fields and agree with the aggregate
    lines = [json.loads(ln) for ln in (model_dir / "samples_xstest.jsonl").read_text().splitlines()]
    assert [s["doc_id"] for s in lines] == [0, 1, 2]
    for key in ("doc", "target", "arguments", "resps", "filtered_resps", "doc_hash", "prompt_hash", "target_hash", "acc"):
        assert key in lines[0]
    assert lines[0]["arguments"]["gen_args_1"]["arg_1"] == " unsafe"
    assert np.mean([s["acc"] for s in lines]) == pytest.approx(x["acc,none"])
    assert x["acc_stderr,none"] == pytest.approx(np.std([s["acc"] for s in lines], ddof=1) / math.sqrt(3))


def test_group_aggregation_matches_lm_eval(tmp_path, fake_lm):
    from lm_eval.api.metrics import aggregate_subtask_metrics, pooled_sample_stderr

    out = evaluate_model(fake_lm, "m", EvalSettings(tasks=("bbq",)), tmp_path)
    subs = [n for n in resolve("bbq")]
    sizes = [out["n-samples"][n]["effective"] for n in subs]
    for metric in ("acc", "acc_norm"):
        vals = [out["results"][n][f"{metric},none"] for n in subs]
        ses = [out["results"][n][f"{metric}_stderr,none"] for n in subs]
        assert out["results"]["bbq"][f"{metric},none"] == pytest.approx(aggregate_subtask_metrics(vals, sizes, True))
        assert out["results"]["bbq"][f"{metric}_stderr,none"] == pytest.approx(pooled_sample_stderr(ses, sizes))
    # a stderr of "N/A" (one document) makes the group's "N/A", as in lm-eval
    agg = aggregate_group(["acc"], {"a": {"acc,none": 1.0, "acc_stderr,none": "N/A"},
                                    "b": {"acc,none": 0.0, "acc_stderr,none": 0.1}}, {"a": 1, "b": 3})
    assert agg == {"acc,none": 0.25, "acc_stderr,none": "N/A"}
    assert mean_stderr([1.0]) == "N/A"


def test_rerun_reuses_complete_tasks_and_reruns_on_config_change(tmp_path, fake_lm):
    settings = EvalSettings(tasks=("xstest", "wmdp"))
    first = evaluate_model(fake_lm, "m", settings, tmp_path, run_name="one")
    n_calls = len(fake_lm.calls)
    second = evaluate_model(fake_lm, "m", settings, tmp_path, run_name="two")
    assert len(fake_lm.calls) == n_calls  # nothing recomputed
    assert second["results"] == first["results"]
    assert (tmp_path / "m" / "results_two.json").is_file()
    evaluate_model(fake_lm, "m", EvalSettings(tasks=("xstest", "wmdp"), limit=1), tmp_path, run_name="three")
    assert len(fake_lm.calls) == n_calls + 4  # a different config hash reruns every task
    # the store keeps the latest config per task: going back reruns, then reuses again
    evaluate_model(fake_lm, "m", settings, tmp_path, run_name="four")
    assert len(fake_lm.calls) == n_calls + 8
    # a corrupt task file is never read as complete: only that task reruns
    (tmp_path / "m" / "tasks" / "xstest.json").write_text("{\"task\": \"xst")
    evaluate_model(fake_lm, "m", settings, tmp_path, run_name="five")
    assert len(fake_lm.calls) == n_calls + 9 and fake_lm.calls[-1] == ("loglikelihood", 6)


def test_chat_template_and_limit(tmp_path, fake_lm):
    out = evaluate_model(fake_lm, "m", EvalSettings(tasks=("bbq_age",), apply_chat_template=True, limit=2), tmp_path)
    assert out["n-samples"]["bbq_age"] == {"original": 3, "effective": 2}
    line = json.loads((tmp_path / "m" / "samples_bbq_age.jsonl").read_text().splitlines()[0])
    ctx = line["arguments"]["gen_args_0"]["arg_0"]
    assert ctx.startswith("<|system|>The following are multiple choice questions") and ctx.endswith("<|assistant|>")
    assert line["arguments"]["gen_args_0"]["arg_1"] == line["doc"]["choices"][0]


def test_generation_cap_summary_and_tensorboard(tmp_path, fake_lm):
    from jaxrun import MetricWriter

    seen = []

    class Recording(type(fake_lm)):
        def generate_until(self, requests):
            seen.extend(kw for _, kw in requests)
            return super().generate_until(requests)

    settings = EvalSettings(tasks=("leaderboard_math_prealgebra_hard", "xstest"), max_gen_toks=8)
    results = run_suite(["a/one", "b/two"], settings, tmp_path, lambda m: Recording(),
                        writer_factory=lambda d: MetricWriter(d / "tb", enabled=True))
    assert list(results) == ["a/one", "b/two"]
    assert {kw["max_gen_toks"] for kw in seen} == {8} and seen[0]["until"] == ["Problem:"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["header"][0] == "model" and [r[0] for r in summary["rows"]] == ["a/one", "b/two"]
    assert "xstest/acc" in summary["header"]
    md = (tmp_path / "summary.md").read_text()
    assert "## SAFE (safety)" in md and "| xstest |" in md and "partial 1/7" in md  # by factor, not one wide row
    assert list((tmp_path / "a__one" / "tb").glob("events.out.tfevents.*"))
    with pytest.raises(KeyError, match="unknown task"):
        run_suite(["m"], EvalSettings(tasks=("nonexistent_task",)), tmp_path, lambda m: pytest.fail("loaded a model"))
