"""Every one of IFEval's 25 checkers, strict and loose, equals lm-eval's `leaderboard_ifeval` verdict.

The reference is lm-eval's own code (`lm_eval.tasks.leaderboard.ifeval.utils.process_results`),
run offline: its punkt_tab model is installed from the bundled tables into a temporary NLTK data
dir, downloads are forbidden, and langdetect is seeded (lm-eval leaves it unseeded) so both sides
see the same detector.
"""

import pytest

from sos_jax.tasks import ifeval

EN = ("The weather in the mountains was cold and clear this morning, so we walked along the river "
      "and talked about our plans for the summer holidays.")
FR = ("Le temps dans les montagnes était froid et clair ce matin, alors nous avons marché le long "
      "de la rivière en parlant de nos projets pour les vacances.")
DE = "Das Wetter in den Bergen war heute Morgen kalt und klar, also gingen wir am Fluss entlang."

# (instruction id, kwargs, response). Each id has strict passes and strict failures; the
# "loose" cases fail strict and pass only after dropping a line or the asterisks.
CASES = [
    ("keywords:existence", {"keywords": ["banana", "split"]}, "I ate a Banana split today."),
    ("keywords:existence", {"keywords": ["banana", "split"]}, "I ate a banana."),
    ("keywords:existence", {"keywords": ["a.c"]}, "xyz abc"),  # keywords are raw regexes
    ("keywords:frequency", {"keyword": "cat", "frequency": 3, "relation": "at least"}, "cat Cat CAT"),
    ("keywords:frequency", {"keyword": "cat", "frequency": 3, "relation": "at least"}, "cat and cat"),
    ("keywords:frequency", {"keyword": " cat ", "frequency": 2, "relation": "less than"}, "concatenate cat"),
    ("keywords:frequency", {"keyword": "dog", "frequency": 2, "relation": "less than"}, "one dog only"),
    ("keywords:forbidden_words", {"forbidden_words": ["dog", "cat"]}, "I like birds and a catalog."),
    ("keywords:forbidden_words", {"forbidden_words": ["dog", "cat"]}, "My Dog barks."),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"}, "Zebra zoo z"),
    ("keywords:letter_frequency", {"letter": "Z", "let_frequency": 3, "let_relation": "at least"}, "lazy"),
    ("keywords:letter_frequency", {"letter": "e", "let_frequency": 2, "let_relation": "less than"}, "tree"),
    ("keywords:letter_frequency", {"letter": "e", "let_frequency": 2, "let_relation": "less than"}, "tea"),
    ("language:response_language", {"language": "en"}, EN),
    ("language:response_language", {"language": "en"}, FR),
    ("language:response_language", {"language": "fr"}, FR),
    ("language:response_language", {"language": "de"}, EN),
    ("language:response_language", {"language": "de"}, "12345 678"),  # undetectable counts as followed
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"}, "One. Two."),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "Mr. Smith came. He sat. He left."),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"},
     "Dr. Who met Mr. Smith at 3 p.m. on Jan. 5 in the U.S."),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"}, "Dr. Who? Yes!"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "A\n***\nB\n***\nC"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "A *** B"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "***\nA\n***\nB\n***\nC\n***"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "A\n***\n\n***\nB"),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, "one two three"),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, "one two three four five"),
    ("length_constraints:number_words", {"num_words": 6, "relation": "at least"}, "it's a well-known fact"),
    ("length_constraints:number_words", {"num_words": 7, "relation": "at least"}, "it's a well-known fact"),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "however"}, "Intro.\n\nHowever, this works."),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "However"}, "Intro.\n\n\"However\" it is."),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "however"}, "Intro.\n\nBut no."),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "however"}, "Intro.\n\nHowever.\n\nThird."),
    ("length_constraints:nth_paragraph_first_word",  # an empty leading piece shifts the index
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "however"}, "\n\nIntro.\n\nHowever x."),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 1, "nth_paragraph": 1, "first_word": "οδος"}, "ΟΔΟΣ is a Greek word."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], at [address]."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name]."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\n\nP.S. see you"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi. PS see you"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "text\np. p. s. more"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "text\nP.S. more"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n* b"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n- b\n- c"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "**bold**\n* a\n  * b"),
    ("detectable_format:constrained_response", {}, "  My answer is yes.  "),
    ("detectable_format:constrained_response", {}, "Yes."),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and *two*"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* only and * *"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "**bold** text"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 3}, "**bold** text"),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nfoo\nSection 2\nbar"),
    ("detectable_format:multiple_sections", {"section_spliter": " Section ", "num_sections": 2}, "Section 1 only"),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2},
     "Section 1\nfoo\nSection 2\nbar"),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```'),
    ("detectable_format:json_format", {}, '```JSON\n[1, 2]\n```'),
    ("detectable_format:json_format", {}, "{a: 1}"),
    ("detectable_format:title", {}, "<<My Title>>\ntext"),
    ("detectable_format:title", {}, "<<  >> text"),
    ("detectable_format:title", {}, "<<broken\ntitle>>"),
    ("combination:two_responses", {}, "A\n******\nB"),
    ("combination:two_responses", {}, "******\nA\n******\nB\n******"),
    ("combination:two_responses", {}, "A\n******\n A "),
    ("combination:two_responses", {}, "A ****** ****** B"),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem about cats."},
     "  write a POEM about cats. Here it is."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem about cats."}, "Here is a poem about cats."),
    ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"},
     'Done. Is there anything else I can help with?"  '),
    ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"},
     "Is there anything else I can help with? Thanks"),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"},
     "THE QUICK brown FOX."),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"}, "The Quick"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"}, "I am OK."),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"},
     "Use the U.S. API now."),
    ("change_case:english_capital", {}, EN.upper()),
    ("change_case:english_capital", {}, EN),
    ("change_case:english_capital", {}, FR.upper()),
    ("change_case:english_capital", {}, "123 456 !!!"),
    ("change_case:english_lowercase", {}, EN.lower()),
    ("change_case:english_lowercase", {}, EN),
    ("change_case:english_lowercase", {}, DE.lower()),
    ("punctuation:no_comma", {}, "no commas here"),
    ("punctuation:no_comma", {}, "a, b"),
    ("startend:quotation", {}, '  "quoted"  '),
    ("startend:quotation", {}, 'not "quoted"'),
    ("startend:quotation", {}, '"'),
    # Loose-only passes.
    ("punctuation:no_comma", {}, "Sure, here you go:\nNo commas in this line"),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Done. Any other questions?\nHope this helps"),
    ("detectable_format:json_format", {}, 'Here is the JSON:\n{"a": [1, 2]}'),
    ("startend:quotation", {}, 'Answer:\n"All wrapped in quotes"\n-- end'),
    ("detectable_format:title", {}, "<<*>>\nbody"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "Intro line\nA\n***\nB"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "Here:\n* a\n* b\n- footnote"),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "Okay!\nSay hi. Hi!"),
    ("keywords:frequency", {"keyword": "a\\*b", "frequency": 1, "relation": "at least"}, "x *a*b"),
    ("change_case:english_lowercase", {}, "Title\n" + EN.lower()),
    ("length_constraints:number_words", {"num_words": 3, "relation": "less than"}, "Header words here\nok fine"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi\n*P*.S. later"),
    # Blank responses fail every instruction, strict and loose.
    ("punctuation:no_comma", {}, "   \n  "),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, ""),
]


@pytest.fixture(scope="module")
def lmeval(offline_nltk):
    """lm-eval's leaderboard IFEval utils, importable offline, with langdetect seeded."""
    import langdetect

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(langdetect.DetectorFactory, "seed", 0)
        from lm_eval.tasks.leaderboard.ifeval import utils

        yield utils


def _doc(instruction_id, kwargs, key=0):
    return {"key": key, "prompt": "prompt text", "instruction_id_list": [instruction_id], "kwargs": [kwargs]}


def test_ids_are_lmevals_25_in_order(lmeval):
    from lm_eval.tasks.ifeval import instructions_registry

    assert len(ifeval.INSTRUCTION_IDS) == 25
    assert ifeval.INSTRUCTION_IDS == tuple(instructions_registry.INSTRUCTION_DICT)


@pytest.mark.parametrize("instruction_id,kwargs,response", CASES)
def test_verdicts_equal_lmeval(lmeval, instruction_id, kwargs, response):
    doc = _doc(instruction_id, kwargs)
    assert ifeval.process_results(doc, response) == lmeval.process_results(doc, [response])


def test_cases_cover_every_instruction_passing_and_failing(lmeval):
    strict, loose = {}, {}
    for instruction_id, kwargs, response in CASES:
        out = lmeval.process_results(_doc(instruction_id, kwargs), [response])
        strict.setdefault(instruction_id, set()).add(out["prompt_level_strict_acc"])
        loose.setdefault(instruction_id, set()).add(out["prompt_level_loose_acc"])
    assert set(strict) == set(ifeval.INSTRUCTION_IDS)
    assert all(verdicts == {True, False} for verdicts in strict.values()), strict
    loose_only = [c for c in CASES
                  if (lambda o: o["prompt_level_loose_acc"] and not o["prompt_level_strict_acc"])(
                      lmeval.process_results(_doc(c[0], c[1]), [c[2]]))]
    assert len(loose_only) >= 10


def test_huggingface_kwargs_with_none_fields_equal_lmeval(lmeval):
    # The HF dataset stores every instruction's argument names, unused ones as None.
    all_names = sorted({name for _, kwargs, _ in CASES for name in kwargs})
    for instruction_id, kwargs, response in CASES[::3]:
        padded = {name: kwargs.get(name) for name in all_names}
        doc = _doc(instruction_id, padded)
        assert ifeval.process_results(doc, response) == lmeval.process_results(doc, [response])


BATCH = [
    ({"key": 1, "prompt": "Write about spring.", "instruction_id_list": [
        "punctuation:no_comma", "detectable_format:title", "length_constraints:number_words"],
      "kwargs": [{}, {}, {"num_words": 10, "relation": "at least"}]},
     "<<Spring>>\nSpring is the season when flowers bloom and birds return home."),
    ({"key": 2, "prompt": "Answer in lowercase.", "instruction_id_list": [
        "change_case:english_lowercase", "startend:end_checker"],
      "kwargs": [{}, {"end_phrase": "Any other questions?"}]},
     "Sure, here it is.\nthe answer is that the train leaves at noon from the central station. any other questions?"),
    ({"key": 3, "prompt": "Two responses.", "instruction_id_list": [
        "combination:two_responses", "keywords:existence", "detectable_format:number_highlighted_sections"],
      "kwargs": [{}, {"keywords": ["river"]}, {"num_highlights": 2}]},
     "The *river* runs.\n******\nA *second* river story."),
    ({"key": 4, "prompt": "JSON please.", "instruction_id_list": ["detectable_format:json_format",
                                                                  "keywords:forbidden_words"],
      "kwargs": [{}, {"forbidden_words": ["error"]}]},
     "Here you go:\n```json\n{\"status\": \"error\"}\n```"),
    ({"key": 5, "prompt": "Quote it.", "instruction_id_list": ["startend:quotation"], "kwargs": [{}]}, ""),
]


def test_four_metrics_on_a_batch_equal_lmeval_aggregation(lmeval):
    from lm_eval.api.metrics import mean

    ours = [ifeval.process_results(doc, response) for doc, response in BATCH]
    theirs = [lmeval.process_results(doc, [response]) for doc, response in BATCH]
    assert ours == theirs
    for metric, aggregate in (("prompt_level_strict_acc", mean), ("prompt_level_loose_acc", mean),
                              ("inst_level_strict_acc", lmeval.agg_inst_level_acc),
                              ("inst_level_loose_acc", lmeval.agg_inst_level_acc)):
        ours_items, their_items = [o[metric] for o in ours], [t[metric] for t in theirs]
        agg = ifeval.agg_inst_level_acc if metric.startswith("inst") else mean
        assert agg(ours_items) == aggregate(their_items), metric
    # Hand-checked values, so the comparison above is not vacuous.
    assert [o["prompt_level_strict_acc"] for o in ours] == [True, False, True, False, False]
    assert [o["prompt_level_loose_acc"] for o in ours] == [True, True, True, False, False]
    assert ifeval.agg_inst_level_acc([o["inst_level_strict_acc"] for o in ours]) == 7 / 11


_PIECES = ["Hello", "world", "the", "THE", "NASA", "I", "ok", ",", ".", "!", "?", "\n", "\n\n", " ", "*", "**",
           "***", "******", "-", "* ", "- ", '"', "'", "P.S.", "p.p.s", "Section 1", "SECTION 2", "<<Title>>",
           "<<", ">>", "[name]", "[", "]", '{"a": 1}', "```json", "```", "My answer is yes.", "cat", "Cat", "dog",
           "zz", "However", "however,", "Mr.", "U.S.", "3.5", "ΟΔΟΣ", "Any other questions?", "Je suis", "bien"]
_REL = ["less than", "at least"]
_RANDOM_KWARGS = {
    "keywords:existence": lambda r: {"keywords": r.sample(["cat", "dog", "the", "zz", "world"], r.randint(1, 2))},
    "keywords:frequency": lambda r: {"keyword": r.choice(["cat", "the", "o"]), "frequency": r.randint(1, 4),
                                     "relation": r.choice(_REL)},
    "keywords:forbidden_words": lambda r: {"forbidden_words": r.sample(["cat", "dog", "the", "hello"], 2)},
    "keywords:letter_frequency": lambda r: {"letter": r.choice("azoeT"), "let_frequency": r.randint(1, 6),
                                            "let_relation": r.choice(_REL)},
    "language:response_language": lambda r: {"language": r.choice(["en", "fr", "de"])},
    "length_constraints:number_sentences": lambda r: {"num_sentences": r.randint(1, 6), "relation": r.choice(_REL)},
    "length_constraints:number_paragraphs": lambda r: {"num_paragraphs": r.randint(1, 4)},
    "length_constraints:number_words": lambda r: {"num_words": r.randint(1, 15), "relation": r.choice(_REL)},
    "length_constraints:nth_paragraph_first_word": lambda r: {
        "num_paragraphs": 3, "nth_paragraph": r.randint(1, 3), "first_word": r.choice(["hello", "however", "i"])},
    "detectable_content:number_placeholders": lambda r: {"num_placeholders": r.randint(1, 3)},
    "detectable_content:postscript": lambda r: {"postscript_marker": r.choice(["P.S.", "P.P.S"])},
    "detectable_format:number_bullet_lists": lambda r: {"num_bullets": r.randint(1, 4)},
    "detectable_format:number_highlighted_sections": lambda r: {"num_highlights": r.randint(1, 3)},
    "detectable_format:multiple_sections": lambda r: {"section_spliter": r.choice(["Section", "SECTION"]),
                                                      "num_sections": r.randint(1, 3)},
    "combination:repeat_prompt": lambda r: {"prompt_to_repeat": r.choice(["Hello world", "Write a poem."])},
    "startend:end_checker": lambda r: {"end_phrase": r.choice(["Any other questions?", "world"])},
    "change_case:capital_word_frequency": lambda r: {"capital_frequency": r.randint(1, 4),
                                                     "capital_relation": r.choice(_REL)},
}


def test_random_docs_equal_lmeval(lmeval):
    # Differential check on generated markup-heavy responses (an offline run of 9,000 such docs
    # found no mismatch; 200 keep the suite fast).
    import random

    rng = random.Random(1234)
    for i in range(200):
        response = "".join(rng.choice(_PIECES) + rng.choice(["", " "]) for _ in range(rng.randint(0, 30)))
        ids = rng.sample(ifeval.INSTRUCTION_IDS, 3)
        doc = {"key": i, "prompt": "p", "instruction_id_list": ids,
               "kwargs": [_RANDOM_KWARGS.get(x, lambda r: {})(rng) for x in ids]}
        assert ifeval.process_results(doc, response) == lmeval.process_results(doc, [response]), (doc, response)
