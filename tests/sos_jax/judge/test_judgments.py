"""Tests for sos_jax/judge/judgments.py: ingest of the anchor CSV, JSONL formats, and errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from sos_jax.judge.battles import battles_from_judgments
from sos_jax.judge.judgments import judgments_from_records, read_judgments

ANCHOR = (
    Path(__file__).resolve().parents[3].parent
    / "shared/anchors/sos-bench/artifacts/exploded-multifactor-scoring-4o-judge-scores-only.csv"
)


@pytest.fixture(scope="module")
def anchor():
    return read_judgments(ANCHOR, baseline="baseline")


def test_anchor_parses_to_the_usable_rows(anchor):
    # MANIFEST.md: 12,297 records, 297 are spreadsheet debris, index 481's two games are empty.
    assert len(anchor) == 11_998
    assert anchor.n_dropped == 297 + 2
    assert len(set(anchor.question_id)) == 500
    assert len(anchor.models) == 12
    counts = {m: int((anchor.model == m).sum()) for m in anchor.models}
    assert sorted(counts.values()) == [998] + [1000] * 11  # WildChat lost index 481
    assert set(anchor.judge) == {"gpt-4o-2024-08-06"}
    assert list(anchor.criteria) == ["correctness", "completeness", "safety", "conciseness", "style", "score_final"]
    assert set(np.unique(anchor.verdict)) <= {1, 2, 3, 4, 5}
    for col in anchor.criteria.values():
        assert set(np.unique(col)) <= {1, 2, 3, 4, 5}
    # Games alternate 1, 2 within each index; game 1 favours A (the baseline), game 2 favours B.
    assert (anchor.game == 1).sum() == (anchor.game == 2).sum() == 5_999
    assert 1.85 < anchor.verdict[anchor.game == 1].mean() < 2.0
    assert 3.95 < anchor.verdict[anchor.game == 2].mean() < 4.1
    # score_final is style_score except in three games (MANIFEST.md).
    assert (anchor.criteria["score_final"] != anchor.criteria["style"]).sum() == 3


def test_anchor_battles_follow_arena_hard_weighting(anchor):
    battles = battles_from_judgments(anchor)
    assert battles.models[0] == "baseline"
    assert len(battles) == 11_998
    strong = np.isin(anchor.verdict, (1, 5))
    assert battles.n_rows == len(battles) + 2 * int(strong.sum())
    opt = battles.models.index("facebook/opt-125m")
    assert battles.outcome[battles.a == opt].max() == 0.0  # never wins nor ties


def test_jsonl_arena_hard_and_per_game_records(tmp_path):
    path = tmp_path / "judgments.jsonl"
    recs = [
        {"question_id": "q1", "model": "m", "judge": "j", "games": [{"score": "A>B"}, {"score": "B>>A", "style_score": 2}]},
        {"uid": "q2", "model": "m", "baseline": "base", "games": [{"score": None}, {"score": "junk [[A=B]]"}]},
        {"question_id": "q3", "model": "m2", "baseline": "base", "game": 2, "score": "[[B<A]]",
         "criteria": {"style": "A>B"}, "style_a": {"token_len": 5, "header_count": 0, "list_count": 1, "bold_count": 0},
         "style_b": {"token_len": 7, "header_count": 1, "list_count": 0, "bold_count": 2}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    j = read_judgments(path, baseline="base")
    assert len(j) == 5
    assert j.verdict.tolist() == [2, 5, 0, 3, 2]
    assert j.game.tolist() == [1, 2, 1, 2, 2]
    assert j.n_malformed == 1
    assert list(j.baseline) == ["base"] * 5
    assert j.criteria["style"].tolist() == [0, 2, 0, 0, 2]
    assert np.isnan(j.style_a[0]).all() and j.style_b[4].tolist() == [7, 1, 0, 2]


@pytest.mark.parametrize(
    "content, match",
    [
        ("index,question_id,model\n0,328c149ed45a41c0b9d6f14659e63599,m\n", r"bad\.csv: missing column\(s\) \['score'\]"),
        (
            "index,question_id,model,score,style_score\n0,328c149ed45a41c0b9d6f14659e63599,m,A>B,7\n",
            r"bad\.csv: line 2, column 'style_score': expected a verdict label",
        ),
        (
            "index,question_id,model,score\n0,328c149ed45a41c0b9d6f14659e63599,m,A>C\n",
            r"bad\.csv: line 2, column 'score'",
        ),
        ("", r"bad\.csv: empty file"),
    ],
)
def test_csv_errors_name_file_and_column(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_judgments(path)


@pytest.mark.parametrize(
    "line, match",
    [
        ("{not json", r"bad\.jsonl: line 1: not valid JSON"),
        ('{"model": "m", "games": [{"score": "A>B"}]}', r"bad\.jsonl: record 1, field 'question_id'"),
        ('{"question_id": "q", "games": [{"score": "A>B"}]}', r"bad\.jsonl: record 1, field 'model'"),
        ('{"question_id": "q", "model": "m", "games": "A>B"}', r"bad\.jsonl: record 1, field 'games'"),
        ('{"question_id": "q", "model": "m", "games": [{"score": "A>B", "safety_score": "x"}]}',
         r"bad\.jsonl: record 1, field 'safety_score'"),
        ('{"question_id": "q", "model": "m", "game": 3, "score": "A>B"}', r"bad\.jsonl: record 1, field 'game'"),
    ],
)
def test_jsonl_errors_name_file_and_field(tmp_path, line, match):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=match):
        read_judgments(path)


def test_unknown_format_and_missing_baseline(tmp_path):
    with pytest.raises(ValueError, match=r"x\.txt: unknown judgments format"):
        (tmp_path / "x.txt").write_text("")
        read_judgments(tmp_path / "x.txt")
    j = judgments_from_records([{"question_id": "q", "model": "m", "games": [{"score": "A>B"}]}])
    with pytest.raises(ValueError, match="pass baseline=NAME"):
        battles_from_judgments(j)
    with pytest.raises(ValueError, match="judged against itself"):
        battles_from_judgments(j, baseline="m")
    with pytest.raises(ValueError, match="no criterion 'style'"):
        battles_from_judgments(j, baseline="b", criterion="style")
