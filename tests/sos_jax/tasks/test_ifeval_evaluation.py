"""IFEval evaluation plumbing: loose variants, aggregation, seeded language detection, bad input."""

import pytest

from sos_jax.tasks import ifeval
from sos_jax.tasks.ifeval import language


def _doc(ids, kwargs, key=7):
    return {"key": key, "prompt": "p", "instruction_id_list": ids, "kwargs": kwargs}


def test_loose_variants_in_lmeval_order():
    variants = ifeval.loose_variants("first *line*\n middle \nlast")
    assert variants == [
        "first *line*\n middle \nlast", "first line\n middle \nlast",
        "middle \nlast", "first *line*\n middle", "middle",
        "middle \nlast", "first line\n middle", "middle",
    ]


def test_loose_passes_when_only_a_variant_follows():
    out = ifeval.process_results(_doc(["punctuation:no_comma", "startend:quotation"], [{}, {}]),
                                 'Sure, here:\n"quoted"')
    assert out == {"prompt_level_strict_acc": False, "inst_level_strict_acc": [False, False],
                   "prompt_level_loose_acc": True, "inst_level_loose_acc": [True, True]}


def test_agg_inst_level_acc_flattens():
    assert ifeval.agg_inst_level_acc([[True, False], [True], [False, False, True]]) == 0.5
    with pytest.raises(ValueError, match="no instruction verdicts"):
        ifeval.agg_inst_level_acc([[], []])


def test_language_detection_is_seeded_and_leaves_langdetect_global_alone(monkeypatch):
    import langdetect

    texts = ["yes no", "la la", "sure thing", "ciao bella"]  # "yes no": unseeded, es or tr at random
    ours = [language.detect_language(t) for t in texts]
    assert all([language.detect_language(t) for t in texts] == ours for _ in range(5))
    assert langdetect.DetectorFactory.seed is None
    monkeypatch.setattr(langdetect.DetectorFactory, "seed", 0)
    assert [langdetect.detect(t) for t in texts] == ours
    with pytest.raises(language.UndetectableLanguage):
        language.detect_language("12345 !!!")


@pytest.mark.parametrize("ids,kwargs,message", [
    (["keywords:unknown"], [{}], "unknown IFEval instruction id 'keywords:unknown'"),
    (["punctuation:no_comma"], [{"num_words": 3}], "unexpected arguments \\['num_words'\\]"),
    (["length_constraints:number_words"], [{"num_words": 3}], "missing arguments \\['relation'\\]"),
    (["length_constraints:number_words"], [{"num_words": 0, "relation": "at least"}], "missing arguments"),
    (["length_constraints:number_words"], [{"num_words": 3, "relation": "at most"}], "'relation'.*at least"),
    (["length_constraints:number_words"], [{"num_words": "3", "relation": "at least"}], "expected an integer"),
    (["length_constraints:number_words"], [{"num_words": -3, "relation": "at least"}], "expected >= 0"),
    (["keywords:letter_frequency"], [{"letter": "ab", "let_frequency": 2, "let_relation": "at least"}],
     "one ASCII letter"),
    (["keywords:existence"], [{"keywords": "banana"}], "list of strings"),
    (["keywords:existence"], [{"keywords": ["a**"]}], "'keywords': 'a\\*\\*' is not a valid regex"),
    (["keywords:forbidden_words"], [{"forbidden_words": ["ok", "(x"]}], "'forbidden_words'.*not a valid regex"),
    (["length_constraints:nth_paragraph_first_word"],
     [{"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "so"}], "'nth_paragraph'"),
    (["punctuation:no_comma", "startend:quotation"], [{}], "'kwargs' must be a list of 2 dicts"),
    ("punctuation:no_comma", [{}], "'instruction_id_list' must be a list"),
])
def test_bad_docs_raise_clear_errors(ids, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        ifeval.process_results(_doc(ids, kwargs), "response")
    assert "key=7" in str(err.value)


def test_non_string_response_is_rejected():
    with pytest.raises(ValueError, match="response must be a string"):
        ifeval.process_results(_doc(["punctuation:no_comma"], [{}]), None)


def test_integral_floats_are_accepted_as_counts():
    doc = _doc(["length_constraints:number_words"], [{"num_words": 3.0, "relation": "less than"}])
    assert ifeval.process_results(doc, "two words")["prompt_level_strict_acc"] is True
