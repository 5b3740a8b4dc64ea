"""The launcher end to end, in-process (absl flags + config file), on lm-eval style results with
per-question logs, a leaderboard CSV and a CSV name map."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from absl import flags

TASKS = ("xstest", "CDNA", "leaderboard_mmlu_pro")
BASE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sos" / "analyze.py"


def _config_file(tmp_path, **overrides):
    """Writes a config file deriving from configs/sos/analyze.py (`--config.x=` overrides are read
    from sys.argv when the flag is defined, which an in-process test cannot arrange)."""
    body = "".join(f"    c.{k} = {v!r}\n" for k, v in overrides.items())
    p = tmp_path / "analyze_test_config.py"
    p.write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('base_analyze', {str(BASE_CONFIG)!r})\n"
        "base = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(base)\n\n\n"
        f"def get_config():\n    c = base.get_config()\n{body}    return c\n")
    return p


def _write_run(root, model, rng, skill):
    d = root / model
    d.mkdir(parents=True)
    results = {}
    for task in TASKS:
        v = (rng.uniform(size=60) < skill).astype(float)
        results[task] = {"alias": task, "acc,none": v.mean(), "acc_stderr,none": v.std(ddof=1) / math.sqrt(60)}
        (d / f"samples_{task}.jsonl").write_text("".join(
            json.dumps({"doc_id": i, "filter": "none", "metrics": ["acc"], "acc": x}) + "\n" for i, x in enumerate(v)))
    (d / "results_2024-01-01T00-00-00.json").write_text(json.dumps({"results": results, "model_name": model}))


@pytest.fixture()
def parsed_flags():
    import launch.sos_analyze  # noqa: F401  (defines the flags)

    yield flags.FLAGS
    flags.FLAGS.unparse_flags()


def test_launcher_writes_report(tmp_path, parsed_flags):
    from launch import sos_analyze

    rng = np.random.default_rng(0)
    skills = {"org__a": 0.3, "org__b": 0.5, "org__c": 0.6, "org__d": 0.8}
    for m, s in skills.items():
        _write_run(tmp_path / "runs", m, rng, s)
    (tmp_path / "lb.csv").write_text("model,score\n" + "".join(f"{m.upper()}-chat,{10 * s}\n" for m, s in skills.items()))
    (tmp_path / "names.csv").write_text("alias,canonical\n" + "".join(f"{m.upper()}-chat,{m}\n" for m in skills))
    out = tmp_path / "report"
    parsed_flags([
        "sos_analyze", f"--results={tmp_path / 'runs'}", f"--leaderboards={tmp_path / 'lb.csv'}",
        f"--name_map={tmp_path / 'names.csv'}", f"--workdir={out}",
        "--config=" + str(_config_file(tmp_path, n_bootstrap=300, n_corr_bootstrap=400, n_permutations=1000,
                                       normalization="zscore")),
    ])
    sos_analyze.main(["sos_analyze"])
    a = json.loads((out / "analysis.json").read_text())
    fs = a["factor_scores"]
    assert fs["ci_method"] == "bootstrap over questions" and fs["normalization"] == "zscore"
    assert set(fs["overall"]) == set(skills)
    (row,) = [r for r in a["correlations"] if r["target"] == "overall"]
    assert row["n"] == 4 and row["stats"]["spearman"]["p_method"] == "exact (24 permutations)"
    assert (out / "report.md").is_file() and (out / "plots" / "correlation_heatmap.png").is_file()


def test_launcher_bad_results_path_names_it(tmp_path, parsed_flags):
    from launch import sos_analyze

    parsed_flags(["sos_analyze", f"--results={tmp_path / 'nope.json'}", f"--workdir={tmp_path / 'o'}"])
    with pytest.raises(FileNotFoundError, match="nope.json"):
        sos_analyze.main(["sos_analyze"])


def _fake_anchors(root):
    art = root / "artifacts"
    art.mkdir(parents=True)
    for name in ("eleuther_wandb.csv", "arena_hard_auto.csv", "livebench_groups.csv",
                 "exploded-multifactor-scoring-4o-judge-scores-only.csv"):
        (art / name).write_text("model\n")
    return root


def test_demo_uses_anchor_tables_when_present(tmp_path):
    from launch import demos
    from sos_jax.analysis.report import ANCHOR_NAME_MAP

    root = _fake_anchors(tmp_path / "sos-bench")
    assert demos.find_anchors(root) == root
    d = demos.analysis_demo_inputs(tmp_path / "work", anchors=root)
    assert d.results == [root / "artifacts" / "eleuther_wandb.csv"]
    assert root / "artifacts" / "arena_hard_auto.csv" in d.leaderboards
    assert d.name_map == ANCHOR_NAME_MAP and d.judgments is not None and d.judge_baseline


def test_demo_without_anchors_analyses_the_default_suite_on_tiny_models(tmp_path, parsed_flags, monkeypatch):
    """No --results and no anchor tables: configs/sos/default.py runs on n tiny models, then the analysis."""
    import sos_jax.harness.config
    from launch import demos, sos_analyze

    runs = []

    def fake_run_config(config, workdir, mesh):
        runs.append(config)
        for m in config.models:
            d = Path(workdir) / m.replace(":", "__")
            d.mkdir(parents=True)
            (d / "results_x.json").write_text(json.dumps({"model_name": m, "results": {
                "xstest": {"acc,none": 0.4 + 0.1 * int(m[-1]), "acc_stderr,none": 0.05}}}))
        return {}

    monkeypatch.setattr(demos, "find_anchors", lambda start=None: None)
    monkeypatch.setattr(sos_jax.harness.config, "run_config", fake_run_config)
    out = tmp_path / "o"
    parsed_flags(["sos_analyze", f"--workdir={out}", "--config=" + str(_config_file(tmp_path, demo_models=3, plots=False))])
    sos_analyze.main(["sos_analyze"])
    (config,) = runs
    assert list(config.models) == ["builtin:tiny:0", "builtin:tiny:1", "builtin:tiny:2"]
    assert config.tasks == "sos" and config.data_source == "sample" and config.max_gen_toks == 32
    a = json.loads((out / "analysis.json").read_text())
    assert a["inputs"]["description"].startswith("harness demo results (3 tiny random models)")
    assert sorted(a["factor_scores"]["overall"]) == ["builtin:tiny:0", "builtin:tiny:1", "builtin:tiny:2"]
    assert a["correlations"] == [] and (out / "report.md").is_file()


def test_judge_demo_set_has_a_baseline_answer_for_every_question():
    from launch import demos

    questions, answers = demos.judge_demo_set()
    assert "baseline" in answers and len(answers) == 3
    assert all(set(a) == set(questions) for a in answers.values())
