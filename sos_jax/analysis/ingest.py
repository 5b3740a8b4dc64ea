"""Readers for evaluation results and leaderboards, into two small tables.

* `ModelResults`: one model's task metrics (`"task/metric"` -> value), their stderrs and, when the
  run logged them, per-question values (`SampleLog`). Read from lm-eval results JSON (ours and
  lm-eval's own: `results` -> task -> `"acc,none"`, `"acc_stderr,none"`, with
  `samples_<task>_*.jsonl` beside it) and from wide CSV exports (`<task>/<metric>` columns with
  `_stderr` companions, like a Weights & Biases export).
* `Leaderboard`: model -> one or more score columns (with CI bounds when the source has them).
  Read from Arena-Hard CSVs (model, score, rating_q025, rating_q975), LiveBench category/task
  CSVs and any CSV whose first column names models.

Every error names the file, and the row/column when there is one.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from jaxrun import read_jsonl

# Metric keys in lm-eval results that are not scores.
_NON_METRIC_KEYS = {"alias", "name", "sample_len", "samples", "sample_count", " "}
_MISSING = {"", "n/a", "na", "nan", "none", "null", "-"}


@dataclass
class SampleLog:
    """Per-question values of one task for one model.

    `values[metric]` is each question's numerator and `weights[metric]` its denominator, so the
    task metric is `sum(values) / sum(weights)`: 1 per question for ordinary metrics, the number
    of instructions for IFEval's instruction-level accuracies.
    """

    doc_ids: np.ndarray
    values: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]

    def metric(self, name: str) -> float:
        """Returns the task metric `name` recomputed from the questions."""
        return float(self.values[name].sum() / self.weights[name].sum())


@dataclass
class ModelResults:
    """One model's metrics from one source."""

    model: str
    source: str
    scores: dict[str, float] = field(default_factory=dict)  # "task/metric" -> value
    stderrs: dict[str, float] = field(default_factory=dict)  # "task/metric" -> se (NaN unknown)
    samples: dict[str, SampleLog] = field(default_factory=dict)  # task -> per-question log
    n_samples: dict[str, int] = field(default_factory=dict)  # task -> documents evaluated (lm-eval `n-samples`)


@dataclass
class Leaderboard:
    """Scores of models on one leaderboard; `columns` holds every numeric score column."""

    name: str
    source: str
    models: list[str]
    columns: dict[str, np.ndarray]
    ci_low: dict[str, np.ndarray] = field(default_factory=dict)
    ci_high: dict[str, np.ndarray] = field(default_factory=dict)
    primary: str = "score"

    def column(self, name: str | None = None) -> np.ndarray:
        """Returns one score column (the primary one by default)."""
        name = name or self.primary
        if name not in self.columns:
            raise KeyError(f"{self.source}: leaderboard {self.name!r} has no column {name!r}; has {list(self.columns)}")
        return self.columns[name]


def _parse_float(text, where: str) -> float:
    """Returns a float from a table cell; NaN for the usual missing markers; errors name `where`."""
    if text is None:
        return math.nan
    if isinstance(text, bool):
        return float(text)
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip()
    if s.lower() in _MISSING:
        return math.nan
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"{where}: expected a number, got {s!r}") from None


def _read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise ValueError(f"{path}: empty CSV (no header row)")
        header = [h.strip() for h in reader.fieldnames]
        reader.fieldnames = header
        rows = list(reader)
    if not rows:
        raise ValueError(f"{path}: CSV has a header but no rows")
    return header, rows


# ----------------------------------------------------------------------------- results


def read_wide_csv(path: str | Path, model_column: str | None = None) -> list[ModelResults]:
    """Returns one `ModelResults` per row of a wide export (`<task>/<metric>` + `_stderr` columns).

    The model column is `model_column`, else `Name`/`name`/`model`. Metadata columns (no `/`)
    are ignored; a stderr column of `N/A` gives NaN.
    """
    path = Path(path)
    header, rows = _read_csv_rows(path)
    if model_column is None:
        model_column = next((c for c in ("Name", "name", "model", "Model") if c in header), None)
        if model_column is None:
            raise ValueError(f"{path}: no model column; expected one of Name/name/model, got {header[:6]}...")
    elif model_column not in header:
        raise ValueError(f"{path}: model column {model_column!r} not in header {header[:6]}...")
    metric_cols = [c for c in header if "/" in c and not c.endswith("_stderr")]
    if not metric_cols:
        raise ValueError(f"{path}: no '<task>/<metric>' columns; is this a wide results export?")
    out = []
    for i, row in enumerate(rows, start=2):
        model = (row.get(model_column) or "").strip()
        if not model:
            raise ValueError(f"{path}: line {i}: empty model name in column {model_column!r}")
        res = ModelResults(model=model, source=str(path))
        for col in metric_cols:
            value = _parse_float(row.get(col), f"{path}: line {i}, column {col!r}")
            if math.isnan(value):
                continue
            res.scores[col] = value
            se_col = col + "_stderr"
            res.stderrs[col] = _parse_float(row.get(se_col), f"{path}: line {i}, column {se_col!r}") if se_col in row else math.nan
        out.append(res)
    return out


def _split_metric_key(key: str) -> str | None:
    """Returns `metric` (or `metric,filter` for non-default filters) of an lm-eval key."""
    metric, _, filt = key.partition(",")
    if not filt or filt == "none":
        return metric
    return f"{metric},{filt}"


def _model_name(obj: dict, path: Path) -> str:
    for key in ("model_name", "model"):
        v = obj.get(key)
        if isinstance(v, str) and v.strip():
            return v.strip()
    cfg = obj.get("config") or {}
    args = cfg.get("model_args") if isinstance(cfg, dict) else None
    if isinstance(args, str):
        m = re.search(r"(?:pretrained|model|path)=([^,]+)", args)
        if m:
            return m.group(1)
    if isinstance(args, dict):
        for key in ("pretrained", "model", "path"):
            if isinstance(args.get(key), str):
                return args[key]
    # lm-eval writes <output>/<model_sanitized>/results_<date>.json
    return path.parent.name


def _sample_value(v, where: str) -> tuple[float, float]:
    """Returns (numerator, denominator) for one logged per-question metric value."""
    if isinstance(v, (list, tuple)):  # IFEval instruction-level: one bool per instruction
        vals = [float(bool(x)) if isinstance(x, bool) else _parse_float(x, where) for x in v]
        return float(sum(vals)), float(len(vals))
    if isinstance(v, bool):
        return float(v), 1.0
    if isinstance(v, (int, float)):
        return float(v), 1.0
    raise ValueError(f"{where}: per-question metric must be a number, bool or list, got {type(v).__name__}")


def read_samples(path: str | Path, metrics: Iterable[str] | None = None) -> SampleLog:
    """Returns the per-question log in an lm-eval `samples_<task>_*.jsonl` file.

    Each line carries `doc_id` and one key per metric (listed in `metrics` when lm-eval wrote
    it). Lines with a non-`none` `filter` are skipped unless the task has no `none` lines.
    """
    path = Path(path)
    records = []
    for i, rec in read_jsonl(path):
        if "doc_id" not in rec:
            raise ValueError(f"{path}: line {i}: missing field 'doc_id'")
        records.append((i, rec))
    if not records:
        raise ValueError(f"{path}: no per-question records")
    filters = {rec.get("filter", "none") for _, rec in records}
    keep = "none" if "none" in filters else sorted(filters)[0]
    records = [(i, r) for i, r in records if r.get("filter", "none") == keep]
    names = list(metrics) if metrics is not None else list(records[0][1].get("metrics") or [])
    if not names:
        raise ValueError(f"{path}: records have no 'metrics' list; pass the metric names")
    doc_ids = np.asarray([r["doc_id"] for _, r in records])
    values, weights = {}, {}
    for name in names:
        num, den = np.empty(len(records)), np.empty(len(records))
        for j, (i, rec) in enumerate(records):
            if name not in rec:
                raise ValueError(f"{path}: line {i}: missing metric field {name!r}")
            num[j], den[j] = _sample_value(rec[name], f"{path}: line {i}, field {name!r}")
        values[name], weights[name] = num, den
    return SampleLog(doc_ids=doc_ids, values=values, weights=weights)


def _task_of_samples_file(path: Path) -> str:
    # samples_<task>_<date>.jsonl, where <date> is lm-eval's 2024-07-22T10-11-12.123456 stamp.
    stem = path.name[len("samples_"):]
    stem = stem[: -len(".jsonl")] if stem.endswith(".jsonl") else stem.rsplit(".", 1)[0]
    m = re.match(r"(.+)_(\d{4}-\d{2}-\d{2}T[\d\-\.]+)$", stem)
    return m.group(1) if m else stem


def read_lm_eval_json(path: str | Path, with_samples: bool = True) -> ModelResults:
    """Returns the metrics in one lm-eval results JSON (and its sibling sample logs)."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("results"), dict):
        raise ValueError(f"{path}: expected an lm-eval results object with a 'results' mapping")
    res = ModelResults(model=_model_name(obj, path), source=str(path))
    for task, counts in (obj.get("n-samples") or {}).items():
        if isinstance(counts, dict) and isinstance(counts.get("effective"), (int, float)):
            res.n_samples[task] = int(counts["effective"])
    for task, metrics in obj["results"].items():
        if not isinstance(metrics, dict):
            raise ValueError(f"{path}: results[{task!r}] must be a mapping of metric -> value")
        for key, value in metrics.items():
            if key in _NON_METRIC_KEYS or "_stderr" in key.split(",")[0]:
                continue
            metric = _split_metric_key(key)
            if metric is None or isinstance(value, (dict, list)):
                continue
            val = _parse_float(value, f"{path}: results[{task!r}][{key!r}]")
            if math.isnan(val):
                continue
            name = f"{task}/{metric}"
            res.scores[name] = val
            base, _, filt = key.partition(",")
            se_key = f"{base}_stderr" + (f",{filt}" if filt else "")
            res.stderrs[name] = _parse_float(metrics.get(se_key), f"{path}: results[{task!r}][{se_key!r}]")
    if with_samples:
        # lm-eval stamps a run's results and samples alike; prefer this run's samples, else the newest.
        stamp = path.stem[len("results_"):] if path.stem.startswith("results_") else ""
        candidates: dict[str, list[Path]] = {}
        for sp in sorted(path.parent.glob("samples_*.jsonl")):
            task = _task_of_samples_file(sp)
            if task in obj["results"]:
                candidates.setdefault(task, []).append(sp)
        for task, paths in candidates.items():
            same_run = [p for p in paths if stamp and p.stem.endswith(stamp)]
            sp = (same_run or paths)[-1]
            wanted = [k.split("/", 1)[1] for k in res.scores if k.startswith(task + "/") and "," not in k]
            log = read_samples(sp)
            keep = [m for m in wanted if m in log.values]
            if keep:
                res.samples[task] = SampleLog(log.doc_ids, {m: log.values[m] for m in keep}, {m: log.weights[m] for m in keep})
    return res


def read_results(paths: str | Path | Sequence[str | Path]) -> list[ModelResults]:
    """Returns every model's metrics found in `paths` (files or directories, comma lists allowed).

    A directory is searched recursively for `results*.json` files (the newest, by timestamped name,
    per folder); `.csv` files are wide exports; other `.json` files must be lm-eval results objects.
    """
    if isinstance(paths, (str, Path)):
        paths = [p for p in str(paths).split(",") if p.strip()]
    out: list[ModelResults] = []
    for p in paths:
        p = Path(str(p).strip())
        if p.is_dir():
            found = sorted(p.rglob("results*.json"))
            if not found:
                raise ValueError(f"{p}: directory holds no results*.json files")
            # A re-run leaves several results_<timestamp>.json per model folder: the newest wins.
            latest: dict[Path, Path] = {}
            for f in found:
                latest[f.parent] = f
            out.extend(read_lm_eval_json(f) for f in latest.values())
        elif p.suffix.lower() == ".csv":
            out.extend(read_wide_csv(p))
        elif p.suffix.lower() == ".json":
            out.append(read_lm_eval_json(p))
        elif not p.exists():
            raise FileNotFoundError(f"results path {p} does not exist")
        else:
            raise ValueError(f"{p}: results must be a directory, .json or .csv")
    return out


# ----------------------------------------------------------------------------- leaderboards

_ARENA_COLUMNS = ("model", "score", "rating_q025", "rating_q975")
_LIVEBENCH_GROUPS = ("coding", "data_analysis", "instruction_following", "language", "math", "reasoning")


def read_arena_hard(path: str | Path, name: str = "arena_hard") -> Leaderboard:
    """Returns an Arena-Hard leaderboard (model, score, rating_q025, rating_q975)."""
    path = Path(path)
    header, rows = _read_csv_rows(path)
    for c in _ARENA_COLUMNS:
        if c not in header:
            raise ValueError(f"{path}: Arena-Hard CSV lacks column {c!r}; expected {list(_ARENA_COLUMNS)}")
    models, score, lo, hi = [], [], [], []
    for i, row in enumerate(rows, start=2):
        models.append(_model_cell(row, "model", path, i))
        score.append(_parse_float(row["score"], f"{path}: line {i}, column 'score'"))
        lo.append(_parse_float(row["rating_q025"], f"{path}: line {i}, column 'rating_q025'"))
        hi.append(_parse_float(row["rating_q975"], f"{path}: line {i}, column 'rating_q975'"))
    _no_duplicates(models, path)
    return Leaderboard(name, str(path), models, {"score": np.asarray(score)},
                       {"score": np.asarray(lo)}, {"score": np.asarray(hi)}, primary="score")


def _model_cell(row: dict, col: str, path: Path, line: int) -> str:
    name = (row.get(col) or "").strip()
    if not name:
        raise ValueError(f"{path}: line {line}: empty model name in column {col!r}")
    return name


def _no_duplicates(models: list[str], path: Path) -> None:
    seen = set()
    for m in models:
        if m in seen:
            raise ValueError(f"{path}: model {m!r} appears twice in column 'model'")
        seen.add(m)


def read_table_leaderboard(path: str | Path, name: str | None = None, primary: str | None = None) -> Leaderboard:
    """Returns a leaderboard from a CSV whose `model` (or first) column names models.

    Every other column must be numeric (empty cells are NaN). LiveBench category files get
    `average` as the primary column; others their first score column.
    """
    path = Path(path)
    header, rows = _read_csv_rows(path)
    model_col = "model" if "model" in header else header[0]
    score_cols = [c for c in header if c != model_col]
    if not score_cols:
        raise ValueError(f"{path}: no score columns besides {model_col!r}")
    models = [_model_cell(r, model_col, path, i) for i, r in enumerate(rows, start=2)]
    _no_duplicates(models, path)
    cols = {
        c: np.asarray([_parse_float(r.get(c), f"{path}: line {i}, column {c!r}") for i, r in enumerate(rows, start=2)])
        for c in score_cols
    }
    if primary is None:
        primary = "average" if "average" in cols else score_cols[0]
    if primary not in cols:
        raise ValueError(f"{path}: primary column {primary!r} not in {score_cols}")
    return Leaderboard(name or path.stem, str(path), models, cols, primary=primary)


def read_leaderboard(path: str | Path, name: str | None = None) -> Leaderboard:
    """Returns the leaderboard in a CSV, recognising Arena-Hard and LiveBench layouts by header."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"leaderboard {path} does not exist")
    if path.suffix.lower() != ".csv":
        raise ValueError(f"{path}: leaderboards are read from .csv files")
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = [h.strip() for h in next(csv.reader(f), [])]
    if all(c in header for c in _ARENA_COLUMNS):
        return read_arena_hard(path, name or path.stem)
    return read_table_leaderboard(path, name)


def leaderboard_from_scores(name: str, models: Sequence[str], score: Sequence[float],
                            ci_low: Sequence[float] | None = None, ci_high: Sequence[float] | None = None,
                            source: str = "<computed>") -> Leaderboard:
    """Returns a one-column leaderboard built in memory (e.g. from a judge's BT scores)."""
    lb = Leaderboard(name, source, list(models), {"score": np.asarray(score, float)}, primary="score")
    if ci_low is not None and ci_high is not None:
        lb.ci_low["score"] = np.asarray(ci_low, float)
        lb.ci_high["score"] = np.asarray(ci_high, float)
    return lb
