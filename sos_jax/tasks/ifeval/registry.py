"""The 25 IFEval instruction ids, their arguments, and validated construction of a checker.

A dataset row gives one kwargs dict per instruction; Hugging Face fills every other
instruction's argument names with None. As lm-eval does, falsy values (None, 0, "") are dropped
first. Where lm-eval would then draw a missing or out-of-range argument at random (which makes
its verdict irreproducible), we raise a ValueError that names the instruction and argument.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping

from sos_jax.tasks.ifeval import checkers

# Argument kinds.
_INT, _STR, _STR_LIST, _RELATION = "int", "str", "list of str", "relation"


@dataclasses.dataclass(frozen=True)
class Instruction:
    """One verifiable instruction: its id, check function and argument kinds (all required)."""

    id: str
    check: Callable[..., bool]
    params: tuple[tuple[str, str], ...] = ()


_INSTRUCTIONS = (
    Instruction("keywords:existence", checkers.keywords_existence, (("keywords", _STR_LIST),)),
    Instruction("keywords:frequency", checkers.keywords_frequency,
                (("keyword", _STR), ("frequency", _INT), ("relation", _RELATION))),
    Instruction("keywords:forbidden_words", checkers.keywords_forbidden_words, (("forbidden_words", _STR_LIST),)),
    Instruction("keywords:letter_frequency", checkers.keywords_letter_frequency,
                (("letter", _STR), ("let_frequency", _INT), ("let_relation", _RELATION))),
    Instruction("language:response_language", checkers.language_response_language, (("language", _STR),)),
    Instruction("length_constraints:number_sentences", checkers.length_number_sentences,
                (("num_sentences", _INT), ("relation", _RELATION))),
    Instruction("length_constraints:number_paragraphs", checkers.length_number_paragraphs,
                (("num_paragraphs", _INT),)),
    Instruction("length_constraints:number_words", checkers.length_number_words,
                (("num_words", _INT), ("relation", _RELATION))),
    Instruction("length_constraints:nth_paragraph_first_word", checkers.length_nth_paragraph_first_word,
                (("num_paragraphs", _INT), ("nth_paragraph", _INT), ("first_word", _STR))),
    Instruction("detectable_content:number_placeholders", checkers.content_number_placeholders,
                (("num_placeholders", _INT),)),
    Instruction("detectable_content:postscript", checkers.content_postscript, (("postscript_marker", _STR),)),
    Instruction("detectable_format:number_bullet_lists", checkers.format_number_bullet_lists,
                (("num_bullets", _INT),)),
    Instruction("detectable_format:constrained_response", checkers.format_constrained_response),
    Instruction("detectable_format:number_highlighted_sections", checkers.format_number_highlighted_sections,
                (("num_highlights", _INT),)),
    Instruction("detectable_format:multiple_sections", checkers.format_multiple_sections,
                (("section_spliter", _STR), ("num_sections", _INT))),
    Instruction("detectable_format:json_format", checkers.format_json),
    Instruction("detectable_format:title", checkers.format_title),
    Instruction("combination:two_responses", checkers.combination_two_responses),
    Instruction("combination:repeat_prompt", checkers.combination_repeat_prompt, (("prompt_to_repeat", _STR),)),
    Instruction("startend:end_checker", checkers.startend_end_checker, (("end_phrase", _STR),)),
    Instruction("change_case:capital_word_frequency", checkers.change_case_capital_word_frequency,
                (("capital_frequency", _INT), ("capital_relation", _RELATION))),
    Instruction("change_case:english_capital", checkers.change_case_english_capital),
    Instruction("change_case:english_lowercase", checkers.change_case_english_lowercase),
    Instruction("punctuation:no_comma", checkers.punctuation_no_comma),
    Instruction("startend:quotation", checkers.startend_quotation),
)

INSTRUCTIONS: dict[str, Instruction] = {inst.id: inst for inst in _INSTRUCTIONS}
INSTRUCTION_IDS: tuple[str, ...] = tuple(INSTRUCTIONS)


def _coerce(instruction_id: str, name: str, kind: str, value: object) -> object:
    where = f"IFEval instruction {instruction_id!r} argument {name!r}"
    if kind == _INT:
        # Integral floats appear when a dataset passed through pandas; bool is not a count.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return value
    if kind == _RELATION:
        if value not in checkers.RELATIONS:
            raise ValueError(f"{where}: expected one of {checkers.RELATIONS}, got {value!r}")
        return value
    if kind == _STR:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return value
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):  # _STR_LIST
        raise ValueError(f"{where}: expected a list of strings, got {value!r}")
    return list(value)


def _normalise(instruction_id: str, args: dict) -> dict:
    """Returns `args` after the per-instruction normalisation lm-eval's build_description does."""
    where = f"IFEval instruction {instruction_id!r}"
    for name in ("keyword", "postscript_marker", "section_spliter", "end_phrase"):
        if name in args:
            args[name] = args[name].strip()
    for name in ("num_sentences", "num_paragraphs", "num_words", "num_placeholders", "num_bullets",
                 "num_highlights", "num_sections", "frequency", "let_frequency"):
        if args.get(name, 0) < 0:
            raise ValueError(f"{where} argument {name!r}: expected >= 0, got {args[name]}")
    if "letter" in args:
        letter = args["letter"]
        if len(letter) != 1 or not "a" <= letter.lower() <= "z":
            raise ValueError(f"{where} argument 'letter': expected one ASCII letter, got {letter!r}")
        args["letter"] = letter.lower()
    if "nth_paragraph" in args and not 1 <= args["nth_paragraph"] <= args["num_paragraphs"]:
        raise ValueError(f"{where} argument 'nth_paragraph': expected 1..num_paragraphs="
                         f"{args['num_paragraphs']}, got {args['nth_paragraph']}")
    if "first_word" in args:
        args["first_word"] = args["first_word"].lower()
    # These arguments are spliced into regexes unescaped (as in lm-eval); a malformed one
    # should fail here, naming itself, rather than as a bare re.error mid-run.
    patterns = {"keyword": "{}", "keywords": "{}", "forbidden_words": r"\b{}\b",
                "section_spliter": r"\s?{}\s?\d+\s?", "postscript_marker": r"\s*{}.*$"}
    for name, template in patterns.items():
        for value in ([args[name]] if isinstance(args.get(name), str) else args.get(name, [])):
            try:
                re.compile(template.format(value if name != "postscript_marker" else value.lower()))
            except re.error as err:
                raise ValueError(f"{where} argument {name!r}: {value!r} is not a valid regex ({err})") from err
    return args


def build_checker(instruction_id: str, kwargs: Mapping | None) -> Callable[[str], bool]:
    """Returns `check(response) -> bool` for one instruction of a dataset row.

    Raises ValueError for an unknown id, an unexpected, missing or ill-typed argument.
    """
    instruction = INSTRUCTIONS.get(instruction_id)
    if instruction is None:
        raise ValueError(f"unknown IFEval instruction id {instruction_id!r}; expected one of {INSTRUCTION_IDS}")
    given = {k: v for k, v in (kwargs or {}).items() if v}
    expected = dict(instruction.params)
    unexpected = sorted(set(given) - set(expected))
    if unexpected:
        raise ValueError(f"IFEval instruction {instruction_id!r} got unexpected arguments {unexpected}; "
                         f"it takes {sorted(expected) or 'none'}")
    missing = sorted(set(expected) - set(given))
    if missing:
        raise ValueError(f"IFEval instruction {instruction_id!r} is missing arguments {missing} "
                         f"(None, 0 and '' count as missing, as in lm-eval)")
    args = {name: _coerce(instruction_id, name, kind, given[name]) for name, kind in instruction.params}
    return functools.partial(instruction.check, **_normalise(instruction_id, args))
