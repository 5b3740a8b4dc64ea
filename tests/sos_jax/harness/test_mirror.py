"""Local hub-like dataset mirrors: a mirror of every task family written from the built-in samples in
the hub's file formats (parquet per config/split, JSON Lines named by a dataset card) gives the same
documents and results as the built-in path; missing datasets fail once, listing every fetch command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sos_jax.harness.data import SAMPLE_ROOT, load_task_docs, local_path
from sos_jax.harness.mirror import (
    MissingDatasets,
    dataset_listing,
    missing_datasets,
    needed_splits,
    require_datasets,
    split_files,
)
from sos_jax.tasks.registry import default_registry

# Families whose mirror is JSON Lines located by the dataset card's `configs:` block, as their hub
# repos do; every other dataset gets the parquet conversion's layout.
_CARD_JSONL = ("wis-k/instruction-following-eval", "lighteval/MATH-Hard")


def _all_tasks():
    registry = default_registry()
    return [registry.task(n) for n in registry.resolve("sos")]


def write_mirror(root: Path) -> Path:
    """Writes every dataset split the suite reads, from the built-in samples, in hub layouts."""
    import datasets

    tasks = {t.name: t for t in _all_tasks()}
    cards: dict[str, list[str]] = {}
    for need in needed_splits(tasks.values()):
        task = tasks[need.tasks[0]]
        docs = [json.loads(line) for line in local_path(SAMPLE_ROOT, task, need.split).read_text().splitlines() if line]
        repo = root / need.dataset_id
        config = need.config or "default"
        if need.dataset_id in _CARD_JSONL:
            rel = f"{need.split}/{config}.jsonl"  # e.g. MATH-Hard's test/algebra.jsonl
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text("".join(json.dumps(d) + "\n" for d in docs))
            cards.setdefault(need.dataset_id, []).append(f"- config_name: {config}\n  data_files:\n"
                                                         f"  - split: {need.split}\n    path: {need.split}/{config}.jsonl")
            continue
        folder = repo / need.config if need.config else repo / "data"
        folder.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list(docs).to_parquet(str(folder / f"{need.split}-00000-of-00001.parquet"))
    for dataset_id, entries in cards.items():
        (root / dataset_id / "README.md").write_text("---\nconfigs:\n" + "\n".join(entries) + "\n---\n# card\n")
    return root


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    return write_mirror(tmp_path_factory.mktemp("mirror"))


def test_every_task_reads_the_same_documents_from_the_mirror(mirror):
    tasks = _all_tasks()
    assert missing_datasets(tasks, "mirror", mirror) == []
    assert any(p.suffix == ".parquet" for p in mirror.rglob("*")) and (mirror / _CARD_JSONL[1] / "README.md").is_file()
    for task in tasks:
        ours, sample = load_task_docs(task, "mirror", mirror), load_task_docs(task, "sample")
        assert ours.docs == sample.docs, task.name
        assert ours.fewshot_pool == sample.fewshot_pool, task.name


def test_suite_results_from_the_mirror_equal_the_builtin_path(mirror, tmp_path, devices):
    from jaxrun import make_mesh
    from sos_jax.harness.config import EvalSettings
    from sos_jax.harness.models import load_engine
    from sos_jax.harness.runner import evaluate_model

    engine = load_engine("builtin:tiny", make_mesh(), cache_dir=tmp_path / "models")
    kwargs = dict(tasks=("sos",), limit=2, max_gen_toks=4)
    ours = evaluate_model(engine, "tiny", EvalSettings(data_source="mirror", data_dir=str(mirror), **kwargs), tmp_path / "m")
    ref = evaluate_model(engine, "tiny", EvalSettings(data_source="sample", **kwargs), tmp_path / "s")
    assert ours["results"].keys() == ref["results"].keys() and len(ours["results"]) > 40
    for name, metrics in ref["results"].items():
        for key, value in metrics.items():
            if key.endswith(",none"):
                assert ours["results"][name][key] == value, (name, key)


def test_missing_datasets_fail_once_listing_every_command(mirror, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(mirror, partial)
    shutil.rmtree(partial / "cais" / "wmdp")
    shutil.rmtree(partial / "TIGER-Lab" / "MMLU-Pro")
    with pytest.raises(MissingDatasets) as err:
        require_datasets(_all_tasks(), "mirror", partial)
    text = str(err.value)
    assert text.startswith("2 dataset(s) needed by this run are not in the local mirror")
    for dataset_id in ("cais/wmdp", "TIGER-Lab/MMLU-Pro"):
        assert f"huggingface-cli download --repo-type dataset {dataset_id} --local-dir {partial / dataset_id}" in text
    assert "wmdp-bio/test" in text and {m.dataset_id for m in err.value.missing} == {"cais/wmdp", "TIGER-Lab/MMLU-Pro"}


def test_listing_marks_what_the_mirror_has(mirror, tmp_path):
    tasks = _all_tasks()
    full = dataset_listing(tasks, mirror)
    assert "MISSING" not in full and full.count("present") == len({n.dataset_id for n in needed_splits(tasks)})
    listing = dataset_listing(tasks, tmp_path / "empty")
    assert "MISSING 3/3  cais/wmdp" in listing
    assert f"--local-dir {tmp_path / 'empty' / 'cais' / 'wmdp'}" in listing


def test_hub_offline_lists_what_the_cache_lacks(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    registry = default_registry()
    tasks = [registry.task("wmdp_bio"), registry.task("xstest")]
    missing = missing_datasets(tasks, "hub", None)
    assert [m.dataset_id for m in missing] == ["cais/wmdp", "walledai/XSTest"]
    assert missing_datasets(tasks, "hub", None) and not missing_datasets(tasks, "sample", None)
    with pytest.raises(MissingDatasets, match="Hugging Face cache"):
        require_datasets(tasks, "hub", None)


def test_card_globs_and_split_names(tmp_path):
    repo = tmp_path / "o" / "d"
    (repo / "data").mkdir(parents=True)
    for name in ("train-00000-of-00002.parquet", "train-00001-of-00002.parquet", "test-00000-of-00001.parquet"):
        (repo / "data" / name).write_bytes(b"")
    assert [p.name for p in split_files(tmp_path, "o/d", None, "train")] == [
        "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert split_files(tmp_path, "o/d", None, "validation") == []
    (repo / "README.md").write_text("---\nconfigs:\n- config_name: c1\n  data_files:\n  - split: test\n"
                                    "    path: data/test-*\n---\n")
    assert [p.name for p in split_files(tmp_path, "o/d", "c1", "test")] == ["test-00000-of-00001.parquet"]
