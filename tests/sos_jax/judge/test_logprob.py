"""Log-probability verdicts: label probabilities recorded per game, agreement with generated
verdicts, Bradley-Terry on expected scores, and SmolLM2-135M-Instruct judging the demo pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sos_jax.judge.bradley_terry import bt_leaderboard
from sos_jax.judge.logprob import VERDICT_PREFIX, criterion_prefix, expected_b_win, expected_score_battles
from sos_jax.judge.runner import JudgeRunner
from sos_jax.judge.verdicts import CRITERIA, LABELS
from tests.sos_jax.judge.test_runner import _ANSWER_RE, ANSWERS, QUESTIONS, FakeJudge


def _preferred(prompt: str) -> str:
    a, b = _ANSWER_RE.search(prompt).groups()
    la, lb = len(a), len(b)
    if la == lb:
        return "A=B"
    if la > lb:
        return "A>>B" if la >= 2 * lb else "A>B"
    return "B>>A" if lb >= 2 * la else "B>A"


class FakeScorer(FakeJudge):
    """Also scores labels: log-prob 0 for the label FakeJudge would generate, -2 for the others;
    every criterion prefers a tie."""

    def __init__(self):
        super().__init__()
        self.scored = []

    def loglikelihood(self, requests):
        self.scored.append(len(requests))
        out = []
        for context, continuation in requests:
            label = continuation[:-2]
            assert label in LABELS and continuation[-2:] in ("]]", "))")
            if context.endswith(VERDICT_PREFIX):
                best = _preferred(context)
            else:
                assert any(context.endswith(criterion_prefix(c)) for c in CRITERIA)
                best = "A=B"
            out.append((0.0 if label == best else -2.0, False))
        return out


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_logprob_verdicts_record_probabilities(tmp_path):
    lm = FakeScorer()
    out = tmp_path / "j.jsonl"
    summary = JudgeRunner(lm, verdicts="logprob", batch_size=4).run(QUESTIONS, ANSWERS, baseline="base", out_path=out)
    assert (summary.judged, summary.malformed) == (12, 0)
    assert lm.calls == 0 and sum(lm.scored) == 12 * 5  # no generation; five labels per game
    p_best = 1 / (1 + 4 * np.exp(-2.0))
    for rec in _read(out):
        probs = rec["label_probs"]
        assert list(probs) == list(LABELS) and sum(probs.values()) == pytest.approx(1.0)
        assert probs[rec["score"]] == pytest.approx(p_best)
        assert rec["score"] is not None and not rec["malformed"] and "generated_score" not in rec


def test_multi_criteria_logprob_verdicts(tmp_path):
    out = tmp_path / "j.jsonl"
    JudgeRunner(FakeScorer(), prompt="multi_criteria", verdicts="logprob").run(QUESTIONS, ANSWERS, baseline="base",
                                                                               out_path=out)
    for rec in _read(out):
        assert set(rec["criteria_probs"]) == set(CRITERIA)
        assert rec["criteria"] == {c: "A=B" for c in CRITERIA}
        assert sum(rec["criteria_probs"]["style"].values()) == pytest.approx(1.0)


def test_both_modes_report_agreement(tmp_path):
    out = tmp_path / "j.jsonl"
    lm = FakeScorer()
    runner = JudgeRunner(lm, verdicts="both", max_gen_toks=64)
    summary = runner.run(QUESTIONS, ANSWERS, baseline="base", out_path=out)
    recs = _read(out)
    # The JUNK question's generations are malformed: compared only on the 8 well-formed games.
    assert summary.compared == 8 and summary.agreement == 1.0 and summary.malformed == 0
    assert sum(r["generated_score"] is None for r in recs) == 4


def test_disagreement_is_counted(tmp_path):
    class Contrary(FakeScorer):
        def loglikelihood(self, requests):
            return [(0.0 if c.startswith("A=B") else -1.0, False) for _, c in requests]

    summary = JudgeRunner(Contrary(), verdicts="both", max_gen_toks=64).run(
        QUESTIONS, ANSWERS, baseline="base", out_path=tmp_path / "j.jsonl")
    assert summary.compared == 8 and summary.agreement == 0.0


def test_unknown_verdict_mode():
    with pytest.raises(ValueError, match="verdicts must be one of"):
        JudgeRunner(FakeScorer(), verdicts="vote")


def test_bradley_terry_on_expected_scores(tmp_path):
    out = tmp_path / "j.jsonl"
    JudgeRunner(FakeScorer(), verdicts="logprob").run(QUESTIONS, ANSWERS, baseline="base", out_path=out)
    recs = _read(out)
    battles = expected_score_battles(recs, baseline="base")
    assert len(battles) == 12 and (battles.weight == 1).all()
    assert 0 < battles.outcome.min() and battles.outcome.max() < 1  # soft outcomes, not 0/1
    rec = recs[0]
    expected = expected_b_win(rec["label_probs"])
    assert battles.outcome[0] == pytest.approx(expected if rec["game"] == 1 else 1 - expected)
    board = bt_leaderboard(battles, baseline="base", n_bootstrap=8)
    ratings = dict(zip(board.models, board.rating))
    assert ratings["long"] > ratings["base"] > ratings["short"]
    with pytest.raises(ValueError, match="label_probs"):
        expected_score_battles([{k: v for k, v in rec.items() if k != "label_probs"}])


def test_smollm2_judge_gives_every_demo_game_a_verdict(smollm2_gguf, tmp_path):
    from jaxrun import make_mesh
    from launch.demos import judge_demo_set
    from sos_jax.engine.engine import Engine

    lm = Engine.from_pretrained(str(smollm2_gguf), make_mesh(), max_length=1024)
    questions, answers = judge_demo_set()
    out = tmp_path / "j.jsonl"
    summary = JudgeRunner(lm, verdicts="logprob").run(questions, answers, baseline="baseline", out_path=out)
    recs = _read(out)
    assert summary.malformed == 0 and len(recs) == summary.judged == 12
    assert all(r["score"] in LABELS for r in recs)
    assert all(abs(sum(r["label_probs"].values()) - 1) < 1e-6 for r in recs)
    assert len({json.dumps(r["label_probs"]) for r in recs}) > 1  # the answers move the probabilities


def test_judge_config_accepts_verdict_modes_and_names_a_bad_one():
    import importlib.util
    from pathlib import Path

    from jaxrun.checks import ConfigError
    from sos_jax.judge.config import validate

    path = Path(__file__).resolve().parents[3] / "configs" / "sos" / "judge.py"
    spec = importlib.util.spec_from_file_location("judge_cfg", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    for mode in ("generate", "logprob", "both"):
        config.verdicts = mode
        validate(config)
    config.verdicts = "vote"
    with pytest.raises(ConfigError, match="verdicts"):
        validate(config)
