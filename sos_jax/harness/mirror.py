"""Local dataset mirrors laid out like the Hugging Face hub, for offline evaluation.

A mirror is a folder holding, per dataset id `owner/name`, the repository's files as
`huggingface-cli download --repo-type dataset owner/name --local-dir <data_dir>/owner/name`
writes them: parquet or JSON Lines files per config and split, under the hub's folder names.
A config/split's files are found the way the hub finds them:
1. the `configs:` block of the dataset card (README.md front matter) when it names the config:
   its `data_files` per split (paths or glob patterns);
2. otherwise by file name in `<config>/`, `data/<config>/`, `data/` or the top folder (the
   parquet conversion's `<config>/<split>-00000-of-00001.parquet`, `data/<split>-*.parquet`,
   `<split>.jsonl`, ...).

`missing_datasets` checks every task of a run up front, so a run fails once with the full list of
what to download (`MissingDatasets`), not at the first absent file halfway through.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from sos_jax.tasks.task import Task

EXTENSIONS = (".parquet", ".jsonl", ".json")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def hub_offline() -> bool:
    """Returns whether the standard Hugging Face offline variables forbid hub downloads."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARIABLES)


def download_command(dataset_id: str, data_dir: str | os.PathLike | None) -> str:
    """Returns the command that fetches `dataset_id` into its place in the mirror."""
    root = Path(data_dir) if data_dir else Path("<data_dir>")
    return f"huggingface-cli download --repo-type dataset {dataset_id} --local-dir {root / dataset_id}"


@dataclasses.dataclass(frozen=True)
class DatasetNeed:
    """One dataset split a task reads."""

    dataset_id: str
    config: str | None
    split: str
    tasks: tuple[str, ...]


def needed_splits(tasks: Iterable[Task]) -> list[DatasetNeed]:
    """Returns the (dataset, config, split) triples `tasks` read, in first-use order."""
    seen: dict[tuple, list[str]] = {}
    for task in tasks:
        if task.dataset_kwargs:  # a task with its own data files (custom tasks) reads those
            continue
        splits = [task.split]
        if task.num_fewshot and task.fewshot_samples is None and task.fewshot_split:
            splits.append(task.fewshot_split)
        for split in splits:
            seen.setdefault((task.dataset_path, task.dataset_name, split), []).append(task.name)
    return [DatasetNeed(d, c, s, tuple(dict.fromkeys(t))) for (d, c, s), t in seen.items()]


@functools.lru_cache(maxsize=256)
def _card_configs(card: str, mtime_ns: int) -> dict[str, dict[str, list[str]]]:
    """Returns {config name: {split: [patterns]}} from a dataset card's `configs:` front matter."""
    import yaml

    text = Path(card).read_text(encoding="utf-8")
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not match:
        return {}
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{card}: front matter is not valid YAML: {err}") from err
    out: dict[str, dict[str, list[str]]] = {}
    for entry in meta.get("configs") or []:
        files = entry.get("data_files")
        if isinstance(files, (str, list)) and (isinstance(files, str) or all(isinstance(f, str) for f in files)):
            files = [{"split": "train", "path": files}]
        by_split: dict[str, list[str]] = {}
        for item in files or []:
            paths = item.get("path")
            by_split[str(item.get("split", "train"))] = [paths] if isinstance(paths, str) else list(paths or [])
        out[str(entry.get("config_name", "default"))] = by_split
    return out


def _by_name(folder: Path, split: str) -> list[Path]:
    if not folder.is_dir():
        return []
    name_re = re.compile(rf"^(.*[-_.])?{re.escape(split)}([-_.].*)?$")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix in EXTENSIONS and name_re.match(p.name[: -len(p.suffix)]))


def split_files(data_dir: str | os.PathLike, dataset_id: str, config: str | None, split: str) -> list[Path]:
    """Returns the mirror's files for one config/split of `dataset_id` (empty when absent)."""
    root = Path(data_dir) / dataset_id
    if not root.is_dir():
        return []
    card = root / "README.md"
    if card.is_file():
        configs = _card_configs(str(card), card.stat().st_mtime_ns)
        patterns = configs.get(config or "default", {}).get(split)
        if patterns:
            return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    folders = [root / config, root / "data" / config] if config else []
    folders += [root / "data", root]
    for folder in folders:
        found = _by_name(folder, split)
        if found:
            return found
    return []


@functools.lru_cache(maxsize=512)
def _read(files: tuple[str, ...], stamps: tuple[tuple[int, int], ...]) -> tuple[dict, ...]:
    # (mtime, size) of every file in the key: an edited mirror is read again.
    import datasets

    builder = "parquet" if all(f.endswith(".parquet") for f in files) else "json"
    if builder == "json" and any(f.endswith(".parquet") for f in files):
        raise ValueError(f"mixed parquet and JSON files for one split: {list(files)}")
    ds = datasets.load_dataset(builder, data_files=list(files), split="train", keep_in_memory=True)
    return tuple(ds.to_list())


def load_mirror_split(task: Task, split: str, data_dir: str | os.PathLike) -> list[dict]:
    """Returns the raw documents of `task`'s `split` from the mirror; MissingDatasets if absent."""
    files = split_files(data_dir, task.dataset_path, task.dataset_name, split)
    if not files:
        raise MissingDatasets([DatasetNeed(task.dataset_path, task.dataset_name, split, (task.name,))], data_dir)
    stamps = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return [dict(d) for d in _read(tuple(str(p) for p in files), stamps)]


class MissingDatasets(FileNotFoundError):
    """Raised when datasets a run needs are absent: lists every one with its download command."""

    def __init__(self, missing: Sequence[DatasetNeed], data_dir: str | os.PathLike | None):
        self.missing = list(missing)
        self.data_dir = data_dir
        ids = list(dict.fromkeys(m.dataset_id for m in self.missing))
        where = f"the local mirror {data_dir}" if data_dir else "the Hugging Face cache (offline mode)"
        lines = [f"{len(ids)} dataset(s) needed by this run are not in {where}; fetch each with:"]
        for dataset_id in ids:
            parts = [m for m in self.missing if m.dataset_id == dataset_id]
            what = ", ".join(f"{m.config or 'default'}/{m.split}" for m in parts)
            tasks = sorted({t for m in parts for t in m.tasks})
            lines.append(f"  {download_command(dataset_id, data_dir)}    # {what}; tasks: {', '.join(tasks[:5])}"
                         + (f" (+{len(tasks) - 5})" if len(tasks) > 5 else ""))
        super().__init__("\n".join(lines))


def _in_hf_cache(need: DatasetNeed) -> bool:
    import datasets

    try:
        datasets.load_dataset(need.dataset_id, need.config, split=need.split)
    except Exception:  # noqa: BLE001 - offline: any failure means the cache cannot serve it
        return False
    return True


def missing_datasets(tasks: Iterable[Task], source: str, data_dir: str | os.PathLike | None) -> list[DatasetNeed]:
    """Returns the dataset splits `tasks` need that `source` cannot serve.

    "mirror": files absent from `data_dir`; "hub" with the HF offline variables set: splits the
    local Hugging Face cache cannot load; anything else (online hub, built-in samples): nothing.
    """
    needs = needed_splits(tasks)
    if source == "mirror":
        return [n for n in needs if not split_files(data_dir, n.dataset_id, n.config, n.split)]
    if source == "hub" and hub_offline():
        return [n for n in needs if not _in_hf_cache(n)]
    return []


def require_datasets(tasks: Iterable[Task], source: str, data_dir: str | os.PathLike | None) -> None:
    """Raises MissingDatasets listing every dataset `tasks` need that `source` cannot serve."""
    missing = missing_datasets(tasks, source, data_dir)
    if missing:
        raise MissingDatasets(missing, data_dir if source == "mirror" else None)


def dataset_listing(tasks: Iterable[Task], data_dir: str | os.PathLike | None = None) -> str:
    """Returns one line per dataset the tasks read: its id, configs/splits, presence and fetch command."""
    needs = needed_splits(tasks)
    lines = []
    for dataset_id in dict.fromkeys(n.dataset_id for n in needs):
        parts = [n for n in needs if n.dataset_id == dataset_id]
        status = ""
        if data_dir:
            absent = [n for n in parts if not split_files(data_dir, dataset_id, n.config, n.split)]
            status = "present  " if not absent else f"MISSING {len(absent)}/{len(parts)}  "
        what = ", ".join(f"{n.config or 'default'}/{n.split}" for n in parts)
        lines.append(f"{status}{dataset_id}  [{what}]\n    {download_command(dataset_id, data_dir)}")
    return "\n".join(lines)


__all__ = ["MissingDatasets", "dataset_listing", "download_command", "hub_offline", "load_mirror_split",
           "missing_datasets", "needed_splits", "require_datasets", "split_files"]
