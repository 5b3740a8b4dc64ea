"""Custom tasks from safe-loaded YAML and from Python configs, and their error messages."""

from __future__ import annotations

import json
import textwrap

import pytest

from sos_jax.harness.data import load_task_docs
from sos_jax.tasks import default_registry, get_task
from sos_jax.tasks.custom import TaskConfigError, load_yaml_task, with_custom_tasks


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = [{"question": "Is water wet?", "label": 0, "options": ["yes", "no"]},
            {"question": "Is fire cold?", "label": 1, "options": ["yes", "no"]},
            {"question": "Two plus two?", "label": 1, "options": ["3", "4"]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _write(tmp_path, text, name="task.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_yaml_task_joins_a_new_registry_and_builds_lm_eval_style_prompts(tmp_path, data_file):
    path = _write(tmp_path, """\
        task: my_custom_qa
        factor: safety
        dataset_path: json
        data_files: {test: qa.jsonl}
        test_split: test
        output_type: multiple_choice
        description: "Answer briefly.\\n\\n"
        doc_to_text: "Q: {{question}}\\nA:"
        doc_to_choice: "{{options}}"
        doc_to_target: label
        num_fewshot: 1
        fewshot_split: test
        fewshot_config: {sampler: first_n}
        metric_list: [{metric: acc}, {metric: acc_norm}]
        """)
    base = default_registry()
    reg = with_custom_tasks(base, [path, path])  # a later file's task replaces the earlier custom one
    task = reg.task("my_custom_qa")
    assert reg.resolve("my_custom_qa") == ["my_custom_qa"] and task.factor == "safety"
    # nothing global changed: the default registry does not know the task
    assert "my_custom_qa" not in base.tasks() and default_registry() is base
    with pytest.raises(KeyError, match="my_custom_qa"):
        get_task("my_custom_qa")
    # a custom task naming a factor joins it as a benchmark of its own
    assert [b for b in reg.benchmarks() if b.name == "my_custom_qa"][0].metrics == ("my_custom_qa/acc",)
    assert len(reg.benchmarks()) == len(base.benchmarks()) + 1
    td = load_task_docs(task, "sample")  # a task with its own data_files always reads them
    assert len(td.docs) == 3
    shots = task.shots_for(td.docs, td.fewshot_pool)
    # first_n over the eval split skips the document itself, like lm-eval's FirstNSampler
    assert shots[0] == [td.docs[1]] and shots[1] == [td.docs[0]]
    # the description is rendered as the SOS-era harness did: Jinja drops one trailing newline
    assert task.context(td.docs[2], shots[2]) == "Answer briefly.\nQ: Is water wet?\nA: yes\n\nQ: Two plus two?\nA:"
    assert task.continuations(td.docs[2]) == [" 3", " 4"] and task.gold(td.docs[2]) == 1


def test_python_config_registers_tasks(tmp_path):
    path = _write(tmp_path, """\
        from sos_jax.tasks import Task

        TASKS = [Task(name="py_custom_task", factor="world_knowledge", dataset_path="json", dataset_name=None,
                      split="test", output_type="multiple_choice", doc_to_text=lambda d: d["q"],
                      doc_to_target=lambda d: 0, doc_to_choice=lambda d: ["a", "b"])]
        """, name="tasks_cfg.py")
    reg = with_custom_tasks(default_registry(), [path])
    assert reg.task("py_custom_task").context({"q": "hi"}) == "hi"


def test_builtin_names_cannot_be_replaced(tmp_path):
    path = _write(tmp_path, """\
        task: xstest
        dataset_path: json
        doc_to_text: prompt
        doc_to_choice: [a, b]
        doc_to_target: 0
        """)
    with pytest.raises(ValueError, match="'xstest' is already registered by the suite"):
        with_custom_tasks(default_registry(), [path])


@pytest.mark.parametrize("text, message", [
    ("task: t\n  bad: [unclosed\n", "not valid YAML"),
    ("task: t\ndataset_path: json\ndoc_to_text: !function utils.doc_to_text\ndoc_to_target: 0\n", "not valid YAML"),
    ("- just\n- a list\n", "a task config must be a mapping"),
    ("task: t\ndataset_path: json\ndoc_to_txt: x\ndoc_to_target: 0\n", "unknown key.*'doc_to_txt' \\(did you mean 'doc_to_text'\\?\\)"),
    ("task: t\ndataset_path: json\ndoc_to_target: 0\n", "missing required key 'doc_to_text'"),
    ("task: t\ndataset_path: json\ndoc_to_text: x\ndoc_to_target: 0\n", "needs 'doc_to_choice'"),
    ("task: t\nfactor: style\ndataset_path: json\ndoc_to_text: x\ndoc_to_target: 0\n", "'factor' must be one of"),
    ("task: t\ndataset_path: json\ndoc_to_text: x\ndoc_to_choice: [a]\ndoc_to_target: 0\n"
     "metric_list: [{metric: f1}]\n", "must be acc or acc_norm"),
])
def test_malformed_yaml_names_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TaskConfigError, match=message) as err:
        load_yaml_task(path)
    assert str(path) in str(err.value)


def test_template_errors_name_task_and_fields(tmp_path):
    path = _write(tmp_path, """\
        task: tmpl_err
        dataset_path: json
        doc_to_text: "Q: {{questoin}}"
        doc_to_choice: [a, b]
        doc_to_target: 0
        """)
    task = load_yaml_task(path)
    with pytest.raises(TaskConfigError, match=r"task 'tmpl_err'.*doc_to_text.*fields \['question'\].*questoin"):
        task.context({"question": "x"})
    # templates run sandboxed: no attribute escapes to Python internals
    path = _write(tmp_path, """\
        task: sandboxed
        dataset_path: json
        doc_to_text: "{{ question.__class__.__mro__[1].__subclasses__() }}"
        doc_to_choice: [a, b]
        doc_to_target: 0
        """)
    with pytest.raises(TaskConfigError, match="sandboxed"):
        load_yaml_task(path).context({"question": "x"})
    with pytest.raises(FileNotFoundError, match="custom task file .* does not exist"):
        load_yaml_task(tmp_path / "nope.yaml")
