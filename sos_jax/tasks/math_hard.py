"""MATH level 5 ("MATH-Hard") as the Open LLM Leaderboard v2 ran it: `leaderboard_math_<sub>_hard`.

Prompt side only; answer extraction and equivalence are `sos_jax.tasks.math_answers`. SOS-era
dataset `lighteval/MATH-Hard` (level-5 problems), split `test`, 4-shot with the four Minerva
exemplars in a fixed order (their full `solution` is the shot target), generation until
"Problem:" (greedy, at most 1024 tokens), `exact_match`. The exemplars are kept byte-for-byte,
oddities included: the first problem ends in a stray "$.}", and exemplars 3 and 4 break
`align*` lines with a single backslash before the newline where LaTeX wants two (docs/tasks.md, MATH-Hard).
"""

from __future__ import annotations

from sos_jax.tasks.task import Group, Metric, Task

# Minerva exemplars (data): problem, solution.
FEWSHOT = (
    {
        "problem": 'Find the domain of the expression  $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}',
        "solution": 'The expressions inside each square root must be non-negative. Therefore, $x-2 \\ge 0$, so $x\\ge2$, and $5 - x \\ge 0$, so $x \\le 5$. Also, the denominator cannot be equal to zero, so $5-x>0$, which gives $x<5$. Therefore, the domain of the expression is $\\boxed{[2,5)}$.\nFinal Answer: The final answer is $[2,5)$. I hope it is correct.',
    },
    {
        "problem": 'If $\\det \\mathbf{A} = 2$ and $\\det \\mathbf{B} = 12,$ then find $\\det (\\mathbf{A} \\mathbf{B}).$',
        "solution": 'We have that $\\det (\\mathbf{A} \\mathbf{B}) = (\\det \\mathbf{A})(\\det \\mathbf{B}) = (2)(12) = \\boxed{24}.$\nFinal Answer: The final answer is $24$. I hope it is correct.',
    },
    {
        "problem": 'Terrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound weights instead, how many times must Terrell lift them in order to lift the same total weight?',
        "solution": 'If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\\cdot 12\\cdot20=480$ pounds of weight.  If he lifts two 15-pound weights instead for $n$ times, he will lift a total of $2\\cdot15\\cdot n=30n$ pounds of weight.  Equating this to 480 pounds, we can solve for $n$:\n\\begin{align*}\n30n&=480\\\n\\Rightarrow\\qquad n&=480/30=\\boxed{16}\n\\end{align*}\nFinal Answer: The final answer is $16$. I hope it is correct.',
    },
    {
        "problem": 'If the system of equations\n\n\\begin{align*}\n6x-4y&=a,\\\n6y-9x &=b.\n\\end{align*}has a solution $(x, y)$ where $x$ and $y$ are both nonzero,\nfind $\\frac{a}{b},$ assuming $b$ is nonzero.',
        "solution": 'If we multiply the first equation by $-\\frac{3}{2}$, we obtain\n\n$$6y-9x=-\\frac{3}{2}a.$$Since we also know that $6y-9x=b$, we have\n\n$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}=\\boxed{-\\frac{2}{3}}.$$\nFinal Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct.',
    },
)

# task name part -> dataset config
SUBJECTS = {
    "algebra": "algebra",
    "counting_and_prob": "counting_and_probability",
    "geometry": "geometry",
    "intermediate_algebra": "intermediate_algebra",
    "num_theory": "number_theory",
    "prealgebra": "prealgebra",
    "precalculus": "precalculus",
}
GENERATION_KWARGS = {"until": ["Problem:"], "do_sample": False, "temperature": 0, "max_gen_toks": 1024}


def doc_to_text(doc: dict) -> str:
    """Returns "Problem:\\n<problem>\\n\\nSolution:"."""
    return "Problem:" + "\n" + doc["problem"] + "\n\n" + "Solution:"


def process_docs(docs: list[dict]) -> list[dict]:
    """Returns docs with `problem`, `solution` and the normalised gold `answer` (SOS-era)."""
    from sos_jax.tasks import math_answers

    return [{"problem": d["problem"], "solution": d["solution"], "answer": math_answers.gold_answer(d["solution"])}
            for d in docs]


def process_results(doc: dict, response: str) -> dict:
    """Returns {"exact_match": 0 or 1} for one generation (SOS-era checker)."""
    from sos_jax.tasks import math_answers

    return math_answers.process_results(doc, response)


def process_results_corrected(doc: dict, response: str) -> dict:
    """Returns {"exact_match": 0 or 1} with the later upstream fix (string match, then sympy)."""
    from sos_jax.tasks import math_answers

    return math_answers.process_results_with_string_match(doc, response)


def make_task(name: str, config: str, corrected: bool = False) -> Task:
    """Returns `leaderboard_math_<name>_hard` (reference scoring) or its `_corrected` variant."""
    return Task(
        name=f"leaderboard_math_{name}_hard" + ("_corrected" if corrected else ""),
        dataset_path="lighteval/MATH-Hard",
        dataset_name=config,
        split="test",
        output_type="generate_until",
        doc_to_text=doc_to_text,
        # "{{answer if few_shot is undefined else solution}}": shots use the full solution.
        doc_to_target=lambda doc: doc.get("answer", ""),
        fewshot_target=lambda doc: doc["solution"],
        required_fields=("problem", "solution"),
        num_fewshot=4,
        fewshot_samples=FEWSHOT,
        fewshot_sampler="first_n",
        process_docs=process_docs,
        generation_kwargs=GENERATION_KWARGS,
        metrics=(Metric("exact_match"),),
        process_results=process_results_corrected if corrected else process_results,
        version=1.0,
        notes="string-match fallback, 1 s timeout (not the published scoring)" if corrected else "",
    )


TASKS = tuple(make_task(n, c) for n, c in SUBJECTS.items())
# Scored with the later upstream fix; not part of the published suite.
VARIANTS = tuple(make_task(n, c, corrected=True) for n, c in SUBJECTS.items())
GROUPS = (Group("leaderboard_math_hard", tuple(t.name for t in TASKS), aggregate=("exact_match",)),)
