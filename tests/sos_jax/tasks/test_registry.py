"""The registry and the suite: task names, groups, factors, lookup errors, sample data for every task."""

from __future__ import annotations

import dataclasses
import json
import types

import pytest

from sos_jax.harness.data import load_task_docs
from sos_jax.tasks import Benchmark, Registry, all_tasks, get_task, groups, resolve
from sos_jax.tasks.task import Group, Task


def test_suite_composition_matches_sos_bench():
    suite = resolve("sos")
    fam = lambda prefix: [n for n in suite if n.startswith(prefix)]  # noqa: E731
    assert len(fam("leaderboard_bbh_")) == 24
    assert fam("leaderboard_gpqa_") == ["leaderboard_gpqa_diamond", "leaderboard_gpqa_extended", "leaderboard_gpqa_main"]
    assert len(fam("leaderboard_musr_")) == 3 and len(fam("leaderboard_math_")) == 7
    assert "leaderboard_math_precalculus_hard" in suite and "leaderboard_mmlu_pro" in suite
    assert len(fam("bbq_")) == 11 and fam("wmdp_") == ["wmdp_bio", "wmdp_chem", "wmdp_cyber"]
    for name in ["BeaverTailsEval", "CDNA", "DTToxicity", "JailbreakHub", "SaladBench", "SGXSTest",
                 "StrongREJECT", "toxigen", "WildGuardTest", "xstest", "leaderboard_ifeval"]:
        assert name in suite
    assert len(suite) == len(set(suite)) == 63
    # corrected variants exist but stay out of the reference suite
    assert {"DTToxicity_corrected", "JailbreakHub_corrected", "leaderboard_math_algebra_hard_corrected"} <= set(all_tasks())
    assert not {n for n in suite if n.endswith("_corrected")}


def test_factors_metrics_and_settings():
    tasks = [get_task(n) for n in resolve("sos")]
    by_factor = {f: [t.name for t in tasks if t.factor == f] for f in ("world_knowledge", "instruction_following", "safety")}
    assert by_factor["instruction_following"] == ["leaderboard_ifeval"]
    assert len(by_factor["world_knowledge"]) == 38 and len(by_factor["safety"]) == 24
    assert [t.name for t in tasks if t.invert_in_factor] == ["wmdp_bio", "wmdp_chem", "wmdp_cyber"]
    shots = {t.name: t.num_fewshot for t in tasks}
    assert shots["leaderboard_bbh_navigate"] == 3 and shots["leaderboard_mmlu_pro"] == 5
    assert shots["leaderboard_math_geometry_hard"] == 4 and shots["leaderboard_gpqa_main"] == 0
    metric_names = {t.name: [m.name for m in t.metrics] for t in tasks}
    assert metric_names["leaderboard_bbh_snarks"] == ["acc_norm"] and metric_names["leaderboard_mmlu_pro"] == ["acc"]
    assert metric_names["xstest"] == ["acc", "acc_norm"] and metric_names["wmdp_bio"] == ["acc"]
    assert metric_names["leaderboard_ifeval"] == ["prompt_level_strict_acc", "inst_level_strict_acc",
                                                  "prompt_level_loose_acc", "inst_level_loose_acc"]
    math = get_task("leaderboard_math_num_theory_hard")
    assert (math.dataset_path, math.dataset_name, math.split) == ("lighteval/MATH-Hard", "number_theory", "test")
    assert dict(math.generation_kwargs) == {"until": ["Problem:"], "do_sample": False, "temperature": 0,
                                            "max_gen_toks": 1024}
    assert get_task("leaderboard_ifeval").generation_kwargs["max_gen_toks"] == 1280
    assert (get_task("SaladBench").dataset_name, get_task("toxigen").dataset_name) == ("mrq", "annotated")
    assert get_task("DTToxicity").split == "rtp"
    json.dumps([t.spec() for t in tasks])  # every definition serialises into results' configs


def test_groups_and_tags():
    g = groups()
    assert g["bbq"][1] == ("acc", "acc_norm") and g["wmdp"][1] == ("acc",)
    assert g["safety"][1] == ()  # a tag: selects, never aggregates
    assert g["leaderboard_bbh"][1] == ("acc_norm",) and len(g["leaderboard_bbh"][0]) == 24
    assert resolve("wmdp,xstest,wmdp_bio") == ["wmdp_bio", "wmdp_chem", "wmdp_cyber", "xstest"]
    assert resolve(["leaderboard_musr"]) == ["leaderboard_musr_murder_mysteries", "leaderboard_musr_object_placements",
                                             "leaderboard_musr_team_allocation"]


def test_unknown_task_suggests_close_names():
    with pytest.raises(KeyError, match="unknown task or group 'leaderboard_bbh_navgate'.*leaderboard_bbh_navigate"):
        get_task("leaderboard_bbh_navgate")
    with pytest.raises(KeyError, match="'xstset'.*xstest"):
        resolve("safety,xstset")
    with pytest.raises(KeyError, match="groups: .*leaderboard"):
        resolve("zzzzzzzz")


def test_missing_field_names_task_field_and_document():
    task = get_task("xstest")
    docs = [{"prompt": "a", "label": "safe"}, {"prompt": "b"}]
    with pytest.raises(KeyError, match=r"task 'xstest': document 1 of split 'train' in 'walledai/XSTest' has no field 'label'"):
        task.check_fields(docs)


def test_missing_field_in_local_data_is_reported_by_the_loader(tmp_path):
    task = get_task("leaderboard_musr_team_allocation")
    path = tmp_path / "TAUR-Lab__MuSR" / "default" / "team_allocation.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"narrative": "n", "question": "q", "choices": "['a', 'b']", "answer_choice": "a"}) + "\n"
                    + json.dumps({"narrative": "n", "question": "q", "answer_choice": "a"}) + "\n")
    with pytest.raises(KeyError, match="task 'leaderboard_musr_team_allocation': document 1 .* null field 'choices'"):
        load_task_docs(task, "local", tmp_path)
    path.write_text(json.dumps({"narrative": "n", "question": "q", "answer_choice": "a"}) + "\n")
    with pytest.raises(KeyError, match="document 0 of split 'team_allocation' in 'TAUR-Lab/MuSR' has no field 'choices'"):
        load_task_docs(task, "local", tmp_path)
    with pytest.raises(FileNotFoundError, match="no local data for split 'murder_mysteries'"):
        load_task_docs(get_task("leaderboard_musr_murder_mysteries"), "local", tmp_path)


def test_every_task_has_sample_docs_that_build_prompts():
    for name in resolve("sos"):
        task = get_task(name)
        td = load_task_docs(task, "sample")
        assert len(td.docs) >= 2, name
        shots = task.shots_for(td.docs, td.fewshot_pool)
        for doc, s in zip(td.docs, shots):
            assert len(s) == task.num_fewshot
            assert task.context(doc, s)
            if task.output_type == "multiple_choice":
                assert len(task.continuations(doc)) >= 2
    # the samples exercise both labels of the label-mapping tasks
    for name, field in [("DTToxicity", "toxic"), ("JailbreakHub", "jailbreak"), ("xstest", "label")]:
        assert len({d[field] for d in load_task_docs(get_task(name)).docs}) == 2


def test_limit_and_seeded_default_sampler():
    task = get_task("leaderboard_bbh_web_of_lies")
    assert len(load_task_docs(task, limit=1).docs) == 1
    pool = [{"input": f"q{i}", "target": "Yes"} for i in range(10)]
    t = Task(name="tmp_random_shots", factor="world_knowledge", dataset_path="x", dataset_name=None, split="test",
             output_type="multiple_choice", doc_to_text=lambda d: d["input"], doc_to_target=lambda d: d["target"],
             doc_to_choice=lambda d: ["Yes", "No"], num_fewshot=2, fewshot_split="test", fewshot_sampler="default")
    a, b = t.shots_for(pool[:3], pool, seed=1234), t.shots_for(pool[:3], pool, seed=1234)
    assert a == b and a != t.shots_for(pool[:3], pool, seed=1)
    assert all(doc not in shots and len(shots) == 2 for doc, shots in zip(pool, a))
    # lm-eval's ContextSampler: one Random(seed), n + 1 drawn per doc when sampling its own split
    from lm_eval.api.samplers import ContextSampler

    ref = ContextSampler(pool, rnd=1234)
    assert a == [ref.sample(2, eval_doc=doc) for doc in pool[:3]]


def test_bad_task_definitions_are_refused():
    kw = dict(name="bad", dataset_path="x", dataset_name=None, split="test", doc_to_text=str, doc_to_target=str)
    with pytest.raises(ValueError, match="factor must be one of .* or None"):
        Task(factor="style", output_type="multiple_choice", doc_to_choice=list, **kw)
    with pytest.raises(ValueError, match="needs doc_to_choice"):
        Task(factor="safety", output_type="multiple_choice", **kw)
    with pytest.raises(ValueError, match="num_fewshot=2 but no fewshot_split"):
        Task(factor="safety", output_type="multiple_choice", doc_to_choice=list, num_fewshot=2, **kw)


def _toy_family(name="toy_qa", extra_group=()):
    task = Task(name=name, dataset_path="json", dataset_name=None, split="test", output_type="multiple_choice",
                doc_to_text=lambda d: d["q"], doc_to_target=lambda d: 0, doc_to_choice=lambda d: ["a", "b"])
    return types.SimpleNamespace(TASKS=(task,), GROUPS=tuple(extra_group))


def test_registry_is_built_from_a_suite_not_by_import_side_effects():
    from sos_jax.tasks import bbh, default_registry, wmdp
    from sos_jax.tasks.suite import SOS, Family

    # families export data: their tasks carry no factor until a suite gives them one
    assert all(t.factor is None for t in bbh.TASKS + wmdp.TASKS)
    assert default_registry().task("wmdp_bio").invert_in_factor and not wmdp.TASKS[0].invert_in_factor
    # one family line adds tasks, a benchmark and the factor; the default registry is untouched
    suite = dataclasses.replace(SOS, families=SOS.families + (Family(_toy_family(), "safety", ("acc",), "Toy"),))
    reg = Registry.from_suite(suite)
    assert reg.task("toy_qa").factor == "safety" and reg.resolve("sos") == resolve("sos")
    assert reg.benchmarks()[-1] == Benchmark("Toy", "safety", ("toy_qa/acc",))
    with pytest.raises(KeyError, match="toy_qa"):
        get_task("toy_qa")


def test_suite_mistakes_are_refused():
    from sos_jax.tasks.suite import SOS, Family, Suite

    with pytest.raises(ValueError, match="factor must be one of"):
        Family(_toy_family(), "style", ("acc",))
    with pytest.raises(ValueError, match="exports no TASKS"):
        Family(types.SimpleNamespace(GROUPS=()), "safety", ("acc",))
    with pytest.raises(ValueError, match="'xstest' is defined twice"):
        Registry.from_suite(Suite("s", SOS.families + (Family(_toy_family("xstest"), "safety", ("acc",)),)))
    bad_group = Group("toys", ("toy_qa", "toy_missing"))
    with pytest.raises(ValueError, match="group 'toys': member 'toy_missing' is neither"):
        Registry.from_suite(Suite("s", (Family(_toy_family(extra_group=[bad_group]), "safety", ("acc",)),)))
    with pytest.raises(ValueError, match="no weight for task"):
        Registry.from_suite(Suite("s", (Family(_toy_family(), "safety", ("acc",), "T", weights={"x": 1}),))).benchmarks()


def test_task_modules_import_without_cycles():
    # Every import between sos_jax.tasks modules (top-level or inside functions) points one way:
    # task <- families <- suite <- registry <- custom.
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "sos_jax" / "tasks"
    graph = {}
    for path in root.glob("*.py"):
        if path.name == "__init__.py":
            continue
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sos_jax.tasks"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                deps |= {n.split(".")[2] for n in names if n.count(".") >= 2}
        graph[path.stem] = deps & {p.stem for p in root.glob("*.py")} - {path.stem}
    assert graph["task"] == set() and graph["suite"] >= {"bbh", "wmdp", "task"}
    done, stack = set(), []

    def visit(m):
        assert m not in stack, f"import cycle: {' -> '.join(stack + [m])}"
        if m in done:
            return
        stack.append(m)
        for d in graph.get(m, ()):
            visit(d)
        stack.pop()
        done.add(m)

    for m in graph:
        visit(m)
