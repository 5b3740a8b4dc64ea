"""MATH-Hard answer extraction and equivalence, as the Open LLM Leaderboard v2 scored it.

Default (`process_results`) is the SOS-era `leaderboard_math_*_hard` scoring (docs/tasks.md,
MATH-Hard): the generation's "Final Answer: The final answer is X. I hope it is correct." is
extracted, normalised with Minerva's `normalize_final_answer`, and counts only if sympy's `parse_latex` of
both sides differ by something that `simplify`s to 0 within 5 s. There is no string-equality
fallback, so answers sympy cannot parse (intervals, tuples, `\\text{...}`) never score; that is
what the published numbers used. `process_results_with_string_match` is the later upstream
fix (lm-eval's `exact_match_original`): string equality first, a 1 s timeout, and an
unextractable answer scores 0.

sympy's LaTeX parser needs `antlr4-python3-runtime==4.11` (other 4.x versions are refused).
"""

from __future__ import annotations

import re
import signal
import threading

INVALID_ANSWER = "[invalidanswer]"
SOS_TIMEOUT_S = 5
STRING_MATCH_TIMEOUT_S = 1

_FINAL_ANSWER_SUFFIX = "I hope it is correct."
# The dots are unescaped in the reference and so match any character; kept as is.
_FINAL_ANSWER_RE = re.compile(r"Final Answer: The final answer is(.*?). I hope it is correct.")

# Minerva appendix D (Lewkowycz et al. 2022): applied in order, then the removals in order.
SUBSTITUTIONS = (
    ("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), (r"\ ", ""), (" ", ""), ("mbox", "text"),
    (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}"),
)
REMOVED_EXPRESSIONS = (
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units",
    "\\ldots", "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm",
    "pounds", "meters", "meals", "edges", "students", "childrentickets", "multiples",
    "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3", "\\text{\n}", "\\text{}",
    r"\mathrm{th}", r"^\circ", r"^{\circ}", r"\;", r",\!", "{,}", '"', "\\dots",
)


def last_boxed_only_string(text: str) -> str:
    """Returns the last `\\boxed{...}` (or `\\fbox{...}`, or `\\boxed x` up to `$`) in `text`, or INVALID_ANSWER."""
    if "\\boxed " in text:
        return "\\boxed " + text.split("\\boxed ")[-1].split("$")[0]
    start = text.rfind("\\boxed")
    if start < 0:
        start = text.rfind("\\fbox")
        if start < 0:
            return INVALID_ANSWER
    depth = 0
    for pos in range(start, len(text)):
        if text[pos] == "{":
            depth += 1
        elif text[pos] == "}":
            depth -= 1
            if depth == 0:
                return text[start:pos + 1]
    return INVALID_ANSWER


def remove_boxed(boxed: str) -> str:
    """Returns the content of `\\boxed{x}` or `\\boxed x`, or INVALID_ANSWER for anything else."""
    if "\\boxed " in boxed:
        return boxed[len("\\boxed "):] if boxed.startswith("\\boxed ") else INVALID_ANSWER
    if boxed.startswith("\\boxed{") and boxed.endswith("}"):
        return boxed[len("\\boxed{"):-1]
    return INVALID_ANSWER


def normalize_final_answer(answer: str) -> str:
    """Returns Minerva's normal form of a final answer (text after the last "=", units and markup removed)."""
    answer = answer.split("=")[-1]
    for before, after in SUBSTITUTIONS:
        answer = answer.replace(before, after)
    for expression in REMOVED_EXPRESSIONS:
        answer = answer.replace(expression, "")
    # Keep the first $...$ span; unwrap \text{}, \textbf{}, \overline{} and (greedily) \boxed{}.
    answer = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", answer)
    answer = re.sub(r"(\\text\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", answer)
    # Shorthand TeX: \fracab -> \frac{a}{b}, \sqrta -> \sqrt{a}.
    answer = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", answer)
    answer = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", answer)
    answer = answer.replace("$", "")
    if answer.replace(",", "").isdigit():
        answer = answer.replace(",", "")
    return answer


def gold_answer(solution: str) -> str:
    """Returns the normalised gold answer of a MATH solution (the SOS-era `process_docs` field `answer`)."""
    return normalize_final_answer(remove_boxed(last_boxed_only_string(solution)))


def extract_final_answer(generation: str) -> str:
    """Returns X from "Final Answer: The final answer is X. I hope it is correct.", stripped, or INVALID_ANSWER.

    The closing sentence is appended first, so a generation stopped right after "X. " still
    matches; one that ends at X itself does not (the pattern needs a character and a space).
    """
    match = _FINAL_ANSWER_RE.search(generation + _FINAL_ANSWER_SUFFIX)
    return match.group(1).strip() if match else INVALID_ANSWER


class _EquivTimeout(Exception):
    pass


def _raise_timeout(signum, frame):
    raise _EquivTimeout()


def _sympy_equal(x1: str, x2: str) -> bool:
    import sympy
    from sympy.parsing.latex import parse_latex

    difference = parse_latex(x1) - parse_latex(x2)
    return sympy.simplify(difference) == 0


def is_equiv(x1: str, x2: str, timeout_s: float = SOS_TIMEOUT_S) -> bool:
    """Returns whether sympy proves the two normalised LaTeX answers equal within `timeout_s`.

    A parse error, a failed subtraction or simplification, or the timeout gives False (as in
    lm-eval). The timeout uses SIGALRM, which only the main thread can arm; elsewhere the check
    runs without one. Raises ImportError when sympy's LaTeX parser is unavailable.
    """
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, _raise_timeout) if on_main else None
    try:
        if on_main:
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            return bool(_sympy_equal(x1, x2))
        finally:
            if on_main:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except ImportError as err:
        raise ImportError("MATH equivalence needs sympy's LaTeX parser: pip install "
                          "'antlr4-python3-runtime==4.11'") from err
    except Exception:  # noqa: BLE001 - any parse/simplify failure or the timeout means "not equal"
        return False
    finally:
        if on_main:
            signal.signal(signal.SIGALRM, previous)


def _field(doc: dict, name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str):
        raise ValueError(f"MATH doc: field {name!r} must be a string, got {value!r}")
    return value


def process_results(doc: dict, response: str) -> dict[str, int]:
    """Returns {"exact_match": 0 or 1} under the SOS-era leaderboard scoring (sympy only, 5 s).

    The gold is `doc["answer"]` (already normalised by `gold_answer`), or is computed from
    `doc["solution"]` when the doc has no "answer".
    """
    gold = _field(doc, "answer") if "answer" in doc else gold_answer(_field(doc, "solution"))
    answer = normalize_final_answer(extract_final_answer(response))
    return {"exact_match": int(is_equiv(answer, gold, SOS_TIMEOUT_S))}


def process_results_with_string_match(doc: dict, response: str) -> dict[str, int]:
    """Returns {"exact_match": 0 or 1} under the corrected scoring (string match or sympy, 1 s).

    This is lm-eval's later `exact_match_original`; the gold comes from `doc["solution"]`.
    """
    gold = normalize_final_answer(remove_boxed(last_boxed_only_string(_field(doc, "solution"))))
    answer = normalize_final_answer(extract_final_answer(response))
    if answer == INVALID_ANSWER:
        return {"exact_match": 0}
    matched = answer.strip() == gold.strip() or is_equiv(answer, gold, STRING_MATCH_TIMEOUT_S)
    return {"exact_match": int(matched)}
