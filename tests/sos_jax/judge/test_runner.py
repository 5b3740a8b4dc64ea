"""Tests for sos_jax/judge/runner.py with a deterministic fake judge LM."""

import json
import re

import numpy as np
import pytest

from sos_jax.judge.battles import battles_from_judgments
from sos_jax.judge.judgments import read_judgments
from sos_jax.judge.runner import JudgeRunner

_ANSWER_RE = re.compile(
    r"<\|The Start of Assistant A's Answer\|>\n(.*?)\n<\|The End of Assistant A's Answer\|>.*?"
    r"<\|The Start of Assistant B's Answer\|>\n(.*?)\n<\|The End of Assistant B's Answer\|>",
    re.S,
)


class FakeJudge:
    """Prefers the longer answer (strongly if 2x longer); emits junk for prompts containing JUNK."""

    def __init__(self, fail_after_calls=None):
        self.calls = 0
        self.requests = []
        self.fail_after_calls = fail_after_calls

    def apply_chat_template(self, messages):
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"

    def generate_until(self, requests):
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise RuntimeError("judge crashed")
        self.calls += 1
        out = []
        for prompt, kw in requests:
            assert kw["do_sample"] is False and kw["max_gen_toks"] == 64 and isinstance(kw["until"], list)
            self.requests.append(prompt)
            a, b = _ANSWER_RE.search(prompt).groups()
            if "JUNK" in prompt:
                out.append("I cannot decide [[A>>>B]] ((maybe))")
                continue
            la, lb = len(a), len(b)
            label = "A=B" if la == lb else ("A>>B" if la >= 2 * lb else "A>B") if la > lb else (
                "B>>A" if lb >= 2 * la else "B>A")
            crit = f"Correctness: ((A=B))\nStyle: (({label}))\n" if "Correctness:" in prompt else ""
            out.append(f"My answer: 42.\n{crit}Example: [[A=B]]. My final verdict is [[{label}]]")
        return out


QUESTIONS = {"q1": "What is 6*7?", "q2": "Name a colour.", "q3": "JUNK question"}
ANSWERS = {
    "base": {"q1": "42", "q2": "red", "q3": "x"},
    "long": {"q1": "It is 42, because six sevens make **forty-two**.", "q2": "# Colours\n- red\n- blue", "q3": "yy"},
    "short": {"q1": "4", "q2": "re", "q3": "z"},
}


def test_judges_both_orders_and_reads_back(tmp_path):
    out = tmp_path / "j.jsonl"
    lm = FakeJudge()
    summary = JudgeRunner(lm, max_gen_toks=64, batch_size=5).run(QUESTIONS, ANSWERS, baseline="base", out_path=out)
    assert summary.judged == 12 and summary.skipped == 0 and summary.malformed == 4
    assert lm.calls == 3  # 12 games in batches of 5
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 12 and {r["game"] for r in recs} == {1, 2}
    first = next(r for r in recs if r["question_id"] == "q1" and r["model"] == "long" and r["game"] == 1)
    assert first["score"] == "B>>A" and first["style_a"]["token_len"] == 1 and first["style_b"]["bold_count"] == 1
    # The prompt is the Arena-Hard one: the judge is asked to answer first.
    assert "generating your own answer" in lm.requests[0]

    j = read_judgments(out)
    assert len(j) == 12 and j.n_malformed == 4
    battles = battles_from_judgments(j)
    long_wins = battles.outcome[np.array(battles.models)[battles.a] == "long"]
    assert np.all(long_wins == 1.0)  # wins in both answer orders
    short = np.array(battles.models)[battles.a] == "short"
    assert np.all(battles.outcome[short] == 0.0)
    assert battles.style is not None and battles.style.shape == (8, 4)


def test_interrupted_run_resumes_without_repeating(tmp_path):
    out = tmp_path / "j.jsonl"
    crashing = FakeJudge(fail_after_calls=2)
    runner = JudgeRunner(crashing, max_gen_toks=64, batch_size=4)
    with pytest.raises(RuntimeError, match="judge crashed"):
        runner.run(QUESTIONS, ANSWERS, baseline="base", out_path=out)
    parts = sorted((tmp_path / "j.jsonl.parts").glob("*.jsonl"))
    assert not out.exists() and [p.name for p in parts] == ["000001.jsonl", "000002.jsonl"]
    assert [len(p.read_text().splitlines()) for p in parts] == [4, 4]  # complete batches only

    lm = FakeJudge()
    summary = JudgeRunner(lm, max_gen_toks=64, batch_size=4).run(QUESTIONS, ANSWERS, baseline="base", out_path=out)
    assert summary.skipped == 8 and summary.judged == 4 and lm.calls == 1
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    keys = [(r["question_id"], r["model"], r["game"]) for r in recs]
    assert len(keys) == len(set(keys)) == 12
    assert not (tmp_path / "j.jsonl.parts").exists()  # merged into the output and removed
    again = JudgeRunner(FakeJudge(), max_gen_toks=64).run(QUESTIONS, ANSWERS, baseline="base", out_path=out)
    assert again.judged == 0 and again.skipped == 12


def test_multi_criteria_prompt_records_criteria(tmp_path):
    out = tmp_path / "m.jsonl"
    lm = FakeJudge()
    JudgeRunner(lm, prompt="multi_criteria", max_gen_toks=64).run(
        {"q1": QUESTIONS["q1"]}, ANSWERS, baseline="base", out_path=out, models=["long"]
    )
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["criteria"]["style"] for r in recs] == ["B>>A", "A>>B"]
    assert recs[0]["criteria"]["safety"] is None and recs[0]["criteria"]["correctness"] == "A=B"
    j = read_judgments(out)
    assert j.criteria["style"].tolist() == [5, 1] and j.criteria["safety"].tolist() == [0, 0]


def test_bad_inputs_are_reported(tmp_path):
    with pytest.raises(ValueError, match="prompt must be one of"):
        JudgeRunner(FakeJudge(), prompt="vibes")
    with pytest.raises(KeyError, match="model 'short', question_id 'q3'"):
        JudgeRunner(FakeJudge()).run(QUESTIONS, {**ANSWERS, "short": {"q1": "a", "q2": "b"}}, baseline="base",
                                     out_path=tmp_path / "x.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": "q1", "model": "long", "game": 1}\n{truncated\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl: line 2: not valid JSON"):
        JudgeRunner(FakeJudge()).run(QUESTIONS, ANSWERS, baseline="base", out_path=bad)


class NoTemplateJudge(FakeJudge):
    def apply_chat_template(self, messages):
        raise ValueError("tokenizer of 'x' has no chat template (tokenizer_config.json 'chat_template')")


def test_chat_template_auto_falls_back_and_records_it(tmp_path):
    lm = NoTemplateJudge()
    out = tmp_path / "p.jsonl"
    JudgeRunner(lm, max_gen_toks=64).run({"q1": QUESTIONS["q1"]}, ANSWERS, baseline="base", out_path=out, models=["long"])
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["chat_template"] for r in recs] == [False, False] and recs[0]["score"] == "B>>A"
    assert lm.requests[0].startswith("Please act as an impartial judge")
    with pytest.raises(ValueError, match="no chat template"):
        JudgeRunner(NoTemplateJudge(), max_gen_toks=64, chat_template=True).run(
            {"q1": "x"}, ANSWERS, baseline="base", out_path=tmp_path / "q.jsonl", models=["long"])
    JudgeRunner(FakeJudge(), max_gen_toks=64, write=False).run(
        {"q1": "x"}, ANSWERS, baseline="base", out_path=tmp_path / "none.jsonl", models=["long"])
    assert not (tmp_path / "none.jsonl").exists()
