"""The 25 verifiable-instruction checks of IFEval (Zhou et al. 2023), as lm-eval defines them.

Each check is a pure function `(response, **arguments) -> bool` whose arguments are already
validated and normalised by `registry.build_checker`. The rules, regexes and thresholds follow
lm-eval's `tasks/ifeval/instructions.py` (the module `leaderboard_ifeval` imports); the
behaviour that is easy to get wrong is noted where it happens.
"""

from __future__ import annotations

import collections
import json
import re

from sos_jax.tasks.ifeval import sentences
from sos_jax.tasks.ifeval.language import UndetectableLanguage, detect_language

LESS_THAN = "less than"
AT_LEAST = "at least"
RELATIONS = (LESS_THAN, AT_LEAST)

CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def compare(count: int, relation: str, threshold: int) -> bool:
    """Returns `count < threshold` for "less than", `count >= threshold` for "at least"."""
    if relation == LESS_THAN:
        return count < threshold
    return count >= threshold


# --- keywords ---------------------------------------------------------------------------------


def keywords_existence(response: str, *, keywords: list[str]) -> bool:
    """Returns whether every keyword occurs (keywords are case-insensitive regexes, no \\b)."""
    return all(re.search(keyword, response, flags=re.IGNORECASE) for keyword in keywords)


def keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    """Returns whether the keyword's case-insensitive regex match count satisfies the relation."""
    return compare(len(re.findall(keyword, response, flags=re.IGNORECASE)), relation, frequency)


def keywords_forbidden_words(response: str, *, forbidden_words: list[str]) -> bool:
    """Returns whether no forbidden word occurs as a whole word (case-insensitive)."""
    return not any(re.search(r"\b" + word + r"\b", response, flags=re.IGNORECASE)
                   for word in forbidden_words)


def keywords_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> bool:
    """Returns whether the (lower-case) letter's count in the lower-cased response satisfies the relation."""
    return compare(collections.Counter(response.lower())[letter], let_relation, let_frequency)


# --- language and case ------------------------------------------------------------------------


def language_response_language(response: str, *, language: str) -> bool:
    """Returns whether langdetect names `language`; an undetectable text passes (as in lm-eval)."""
    try:
        return detect_language(response) == language
    except UndetectableLanguage:
        return True


def change_case_english_capital(response: str) -> bool:
    """Returns whether the response is all upper case and English (undetectable passes)."""
    try:
        return response.isupper() and detect_language(response) == "en"
    except UndetectableLanguage:
        return True


def change_case_english_lowercase(response: str) -> bool:
    """Returns whether the response is all lower case and English (undetectable passes)."""
    try:
        return response.islower() and detect_language(response) == "en"
    except UndetectableLanguage:
        return True


def change_case_capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> bool:
    """Returns whether the count of all-upper-case `nltk.word_tokenize` tokens satisfies the relation."""
    capital_words = sum(1 for word in sentences.word_tokenize(response) if word.isupper())
    return compare(capital_words, capital_relation, capital_frequency)


# --- length -----------------------------------------------------------------------------------


def length_number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    """Returns whether the Punkt sentence count satisfies the relation."""
    return compare(sentences.count_sentences(response), relation, num_sentences)


def length_number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    """Returns whether there are exactly `num_paragraphs` paragraphs divided by `***`.

    An empty piece before the first or after the last divider is not counted; an empty piece
    between two dividers fails the check.
    """
    paragraphs = re.split(r"\s?\*\*\*\s?", response)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index in (0, len(paragraphs) - 1):
                count -= 1
            else:
                return False
    return count == num_paragraphs


def length_number_words(response: str, *, num_words: int, relation: str) -> bool:
    r"""Returns whether the `\w+` word count satisfies the relation."""
    return compare(sentences.count_words(response), relation, num_words)


def length_nth_paragraph_first_word(response: str, *, num_paragraphs: int, nth_paragraph: int,
                                    first_word: str) -> bool:
    """Returns whether there are `num_paragraphs` non-empty "\\n\\n" paragraphs and the nth starts with `first_word`.

    The count skips empty pieces but the nth piece is taken from the raw split, so an empty
    piece before it shifts the index (lm-eval's behaviour). The first word is the first
    whitespace token, leading quotes removed, lower-cased and cut at the first . , ? ! ' ".
    """
    paragraphs = re.split(r"\n\n", response)
    count = sum(1 for paragraph in paragraphs if paragraph.strip())
    if nth_paragraph > count:
        return False
    paragraph = paragraphs[nth_paragraph - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    cut = re.search(r"[.,?!'\"]", word)
    # Lower-cased per character, as lm-eval does: whole-string lower() would apply Greek
    # final-sigma rules and could differ.
    found = "".join(ch.lower() for ch in (word[:cut.start()] if cut else word))
    return count == num_paragraphs and found == first_word


# --- detectable content -----------------------------------------------------------------------


def content_number_placeholders(response: str, *, num_placeholders: int) -> bool:
    """Returns whether there are at least `num_placeholders` `[...]` placeholders."""
    return len(re.findall(r"\[.*?\]", response)) >= num_placeholders


def content_postscript(response: str, *, postscript_marker: str) -> bool:
    """Returns whether a line (of the lower-cased response) carries the postscript marker.

    "P.S." and "P.P.S" allow optional spaces after their periods; any other marker is used
    as a raw lower-cased regex.
    """
    if postscript_marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif postscript_marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + postscript_marker.lower() + r".*$"
    return bool(re.findall(pattern, response.lower(), flags=re.MULTILINE))


# --- detectable format ------------------------------------------------------------------------


def format_number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    """Returns whether exactly `num_bullets` lines start with `* ` (not `**`) or `-`."""
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes) == num_bullets


def format_constrained_response(response: str) -> bool:
    """Returns whether the response contains "My answer is yes.", "... no." or "... maybe."."""
    stripped = response.strip()
    return any(option in stripped for option in CONSTRAINED_RESPONSES)


def format_number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    """Returns whether at least `num_highlights` non-empty `*x*` plus `**x**` spans occur.

    Both patterns are counted independently, as lm-eval does.
    """
    single = [h for h in re.findall(r"\*[^\n\*]*\*", response) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", response)
              if h.removeprefix("**").removesuffix("**").strip()]
    return len(single) + len(double) >= num_highlights


def format_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    """Returns whether splitting on `<spliter> <number>` yields at least `num_sections` sections."""
    pieces = re.split(r"\s?" + section_spliter + r"\s?\d+\s?", response)
    return len(pieces) - 1 >= num_sections


def format_json(response: str) -> bool:
    """Returns whether the response, without a ```json / ``` fence, parses as JSON."""
    body = (response.strip().removeprefix("```json").removeprefix("```Json")
            .removeprefix("```JSON").removeprefix("```").removesuffix("```").strip())
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def format_title(response: str) -> bool:
    """Returns whether a non-blank `<<title>>` occurs on one line."""
    return any(title.lstrip("<").rstrip(">").strip() for title in re.findall(r"<<[^\n]+>>", response))


# --- combination ------------------------------------------------------------------------------


def combination_two_responses(response: str) -> bool:
    """Returns whether `******` separates exactly two different non-empty responses.

    Empty pieces are allowed only at either end.
    """
    pieces = response.split("******")
    valid = []
    for index, piece in enumerate(pieces):
        if piece.strip():
            valid.append(piece)
        elif index not in (0, len(pieces) - 1):
            return False
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


def combination_repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    """Returns whether the response starts with the prompt (both stripped, case-insensitive)."""
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


# --- start / end and punctuation --------------------------------------------------------------


def startend_end_checker(response: str, *, end_phrase: str) -> bool:
    """Returns whether the response, stripped of whitespace then of `"`, ends with the phrase."""
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


def startend_quotation(response: str) -> bool:
    """Returns whether the stripped response is longer than 1 and starts and ends with `"`."""
    stripped = response.strip()
    return len(stripped) > 1 and stripped[0] == '"' and stripped[-1] == '"'


def punctuation_no_comma(response: str) -> bool:
    """Returns whether the response has no comma."""
    return "," not in response
