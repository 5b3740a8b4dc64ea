"""MATH-Hard answer extraction and equivalence equal lm-eval's `leaderboard_math` utils.

The reference is lm-eval's own module. Its import also pulls in `math_verify` (used only by the
newer `exact_match`, which SOS-Bench did not use); when that package is absent a stub stands in
for it, so the helpers under test are lm-eval's real code. The SOS-era `process_results` is
lm-eval's `process_docs` gold (`normalize_final_answer(remove_boxed(last_boxed_only_string(...)))`)
checked with `is_equiv` only; the corrected variant is lm-eval's `process_result_v1`.
"""

import random
import threading

import pytest

from sos_jax.tasks import math_answers


@pytest.fixture(scope="module")
def lm_math(math_verify_stub):
    from lm_eval.tasks.leaderboard.math import utils

    return utils


def _boxed(answer):
    return f"Some working here. So the answer is $\\boxed{{{answer}}}$."


def _final(answer):
    return f"We compute things.\nFinal Answer: The final answer is ${answer}$. I hope it is correct."


# (solution, response, SOS-era exact_match, string-match exact_match): hand-checked expectations.
CASES = [
    (_boxed("\\frac{1}{2}"), _final("\\frac12"), 1, 1),
    (_boxed("\\frac{1}{2}"), _final("0.5"), 1, 1),
    (_boxed("\\dfrac{3}{4}"), _final("0.75"), 1, 1),
    (_boxed("\\frac{\\sqrt{3}}{2}"), _final("\\frac{\\sqrt3}{2}"), 1, 1),
    (_boxed("2\\sqrt{2}"), _final("\\sqrt{8}"), 1, 1),
    (_boxed("24"), _final("25"), 0, 0),
    (_boxed("1000"), _final("1,000"), 1, 1),
    (_boxed("30^\\circ"), _final("30"), 1, 1),
    (_boxed("5\\text{ cm}"), _final("5"), 1, 1),
    (_boxed("\\$5.00"), _final("5"), 1, 1),
    (_boxed("12"), "Final Answer: The final answer is $x = 12$. I hope it is correct.", 1, 1),
    (_boxed("24"), "Final Answer: The final answer is $24$. ", 1, 1),  # stopped before the closing sentence
    (_boxed("24"), "Final Answer: The final answer is $24$", 0, 0),  # the pattern needs ". " after X
    (_boxed("24"), "The answer is \\boxed{24}.", 0, 0),  # no "Final Answer" line: invalid
    (_boxed("[2,5)"), _final("[2,5)"), 0, 1),  # intervals do not parse: only string match scores
    (_boxed("(1,2)"), _final("(1,2)"), 0, 1),
    (_boxed("\\text{(A)}"), _final("(A)"), 1, 1),  # "(A)" parses as the symbol A
    (_boxed("\\text{(A)}"), _final("A and B"), 0, 0),
    (_boxed("\\text{Monday}"), _final("\\text{Monday}"), 1, 1),
    (_boxed("50\\%"), _final("50"), 0, 0),
    (_boxed("2\\pi"), _final("\\pi \\cdot 2"), 1, 1),
    ("so it is $\\boxed 7$ exactly.", _final("7"), 1, 1),  # "\boxed 7" without braces
    ("the answer is \\fbox{7}", _final("7"), 0, 0),  # \fbox is found but not unwrapped
    ("no boxed answer at all", "nothing final here", 1, 0),  # both "[invalidanswer]": sympy calls them equal
    (_boxed("-\\frac{2}{3}"), "Final Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct.\n\n"
                              "Final Answer: The final answer is $5$. I hope it is correct.", 1, 1),
    (_boxed("\\frac{a}{b}"), _final("\\frac{b}{a}"), 0, 0),
]


def _sos_reference(utils, solution, response):
    gold = utils.normalize_final_answer(utils.remove_boxed(utils.last_boxed_only_string(solution)))
    answer = utils.normalize_final_answer(utils.get_unnormalized_answer(response))
    return int(bool(utils.is_equiv(answer, gold)))


def _string_match_reference(utils, solution, response):
    doc = {"solution": solution, "answer": utils.remove_boxed(utils.last_boxed_only_string(solution))}
    try:
        return utils.process_result_v1(doc, response)
    except Exception:  # noqa: BLE001 - lm-eval's process_results maps any error to 0
        return 0


@pytest.mark.parametrize("solution,response,sos,string_match", CASES)
def test_exact_match_equals_lmeval(lm_math, solution, response, sos, string_match):
    doc = {"problem": "p", "solution": solution, "answer": math_answers.gold_answer(solution)}
    got_sos = math_answers.process_results(doc, response)
    got_fix = math_answers.process_results_with_string_match(doc, response)
    assert got_sos == {"exact_match": _sos_reference(lm_math, solution, response)}
    assert got_fix == {"exact_match": _string_match_reference(lm_math, solution, response)}
    assert (got_sos["exact_match"], got_fix["exact_match"]) == (sos, string_match)


def test_gold_computed_from_solution_when_doc_has_no_answer():
    doc = {"problem": "p", "solution": _boxed("\\frac{1}{2}")}
    assert math_answers.process_results(doc, _final("0.5")) == {"exact_match": 1}


_PIECES = ["\\boxed{", "\\boxed ", "\\fbox{", "{", "}", "$", "=", ",", " ", "\\frac", "\\dfrac", "\\sqrt",
           "12", "3", "x", "ab", "\\text{", "\\textbf{", "\\overline{", "cm", "units", "\\!", "\\;", "^\\circ",
           "\\$", "an ", "a ", ".", "mbox", "\\ldots", "\\text{and}", "\n", "Final Answer: The final answer is",
           " I hope it is correct.", "(", ")", "[", "]", "-", "\\pi", "1,000"]


def test_string_helpers_equal_lmeval_on_random_strings(lm_math):
    rng = random.Random(0)
    for _ in range(3000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))
        assert math_answers.last_boxed_only_string(text) == lm_math.last_boxed_only_string(text), text
        assert math_answers.remove_boxed(text) == lm_math.remove_boxed(text), text
        assert math_answers.normalize_final_answer(text) == lm_math.normalize_final_answer(text), text
        assert math_answers.extract_final_answer(text) == lm_math.get_unnormalized_answer(text), text


def test_timeout_holds_on_a_pathological_expression(monkeypatch):
    # 2^(2^65536) makes sympy build an integer of 2^65536 bits: it never returns by itself.
    monkeypatch.setattr(math_answers, "_CHECKER", math_answers._EquivChecker())
    tower = "2^{2^{2^{2^{2^{2}}}}}"
    assert math_answers.check_equiv(tower, "1", timeout_s=3) == "timeout"
    assert math_answers.is_equiv(tower, "1", timeout_s=3) is False
    # the killed worker is replaced: the next check runs normally
    assert math_answers.check_equiv("\\frac{1}{2}", "0.5", timeout_s=60) == "equal"
    assert math_answers.check_equiv("x+1", "x", timeout_s=60) == "not_equal"
    assert math_answers.check_equiv("\\frac{", "1", timeout_s=60) == "not_equal"  # parse error


def test_is_equiv_off_main_thread_runs_without_alarm():
    results = []
    thread = threading.Thread(target=lambda: results.append(math_answers.is_equiv("\\frac{1}{2}", "0.5")))
    thread.start()
    thread.join()
    assert results == [True]


def test_missing_latex_parser_is_an_error_not_a_zero(monkeypatch, tmp_path):
    # The worker process imports from the parent's sys.path: a broken antlr4 shadows the real one.
    (tmp_path / "antlr4").mkdir()
    (tmp_path / "antlr4" / "__init__.py").write_text("raise ImportError('antlr4 4.11 required')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(math_answers, "_CHECKER", math_answers._EquivChecker())
    with pytest.raises(ImportError, match="antlr4-python3-runtime==4.11"):
        math_answers.is_equiv("1", "1")


def test_bad_doc_names_the_field():
    with pytest.raises(ValueError, match="'solution'"):
        math_answers.process_results({"problem": "p"}, _final("1"))
    with pytest.raises(ValueError, match="'answer'"):
        math_answers.process_results({"answer": None}, _final("1"))
