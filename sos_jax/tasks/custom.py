"""User tasks without editing the package: from a small YAML file or a Python config.

YAML is read with `yaml.safe_load` (no tags, so no code runs from a data file: lm-eval's
`!function` is refused) and its templates are rendered by a sandboxed Jinja environment with
lm-eval's rules: a value that names a document field returns that field raw, anything else is a
template; a rendered target that is all digits becomes a choice index, one that looks like `[..]`
a list of indices. Keys follow lm-eval's task YAML:

    task: my_yesno                 # required
    factor: safety                 # world_knowledge | instruction_following | safety | null
    dataset_path: json             # a hub id, or json/csv/parquet with data_files
    dataset_name: null
    data_files: {test: my.jsonl}   # relative to the YAML file
    test_split: test
    output_type: multiple_choice   # or generate_until (then generation_kwargs; metric exact_match)
    doc_to_text: "Q: {{question}}\\nA:"
    doc_to_choice: ["yes", "no"]   # a list, a field name, or a template rendering a list
    doc_to_target: label           # a field name, a template, or an int
    description: ""
    num_fewshot: 0
    fewshot_split: null
    fewshot_config: {sampler: first_n}   # or default (seeded random)
    metric_list: [{metric: acc}, {metric: acc_norm}]

A Python config is a file defining `TASKS` (a list of `Task`) or `get_tasks()`; it is imported
(it is code the user chose to run).

`with_custom_tasks(registry, paths)` returns a new `Registry` holding the files' tasks; nothing
global changes. A custom task with a `factor` joins that factor as a benchmark of its own.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from sos_jax.tasks.registry import Registry
from sos_jax.tasks.task import ACC, ACC_NORM, FACTORS, INVALID_GOLD, Metric, Task, resolve_gold, template_target

_KEYS = {
    "task", "factor", "dataset_path", "dataset_name", "data_files", "test_split", "output_type",
    "doc_to_text", "doc_to_choice", "doc_to_target", "description", "num_fewshot", "fewshot_split",
    "fewshot_config", "metric_list", "generation_kwargs", "target_delimiter", "fewshot_delimiter",
    "metadata", "group", "tag", "invert_in_factor",
}
_METRICS = {"acc": ACC, "acc_norm": ACC_NORM}


class TaskConfigError(ValueError):
    """A custom task file is malformed; the message names the file and the key."""


def _env():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # keep_trailing_newline=False is the SOS-era rendering (docs/tasks.md, "Prompt assembly").
    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)


def _render(env, template: str, doc: dict, where: str) -> str:
    try:
        return env.from_string(template).render(**doc)
    except Exception as e:  # jinja raises many types; name the task and key either way
        raise TaskConfigError(f"{where}: cannot render {template!r} on document with fields {sorted(doc)}: {e}") from e


def _field_or_template(env, value: Any, where: str, kind: str) -> Callable[[dict], Any]:
    if isinstance(value, str):
        def fn(doc: dict) -> Any:
            if value in doc:
                return doc[value]
            rendered = _render(env, value, doc, where)
            if kind == "choice":
                return list(ast.literal_eval(rendered))
            if kind == "target":
                return template_target(rendered)
            return rendered
        return fn
    if kind == "choice" and isinstance(value, list):
        return lambda doc, _v=tuple(str(v) for v in value): list(_v)
    if kind == "target" and isinstance(value, int):
        return lambda doc: value
    raise TaskConfigError(f"{where}: expected a field name or template string, got {type(value).__name__}")


def _checked_target(target_fn: Callable[[dict], Any], choice_fn: Callable[[dict], Any], where: str
                    ) -> Callable[[dict], Any]:
    """Returns `target_fn`, raising for a document whose target names no choice: lm-eval scores such
    a document 0 without a word, and for a custom task that is a config error, not a wrong answer."""

    def fn(doc: dict) -> Any:
        target, choices = target_fn(doc), choice_fn(doc)
        gold = resolve_gold(target, choices)
        if INVALID_GOLD in (gold if isinstance(gold, list) else [gold]):
            shown = json.dumps(doc, default=str, ensure_ascii=False)
            shown = shown if len(shown) <= 160 else shown[:157] + "..."
            raise TaskConfigError(
                f"{where} doc_to_target: target {target!r} of document {shown} is not one of its "
                f"{len(choices)} choices (expected an index in [0, {len(choices) - 1}] or a choice string)")
        return target

    return fn


def task_from_dict(cfg: dict, source: str = "<dict>", base_dir: str | os.PathLike | None = None) -> Task:
    """Returns a `Task` from an lm-eval-style mapping; errors name `source` and the bad key."""
    if not isinstance(cfg, dict):
        raise TaskConfigError(f"{source}: a task config must be a mapping, got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        hints = {k: difflib.get_close_matches(k, _KEYS, n=1) for k in unknown}
        hint = "; ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise TaskConfigError(f"{source}: unknown key(s) {hint}")
    for key in ("task", "dataset_path", "doc_to_text", "doc_to_target"):
        if key not in cfg:
            raise TaskConfigError(f"{source}: missing required key {key!r}")
    name = str(cfg["task"])
    where = f"{source} (task {name!r})"
    factor = cfg.get("factor")
    if factor is not None and factor not in FACTORS:
        raise TaskConfigError(f"{where}: 'factor' must be one of {FACTORS} or null, got {factor!r}")
    output_type = cfg.get("output_type", "multiple_choice")
    env = _env()
    choice = None
    if output_type == "multiple_choice":
        if "doc_to_choice" not in cfg:
            raise TaskConfigError(f"{where}: a multiple_choice task needs 'doc_to_choice'")
        choice = _field_or_template(env, cfg["doc_to_choice"], f"{where} doc_to_choice", "choice")
    metrics = []
    for m in cfg.get("metric_list") or ([{"metric": "acc"}] if output_type == "multiple_choice"
                                         else [{"metric": "exact_match"}]):
        mname = m.get("metric") if isinstance(m, dict) else None
        if output_type == "multiple_choice" and mname not in _METRICS:
            raise TaskConfigError(f"{where}: metric_list entries must be acc or acc_norm for multiple_choice, got {m!r}")
        if output_type == "generate_until" and mname != "exact_match":
            raise TaskConfigError(f"{where}: generate_until tasks support metric exact_match, got {m!r}")
        metrics.append(_METRICS.get(mname, Metric("exact_match")))
    text_fn = _field_or_template(env, cfg["doc_to_text"], f"{where} doc_to_text", "text")
    target_fn = _field_or_template(env, cfg["doc_to_target"], f"{where} doc_to_target", "target")
    if choice is not None:
        target_fn = _checked_target(target_fn, choice, where)
    process_results = None
    if output_type == "generate_until":
        def process_results(doc: dict, response: str) -> dict:
            return {"exact_match": int(response.strip() == str(target_fn(doc)).strip())}
    dataset_kwargs = None
    if "data_files" in cfg:
        files = cfg["data_files"]
        if isinstance(files, str):
            files = {cfg.get("test_split", "test"): files}
        if not isinstance(files, dict):
            raise TaskConfigError(f"{where}: 'data_files' must be a path or a split -> path mapping")
        base = Path(base_dir) if base_dir else Path.cwd()
        dataset_kwargs = {"data_files": {k: str((base / v).resolve()) for k, v in files.items()}}
    # The SOS-era harness rendered descriptions through Jinja, dropping one trailing newline.
    description = _render(env, str(cfg.get("description", "")), {}, f"{where} description")
    fewshot_cfg = cfg.get("fewshot_config") or {}
    try:
        return Task(
            name=name, factor=factor, dataset_path=str(cfg["dataset_path"]), dataset_name=cfg.get("dataset_name"),
            split=str(cfg.get("test_split", "test")), output_type=output_type, doc_to_text=text_fn,
            doc_to_target=target_fn, doc_to_choice=choice, description=description,
            num_fewshot=int(cfg.get("num_fewshot", 0)), fewshot_split=cfg.get("fewshot_split"),
            fewshot_sampler=fewshot_cfg.get("sampler", "default"), generation_kwargs=cfg.get("generation_kwargs"),
            metrics=tuple(metrics), process_results=process_results, dataset_kwargs=dataset_kwargs,
            invert_in_factor=bool(cfg.get("invert_in_factor", False)),
            version=float((cfg.get("metadata") or {}).get("version", 0.0)),
            target_delimiter=str(cfg.get("target_delimiter", " ")),
            fewshot_delimiter=str(cfg.get("fewshot_delimiter", "\n\n")),
        )
    except ValueError as e:
        raise TaskConfigError(f"{source}: {e}") from e


def load_yaml_task(path: str | os.PathLike) -> Task:
    """Returns the task defined by a YAML file (safe-loaded); errors name the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"custom task file {path} does not exist")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise TaskConfigError(f"{path}: not valid YAML (tags such as !function are not allowed): {e}") from e
    return task_from_dict(cfg, source=str(path), base_dir=path.parent)


def load_python_tasks(path: str | os.PathLike) -> list[Task]:
    """Returns the tasks a Python config file defines in `TASKS` or `get_tasks()`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"custom task file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"sos_custom_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tasks = module.get_tasks() if hasattr(module, "get_tasks") else getattr(module, "TASKS", None)
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise TaskConfigError(f"{path}: define TASKS (a list of sos_jax.tasks.Task) or get_tasks()")
    return list(tasks)


def load_custom_tasks(path: str | os.PathLike) -> list[Task]:
    """Returns the task(s) a .yaml/.yml or .py file defines."""
    suffix = Path(path).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return [load_yaml_task(path)]
    if suffix == ".py":
        return load_python_tasks(path)
    raise TaskConfigError(f"{path}: custom tasks are .yaml, .yml or .py files")


def with_custom_tasks(registry: Registry, paths: Iterable[str | os.PathLike]) -> Registry:
    """Returns a new registry: `registry` plus the tasks of every file in `paths`, in order.

    A later file's task replaces an earlier custom task of the same name; a suite task's name is
    refused (ValueError).
    """
    for path in paths:
        registry = registry.with_tasks(load_custom_tasks(path))
    return registry
