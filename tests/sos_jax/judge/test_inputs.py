"""Tests for sos_jax/judge/inputs.py: Arena-Hard question and answer files."""

import json

import pytest

from sos_jax.judge.inputs import load_answers, load_questions


def write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_questions_v01_and_v2(tmp_path):
    q = write(tmp_path / "q.jsonl", [
        {"question_id": "a", "turns": [{"content": "hi?"}]},
        {"uid": "b", "prompt": "why?"},
    ])
    assert load_questions(q) == {"a": "hi?", "b": "why?"}


def test_answers_from_directory_in_three_formats(tmp_path):
    d = tmp_path / "model_answer"
    d.mkdir()
    write(d / "m1.jsonl", [{"question_id": "a", "model_id": "m1", "choices": [{"index": 0, "turns": [{"content": "A1"}]}]}])
    write(d / "m2.jsonl", [{"uid": "a", "model": "m2",
                             "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": {"answer": "A2"}}]}])
    write(d / "m3.jsonl", [{"question_id": "a", "model": "m3", "answer": "A3"}])
    assert load_answers(d) == {"m1": {"a": "A1"}, "m2": {"a": "A2"}, "m3": {"a": "A3"}}
    assert load_answers(d / "m3.jsonl") == {"m3": {"a": "A3"}}


def test_errors_name_file_line_and_field(tmp_path):
    with pytest.raises(ValueError, match=r"q\.jsonl: line 2, field 'turns'"):
        load_questions(write(tmp_path / "q.jsonl", [{"uid": "a", "prompt": "x"}, {"question_id": "b", "turns": []}]))
    with pytest.raises(ValueError, match=r"a\.jsonl: line 1, field 'model'"):
        load_answers(write(tmp_path / "a.jsonl", [{"question_id": "a", "answer": "x"}]))
    with pytest.raises(ValueError, match=r"b\.jsonl: line 1, field 'answer'"):
        load_answers(write(tmp_path / "b.jsonl", [{"question_id": "a", "model": "m", "choices": []}]))
    with pytest.raises(FileNotFoundError, match="no such questions file"):
        load_questions(tmp_path / "missing.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \*\.jsonl answer files"):
        load_answers(tmp_path / "empty")
