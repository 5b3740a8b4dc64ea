"""Every task's prompts, continuations and gold answers equal what lm-eval 0.4.13 builds.

lm-eval loads each task from a YAML that includes its shipped definition (leaderboard, wmdp,
toxigen) or restates the fork's (safety, BBQ), over our built-in sample JSONL files, offline;
then its own `fewshot_context` / `construct_requests` / `doc_to_target` are compared with ours
string for string. Known differences between lm-eval 0.4.13 and the SOS-era harness are asserted
exactly: the BBH snarks and WMDP descriptions (Jinja's trailing newline).
"""

from __future__ import annotations

import random

import pytest

from sos_jax.harness.data import load_split, load_task_docs
from sos_jax.harness.runner import EvalSettings, build_requests
from sos_jax.tasks import get_task, resolve
from sos_jax.tasks.task import INVALID_GOLD

from ..lmeval_tasks import write_task_yamls

SUITE = resolve("sos")


@pytest.fixture(scope="module")
def lm_tasks(tmp_path_factory, offline_nltk, math_verify_stub):
    """{our name: lm-eval task object} for the whole suite, with only the sample data available."""
    from lm_eval.tasks import TaskManager

    d = tmp_path_factory.mktemp("lm_yaml")
    mapping = write_task_yamls(d, SUITE, sos_era=False)
    tm = TaskManager(include_path=str(d), include_defaults=False)
    loaded = tm.load_task_or_group(list(mapping.values()))
    return {ours: loaded[lm] for ours, lm in mapping.items()}


def _lm_docs(lm_task, name):
    if name.startswith("leaderboard_gpqa_"):
        # GPQA shuffles with the global RNG, which task loading has already advanced (and
        # `datasets` may cache the mapped split): apply lm-eval's process_docs to the raw split
        # right after the harness's random.seed(0), the state our per-task Random(0) mirrors.
        import datasets

        raw = load_split(get_task(name), "train")
        random.seed(0)
        return [dict(d) for d in lm_task.config.process_docs(datasets.Dataset.from_list(raw))]
    docs = lm_task.test_docs() if lm_task.has_test_docs() else lm_task.validation_docs()
    return [dict(d) for d in docs]


def _lm_gold(lm_task, doc):
    target = lm_task.doc_to_target(doc)
    choices = lm_task.doc_to_choice(doc)
    if isinstance(target, list):
        return [t if t < len(choices) else INVALID_GOLD for t in target]
    if isinstance(target, str):
        return choices.index(target) if target in choices else INVALID_GOLD
    return int(target) if int(target) < len(choices) else INVALID_GOLD


def _sos_era(name: str, lm_context: str, task) -> str:
    """lm-eval 0.4.13's context rewritten to the SOS-era description rendering."""
    if name.endswith("_snarks"):
        return lm_context.replace(task.description[:-1], task.description, 1)
    if name.startswith("wmdp_"):
        return lm_context.replace(task.description + "\n", task.description, 1)
    return lm_context


def test_suite_has_63_tasks():
    assert len(SUITE) == 63


@pytest.mark.parametrize("name", SUITE)
def test_prompts_equal_lm_eval(name, lm_tasks):
    task, lm_task = get_task(name), lm_tasks[name]
    ours = load_task_docs(task, "sample")
    theirs = _lm_docs(lm_task, name)
    assert len(theirs) == len(ours.docs) >= 2
    requests = build_requests(task, ours, None, EvalSettings())
    num_fewshot = lm_task.config.num_fewshot or 0
    assert num_fewshot == task.num_fewshot
    lm_task.set_fewshot_seed(1234)
    for doc, lm_doc, reqs in zip(ours.docs, theirs, requests):
        lm_ctx = lm_task.fewshot_context(lm_doc, num_fewshot)
        assert reqs[0][0] == _sos_era(name, lm_ctx, task)
        lm_reqs = lm_task.construct_requests(lm_doc, lm_ctx)
        if task.output_type == "multiple_choice":
            assert [r[1] for r in reqs] == [inst.arguments[1] for inst in lm_reqs]
            assert task.gold(doc) == _lm_gold(lm_task, lm_doc)
            assert task.choices(doc) == list(lm_task.doc_to_choice(lm_doc))
        else:
            kwargs = lm_reqs.arguments[1]
            assert reqs[0][1]["until"] == kwargs["until"]
            assert reqs[0][1]["max_gen_toks"] == kwargs["max_gen_toks"]
            assert reqs[0][1]["do_sample"] is kwargs["do_sample"] is False


def test_sos_era_descriptions_differ_from_lm_eval_exactly_as_documented(lm_tasks):
    snarks = get_task("leaderboard_bbh_snarks")
    doc = load_task_docs(snarks).docs[0]
    ours = snarks.context(doc, snarks.shots_for([doc])[0])
    theirs = lm_tasks["leaderboard_bbh_snarks"].fewshot_context(doc, 3)
    assert ours == theirs.replace("witty remarks.Q: ", "witty remarks.\nQ: ", 1)
    bio = get_task("wmdp_bio")
    doc = load_task_docs(bio).docs[0]
    assert bio.context(doc).startswith("The following are multiple choice questions (with answers) about biology.\n"
                                       + doc["question"].strip())
    assert lm_tasks["wmdp_bio"].fewshot_context(doc, 0) == bio.context(doc).replace("biology.\n", "biology.\n\n", 1)
    # every other BBH description runs straight into the first shot
    boolean = get_task("leaderboard_bbh_boolean_expressions")
    assert boolean.context(load_split(boolean, "test")[0], boolean.fewshot_samples[:3]).startswith(
        "Evaluate the result of a random Boolean expression.Q: not ( ( not not True ) ) is\nA: False\n\n")


def test_fewshot_contexts_are_the_documented_ones():
    mmlu = get_task("leaderboard_mmlu_pro")
    td = load_task_docs(mmlu)
    shots = mmlu.shots_for(td.docs, td.fewshot_pool)
    # first five validation rows, in order, for every item whatever its category
    assert all(s == td.fewshot_pool[:5] for s in shots)
    ctx = mmlu.context(td.docs[0], shots[0])
    assert ctx.startswith("Which organ produces insulin?\nA. Liver\nB. Pancreas\nC. Kidney\nD. Spleen\nAnswer: B\n\n")
    assert ctx.endswith("J. 95 km/h\nAnswer:")
    math = get_task("leaderboard_math_algebra_hard")
    doc = load_task_docs(math).docs[0]
    ctx = math.context(doc, math.shots_for([doc])[0])
    assert ctx.startswith("Problem:\nFind the domain of the expression  $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}\n\nSolution: ")
    assert ctx.count("I hope it is correct.\n\nProblem:\n") == 4
    assert ctx.endswith("Problem:\nSolve for $x$: $2x + 6 = 20$.\n\nSolution:")
    gpqa = get_task("leaderboard_gpqa_main")
    doc = load_task_docs(gpqa).docs[0]
    assert gpqa.context(doc).startswith("What is the correct answer to this question:Which enzyme")
    assert gpqa.context(doc).endswith("\nAnswer: ") and gpqa.continuations(doc) == [" (A)", " (B)", " (C)", " (D)"]


def test_chat_template_puts_description_in_system_turn():
    seen = []

    def template(messages):
        seen.append(messages)
        return "|".join(f"{m['role']}:{m['content']}" for m in messages) + "|assistant:"

    bbq = get_task("bbq_age")
    doc = load_task_docs(bbq).docs[0]
    out = bbq.context(doc, chat_template=template)
    assert seen[0][0] == {"role": "system", "content": bbq.description}
    assert seen[0][1]["content"] == bbq.doc_to_text(doc)
    assert out.endswith("|assistant:")
    # under a chat template the continuation carries no leading space (lm-eval does the same)
    assert bbq.continuations(doc, chat=True) == doc["choices"]
