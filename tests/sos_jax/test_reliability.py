"""Reliability on the SOS side (issue 14): configs checked before anything starts, one results file
per model and config (a partial one says so and is replaced), bad custom targets and empty
judgment files give errors naming the task/document or file, and caches live in one folder."""

from __future__ import annotations

import json

import pytest

from jaxrun.checks import ConfigError
from sos_jax.analysis.config import base_config as analysis_config
from sos_jax.analysis.config import validate as validate_analysis
from sos_jax.harness.config import base_config, validate
from sos_jax.harness.runner import EvalSettings, evaluate_model
from sos_jax.judge.config import validate as validate_judge
from sos_jax.judge.judgments import read_judgments
from sos_jax.tasks.custom import TaskConfigError, task_from_dict

from .harness.conftest import FakeLM


@pytest.mark.parametrize("field, value, message", [
    ("tasks", "sos,leaderbord_bbh", "unknown task or group 'leaderbord_bbh'; did you mean leaderboard_bbh"),
    ("tasks", "", "config.tasks is empty"),
    ("limit", 0, "config.limit=0: must be >= 1"),
    ("data_source", "hubb", "did you mean 'hub'"),
    ("dtype", "fp32", "config.dtype='fp32'"),
    ("max_gen_toks", -1, "config.max_gen_toks=-1"),
    ("models", [], "config.models is empty"),
])
def test_eval_config_is_checked_by_field(field, value, message):
    c = base_config()
    c[field] = value
    with pytest.raises((ConfigError, ValueError), match=message):
        validate(c)
    validate(base_config())


def test_eval_config_names_a_missing_model_path(tmp_path):
    c = base_config()
    c.models = [str(tmp_path / "nope")]
    with pytest.raises(FileNotFoundError, match="nope"):
        validate(c)


@pytest.mark.parametrize("field, value, message", [
    ("prompt", "arena", "did you mean 'arena_hard'"),
    ("batch_size", 0, "config.batch_size=0: must be >= 1"),
    ("max_gen_toks", 0, "config.max_gen_toks=0"),
    ("questions", "/nonexistent/q.jsonl", "no such file"),
])
def test_judge_config_is_checked_by_field(field, value, message):
    import runpy
    from pathlib import Path

    get_config = runpy.run_path(str(Path(__file__).resolve().parents[2] / "configs" / "sos" / "judge.py"))["get_config"]
    c = get_config()
    validate_judge(c)
    c[field] = value
    with pytest.raises(ConfigError, match=message):
        validate_judge(c)


@pytest.mark.parametrize("field, value, message", [
    ("normalization", "zscor", "did you mean 'zscore'"),
    ("level", 1.5, "config.level=1.5"),
    ("methods", ("pearson", "spearmann"), r"config.methods\[1\]"),
    ("n_bootstrap", 0, "config.n_bootstrap=0"),
])
def test_analysis_config_is_checked_by_field(field, value, message):
    c = analysis_config()
    validate_analysis(c)
    c[field] = value
    with pytest.raises(ConfigError, match=message):
        validate_analysis(c)


class DiesOnSecondTask(FakeLM):
    def loglikelihood(self, requests):
        if self.calls:
            raise KeyboardInterrupt  # a kill between tasks
        return super().loglikelihood(requests)


def test_one_results_file_per_model_and_config_partial_until_complete(tmp_path):
    settings = EvalSettings(tasks=("xstest", "wmdp_bio"))
    with pytest.raises(KeyboardInterrupt):
        evaluate_model(DiesOnSecondTask(), "m", settings, tmp_path)
    [partial] = (tmp_path / "m").glob("results_*.json")
    assert json.loads(partial.read_text())["partial"] is True
    evaluate_model(FakeLM(), "m", settings, tmp_path)
    evaluate_model(FakeLM(), "m", settings, tmp_path)  # a rerun replaces, never adds
    [final] = (tmp_path / "m").glob("results_*.json")
    assert final == partial and json.loads(final.read_text())["partial"] is False
    evaluate_model(FakeLM(), "m", EvalSettings(tasks=("xstest", "wmdp_bio"), limit=1), tmp_path)
    assert len(list((tmp_path / "m").glob("results_*.json"))) == 2  # another config: its own file


def test_custom_task_target_out_of_range_names_task_and_document():
    task = task_from_dict({"task": "mine", "dataset_path": "x", "doc_to_text": "{{q}}",
                           "doc_to_choice": ["yes", "no"], "doc_to_target": "label"}, source="mine.yaml")
    assert task.gold({"q": "a", "label": 1}) == 1
    with pytest.raises(TaskConfigError, match=r"mine.yaml \(task 'mine'\) doc_to_target: target 5 of document "
                                              r"\{\"q\": \"b\", \"label\": 5\} is not one of its 2 choices"):
        task.gold({"q": "b", "label": 5})


@pytest.mark.parametrize("name, content", [("j.jsonl", ""), ("j.csv", "index,question_id,model,score\n")])
def test_an_empty_judgments_file_says_so(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=f"{name}: the judgments file holds no judgments"):
        read_judgments(tmp_path / name)


def test_caches_live_in_the_project_cache_folder(tmp_path, monkeypatch):
    from sos_jax.harness.models import default_cache_dir

    monkeypatch.setenv("SOS_PEAR_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "models"
