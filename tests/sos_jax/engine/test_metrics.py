"""Multiple-choice metrics: unit cases, and per-document equality with lm-eval's own evaluation of a
tiny local task through its `hf` backend on the same model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sos_jax.engine import multiple_choice_metrics


def test_acc_acc_norm_acc_bytes():
    choices = ["a", "much longer", "é"]
    lls = [-3.0, -5.5, -2.9]
    m = multiple_choice_metrics(lls, choices, gold=1)
    assert m["pred"] == 2 and m["acc"] == 0.0
    # per character: -3, -0.5, -2.9 -> choice 1; per byte: -3, -0.5, -1.45 -> choice 1
    assert m["pred_norm"] == 1 and m["acc_norm"] == 1.0
    assert m["pred_bytes"] == 1 and m["acc_bytes"] == 1.0
    assert m["choice_logprobs"] == lls
    # bytes differ from characters for non-ASCII choices
    m = multiple_choice_metrics([-2.0, -1.9], ["éé", "ab"], gold=0)
    assert m["pred_norm"] == 1 and m["pred_bytes"] == 0


def test_multiple_golds_ties_and_pairs():
    m = multiple_choice_metrics([(-1.0, True), (-1.0, False), (-4.0, False)], ["x", "y", "z"], gold=[1, 2])
    assert m["pred"] == 0 and m["acc"] == 0.0  # ties go to the first choice, like np.argmax
    assert m["exact_match"] == 0.0
    assert multiple_choice_metrics([(-1.0, True), (-2.0, False)], ["x", "y"], gold=[0])["exact_match"] == 1.0


def test_metric_errors():
    with pytest.raises(ValueError, match="2 loglikelihoods for 3 choices"):
        multiple_choice_metrics([-1.0, -2.0], ["a", "b", "c"], 0)
    with pytest.raises(ValueError, match="gold 3 is not an index"):
        multiple_choice_metrics([-1.0, -2.0], ["a", "b"], 3)
    with pytest.raises(ValueError, match="empty string"):
        multiple_choice_metrics([-1.0, -2.0], ["a", ""], 0)
    with pytest.raises(ValueError, match="non-finite"):
        multiple_choice_metrics([float("nan"), -2.0], ["a", "b"], 0)


TASK_YAML = """task: tiny_engine_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: choices
doc_to_target: label
metric_list:
  - metric: acc
  - metric: acc_norm
  - metric: acc_bytes
"""


def tiny_mc_docs(n=16, seed=0):
    rng = np.random.default_rng(seed)
    words = "the water river city energy plant animal history science answer model style quality".split()
    docs = []
    for _ in range(n):
        question = " ".join(rng.choice(words, rng.integers(4, 12)))
        choices = [" ".join(rng.choice(words, rng.integers(1, 5))) for _ in range(4)]
        docs.append({"question": question, "choices": choices, "label": int(rng.integers(0, 4))})
    return docs


def test_acc_and_acc_norm_equal_lm_eval(engine, llama_dir, tmp_path):
    import lm_eval
    from lm_eval.tasks import TaskManager

    docs = tiny_mc_docs()
    data = tmp_path / "tiny_mc.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    task_dir = tmp_path / "tasks"
    task_dir.mkdir()
    (task_dir / "tiny_engine_mc.yaml").write_text(TASK_YAML.format(data=data))

    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={llama_dir},dtype=float32",
        tasks=["tiny_engine_mc"],
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),
        device="cpu",
        batch_size=8,
        log_samples=True,
    )
    samples = sorted(out["samples"]["tiny_engine_mc"], key=lambda s: s["doc_id"])
    assert len(samples) == len(docs)

    requests = [(f"Question: {d['question']}\nAnswer:", " " + c) for d in docs for c in d["choices"]]
    lls = engine.loglikelihood(requests)
    ours = {"acc": [], "acc_norm": [], "acc_bytes": []}
    for i, (doc, sample) in enumerate(zip(docs, samples)):
        per_choice = lls[4 * i : 4 * i + 4]
        m = multiple_choice_metrics(per_choice, doc["choices"], doc["label"])
        theirs_ll = [float(r[0]) for r in sample["filtered_resps"]]
        np.testing.assert_allclose(m["choice_logprobs"], theirs_ll, atol=1e-4)
        for key in ours:
            assert m[key] == sample[key], f"doc {i} {key}"
            ours[key].append(m[key])
    res = out["results"]["tiny_engine_mc"]
    for key, values in ours.items():
        assert np.mean(values) == pytest.approx(res[f"{key},none"])
    # The normalisation matters on this data, so the acc_norm check is not a copy of acc.
    assert ours["acc"] != ours["acc_norm"]
