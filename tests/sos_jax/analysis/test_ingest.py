import json
import math

import numpy as np
import pytest

from sos_jax.analysis.ingest import read_leaderboard, read_lm_eval_json, read_results, read_samples, read_wide_csv


def write_lm_eval_run(root, model, task_acc, with_samples=True, date="2024-07-22T10-11-12.123456"):
    """Writes an lm-eval style run: results_<date>.json and samples_<task>_<date>.jsonl per task."""
    d = root / model.replace("/", "__")
    d.mkdir(parents=True, exist_ok=True)
    results = {}
    for task, values in task_acc.items():
        v = np.asarray(values, float)
        results[task] = {"alias": task, "acc,none": float(v.mean()),
                         "acc_stderr,none": float(v.std(ddof=1) / math.sqrt(len(v)))}
        if with_samples:
            lines = [json.dumps({"doc_id": i, "filter": "none", "metrics": ["acc"], "acc": float(x)}) for i, x in enumerate(v)]
            (d / f"samples_{task}_{date}.jsonl").write_text("\n".join(lines) + "\n")
    (d / f"results_{date}.json").write_text(json.dumps({"results": results, "model_name": model,
                                                        "config": {"model_args": f"pretrained={model}"}}))
    return d


def test_lm_eval_json_and_samples(tmp_path):
    d = write_lm_eval_run(tmp_path, "org/m1", {"xstest": [1, 0, 1, 1], "wmdp_bio": [0, 0, 1]})
    res = read_lm_eval_json(next(d.glob("results_*.json")))
    assert res.model == "org/m1"
    assert res.scores["xstest/acc"] == pytest.approx(0.75)
    assert res.stderrs["xstest/acc"] == pytest.approx(np.std([1, 0, 1, 1], ddof=1) / 2)
    assert set(res.samples) == {"xstest", "wmdp_bio"}
    assert res.samples["wmdp_bio"].metric("acc") == pytest.approx(1 / 3)
    write_lm_eval_run(tmp_path, "org/m1", {"xstest": [1, 1, 1, 1]}, date="2024-08-01T00-00-00.000000")
    write_lm_eval_run(tmp_path, "org/m2", {"xstest": [0, 1]}, with_samples=False)
    found = read_results(tmp_path)  # directory: searched recursively, newest results file per folder
    assert [(r.model, r.scores["xstest/acc"]) for r in found] == [("org/m1", 1.0), ("org/m2", 0.5)]
    assert not found[1].samples
    assert found[0].samples["xstest"].metric("acc") == 1.0  # the newest run's own per-question log


def test_ifeval_instruction_level_samples_are_ratios(tmp_path):
    p = tmp_path / "samples_leaderboard_ifeval.jsonl"
    recs = [{"doc_id": 0, "prompt_level_strict_acc": True, "inst_level_strict_acc": [True, False, True]},
            {"doc_id": 1, "prompt_level_strict_acc": False, "inst_level_strict_acc": [False]}]
    p.write_text("\n".join(json.dumps(r) for r in recs))
    log = read_samples(p, ["prompt_level_strict_acc", "inst_level_strict_acc"])
    assert log.metric("prompt_level_strict_acc") == 0.5
    assert log.metric("inst_level_strict_acc") == pytest.approx(2 / 4)  # pooled over instructions


def test_wide_csv_with_na_stderr(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text("Name,Runtime,leaderboard_ifeval/inst_level_strict_acc,leaderboard_ifeval/inst_level_strict_acc_stderr,"
                 "xstest/acc,xstest/acc_stderr\nm1,12,0.5,N/A,0.6,0.02\nm2,13,0.4,N/A,,\n")
    rows = read_wide_csv(p)
    assert [r.model for r in rows] == ["m1", "m2"]
    assert math.isnan(rows[0].stderrs["leaderboard_ifeval/inst_level_strict_acc"])
    assert rows[0].stderrs["xstest/acc"] == 0.02
    assert "xstest/acc" not in rows[1].scores  # empty cell: missing, not zero


def test_errors_name_file_and_column(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text("Name,xstest/acc,xstest/acc_stderr\nm1,oops,0.1\n")
    with pytest.raises(ValueError, match=r"wide\.csv: line 2, column 'xstest/acc'"):
        read_wide_csv(p)
    ah = tmp_path / "ah.csv"
    ah.write_text("model,score,rating_q025,rating_q975\nm1,50,40,x\n")
    with pytest.raises(ValueError, match=r"ah\.csv: line 2, column 'rating_q975'"):
        read_leaderboard(ah)
    lb = tmp_path / "lb.csv"
    lb.write_text("model,score\nm1,1\nm1,2\n")
    with pytest.raises(ValueError, match=r"lb\.csv.*'m1' appears twice"):
        read_leaderboard(lb)
    bad = tmp_path / "results_x.json"
    bad.write_text(json.dumps({"results": {"xstest": {"acc,none": "high"}}}))
    with pytest.raises(ValueError, match=r"results_x\.json: results\['xstest'\]\['acc,none'\]"):
        read_lm_eval_json(bad)
    s = tmp_path / "samples_t.jsonl"
    s.write_text(json.dumps({"doc_id": 0, "acc": 1}) + "\n" + json.dumps({"doc_id": 1}) + "\n")
    with pytest.raises(ValueError, match=r"samples_t\.jsonl: line 2: missing metric field 'acc'"):
        read_samples(s, ["acc"])


def test_published_tables(anchors):
    rows = read_results(anchors / "eleuther_wandb.csv")
    assert len(rows) == 35
    first = rows[0]
    assert first.model == "Llama-3-8B"
    assert math.isnan(first.stderrs["leaderboard_ifeval/inst_level_loose_acc"])
    assert 0 < first.scores["leaderboard_mmlu_pro/acc"] < 1
    ah = read_leaderboard(anchors / "arena_hard_auto.csv")
    i = ah.models.index("gpt-4-0314")
    assert ah.column()[i] == 50 and ah.ci_low["score"][i] == 50
    lg = read_leaderboard(anchors / "livebench_groups.csv")
    assert lg.primary == "average" and len(lg.models) == 148
    lt = read_leaderboard(anchors / "livebench_tasks.csv")
    assert np.isnan(lt.column("LCB_generation")).sum() == 2
