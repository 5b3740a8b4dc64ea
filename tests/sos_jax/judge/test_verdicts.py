"""Tests for sos_jax/judge/verdicts.py: verdict parsing on adversarial judge output."""

import pytest

from sos_jax.judge.verdicts import CODE, count_verdicts, parse_criteria, parse_verdict, verdict_code


@pytest.mark.parametrize(
    "text, expected",
    [
        ("My final verdict is tie: [[A=B]]", "A=B"),
        ("[[A>>B]]", "A>>B"),
        ("[[B>>A]] trailing words", "B>>A"),
        # The judge quotes the label list first; the last verdict is its own.
        ("Labels: [[A>>B]] [[A>B]] [[A=B]] [[B>A]] [[B>>A]]. My final verdict: [[B>A]]", "B>A"),
        ("Example output: [[A=B]]\n...\nMy final verdict is [[A>B]].", "A>B"),
        # Mirrored spellings map to the canonical label.
        ("[[B<A]]", "A>B"),
        ("[[A<<B]]", "B>>A"),
        ("[[B=A]]", "A=B"),
        ("[[ B>A ]]", "B>A"),
        # Malformed candidates are skipped, the last well-formed one wins.
        ("[[A>B]] then [[A>>>B]]", "A>B"),
        ("[[[B>A]]]", "B>A"),
        ("[[A>B]] [[C>D]] [[a>b]]", "A>B"),
    ],
)
def test_parse_verdict_takes_last_well_formed_label(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no verdict at all",
        "[A>B]",
        "[[A>>>B]]",
        "[[a>b]]",
        "[[A>B]",
        "[[A > B]]",
        "[[A=]]",
        "[[]]",
        "((A>B))",
        "[[A>B\n]]x[[B>C]]".replace("A>B\n", "A>\nB"),
        "\x00\uffff[[\u00c5>B]]",
        None,
        42,
        b"[[A>B]]",
    ],
)
def test_parse_verdict_returns_none_on_malformed(text):
    assert parse_verdict(text) is None


def test_count_verdicts_counts_malformed():
    labels = [parse_verdict(t) for t in ["[[A>B]]", "junk", "[[A>B]]", None, "[[B>>A]]"]]
    counts = count_verdicts(labels)
    assert counts["A>B"] == 2 and counts["B>>A"] == 1 and counts["malformed"] == 2
    assert sum(counts.values()) == 5


def test_parse_criteria_reads_double_parentheses_and_ignores_overall():
    text = (
        "Correctness: A is right. ((A>B))\n"
        "Completeness: ((A=B))\n"
        "Safety: ((A=B))\nConciseness: ((B>A))\n"
        "style: first ((A>>B)) then revised: Style: ((B>>A))\n"
        "My final verdict is [[A>B]]"
    )
    assert parse_criteria(text) == {
        "correctness": "A>B",
        "completeness": "A=B",
        "safety": "A=B",
        "conciseness": "B>A",
        "style": "B>>A",
    }
    assert parse_criteria("Correctness: [[A>B]]")["correctness"] is None
    assert parse_criteria(None) == {c: None for c in parse_criteria("")}


def test_verdict_code_accepts_labels_and_codes_and_rejects_junk():
    assert [verdict_code(v) for v in ("A>>B", "A>B", "A=B", "B>A", "B>>A")] == [1, 2, 3, 4, 5]
    assert verdict_code("[[B<<A]]") == CODE["A>>B"]
    assert verdict_code(4) == 4 and verdict_code("5") == 5 and verdict_code(2.0) == 2
    assert verdict_code("") == 0 and verdict_code(None) == 0 and verdict_code(float("nan")) == 0
    for bad in ("6", 0, "A>C", True, "better"):
        with pytest.raises(ValueError, match="expected a verdict label"):
            verdict_code(bad)
