"""IFEval verdicts for one response (strict and loose) and the instruction-level aggregation.

Strict: an instruction passes iff the response is non-blank and its check passes. Loose: it
passes iff any of eight variants does (the response; without its first line, last line or
both, each stripped; and those four with every `*` removed), trying only non-blank variants.
A prompt passes iff all its instructions pass. This mirrors lm-eval's `leaderboard_ifeval`
`process_results` / `agg_inst_level_acc`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sos_jax.tasks.ifeval.registry import build_checker


def loose_variants(response: str) -> list[str]:
    """Returns the 8 response variants the loose metric tries, in lm-eval's order."""
    lines = response.split("\n")
    without_first = "\n".join(lines[1:]).strip()
    without_last = "\n".join(lines[:-1]).strip()
    without_both = "\n".join(lines[1:-1]).strip()
    return [
        response,
        response.replace("*", ""),
        without_first,
        without_last,
        without_both,
        without_first.replace("*", ""),
        without_last.replace("*", ""),
        without_both.replace("*", ""),
    ]


def _checkers(doc: dict) -> list[Callable[[str], bool]]:
    key = doc.get("key", "?")
    ids, kwargs = doc.get("instruction_id_list"), doc.get("kwargs")
    if not isinstance(ids, Sequence) or isinstance(ids, str):
        raise ValueError(f"IFEval doc key={key}: field 'instruction_id_list' must be a list of ids, got {ids!r}")
    if not isinstance(kwargs, Sequence) or len(kwargs) != len(ids):
        raise ValueError(f"IFEval doc key={key}: field 'kwargs' must be a list of {len(ids)} dicts "
                         f"(one per instruction), got {kwargs!r}")
    try:
        return [build_checker(inst_id, inst_kwargs) for inst_id, inst_kwargs in zip(ids, kwargs)]
    except ValueError as err:
        raise ValueError(f"IFEval doc key={key}: {err}") from err


def process_results(doc: dict, response: str) -> dict:
    """Returns {"prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc"}.

    `doc` has "key", "prompt", "instruction_id_list" and "kwargs" (one dict per instruction);
    the inst-level values are lists of per-instruction booleans.
    """
    if not isinstance(response, str):
        raise ValueError(f"IFEval doc key={doc.get('key', '?')}: response must be a string, got {type(response).__name__}")
    checks = _checkers(doc)
    strict = [bool(response.strip()) and bool(check(response)) for check in checks]
    variants = [v for v in loose_variants(response)[1:] if v.strip()]
    # The first loose variant is the response itself, whose verdict strict already holds.
    loose = [passed or any(check(v) for v in variants) for passed, check in zip(strict, checks)]
    return {
        "prompt_level_strict_acc": all(strict),
        "inst_level_strict_acc": strict,
        "prompt_level_loose_acc": all(loose),
        "inst_level_loose_acc": loose,
    }


def agg_inst_level_acc(items: Sequence[Sequence[bool]]) -> float:
    """Returns the mean of all per-instruction verdicts of all prompts, flattened."""
    flat = [bool(verdict) for verdict_list in items for verdict in verdict_list]
    if not flat:
        raise ValueError("agg_inst_level_acc: no instruction verdicts to aggregate")
    return sum(flat) / len(flat)
