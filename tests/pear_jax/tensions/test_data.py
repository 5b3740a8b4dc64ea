"""The study's tables: Adult parsing and groups, Bank's age group, California's MedInc quartile,
Electricity without groups, standardisation with training statistics, and errors by name."""

import numpy as np
import pytest

from pear_jax.tensions import data

ADULT_ROWS = [
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K",
    "50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0, 13, United-States, >50K",
    "38, Private, 215646, HS-grad, 9, Divorced, Handlers-cleaners, Not-in-family, Black, Female, 0, 0, 40, United-States, <=50K",
    "31, Private, 45781, Masters, 14, Never-married, Prof-specialty, Not-in-family, White, Female, 14084, 0, 50, United-States, >50K",
]


def _write_adult(d, test_suffix="."):
    (d / "adult.data").write_text("\n".join(ADULT_ROWS) + "\n")
    (d / "adult.test").write_text("|1x3 Cross validator\n" + "\n".join(r + test_suffix for r in ADULT_ROWS) + "\n")


def test_adult_features_groups_and_standardisation(tmp_path):
    _write_adult(tmp_path)
    d = data.load("adult", data_dir=tmp_path)
    assert d.feature_names == data.ADULT_FEATURES and d.name == "adult_sex" and d.group_name == "female"
    np.testing.assert_array_equal(d.y_train, [0, 1, 0, 1])
    np.testing.assert_array_equal(d.y_test, d.y_train)  # the test file's trailing "." is dropped
    np.testing.assert_array_equal(d.g_train, [0, 0, 1, 1])
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(d.x_test, d.x_train, atol=1e-6)  # same rows, training statistics
    race = data.load("adult", sensitive="race", data_dir=tmp_path)
    np.testing.assert_array_equal(race.g_train, [0, 0, 1, 0])
    assert race.feature_names[race.sensitive_feature] == "white"


def test_adult_rejects_an_unknown_label(tmp_path):
    _write_adult(tmp_path, test_suffix="?")
    with pytest.raises(data.DataError, match="income"):
        data.load("adult", data_dir=tmp_path)


def _write_pear_layout(d, prefix, header, rows):
    for split in ("train", "test"):
        (d / f"{prefix}-{split}.csv").write_text(header + "\n" + "\n".join(rows) + "\n")


def test_bank_age_group_and_california_quartile(tmp_path):
    _write_pear_layout(tmp_path, "bankmarketing", "V1,V6,class",
                       ["22,1.0,0", "30,2.0,1", "45,3.0,0", "59,4.0,1", "60,5.0,0", "70,6.0,1"])
    bank = data.load("bank_marketing", data_dir=tmp_path)
    np.testing.assert_array_equal(bank.g_train, [1, 0, 0, 0, 1, 1])  # age < 25 or >= 60
    assert bank.feature_names[bank.sensitive_feature] == "V1"
    _write_pear_layout(tmp_path, "californiahousing", "MedInc,HouseAge,class",
                       [f"{m},{a},{c}" for m, a, c in zip(range(1, 9), range(8), [0, 1] * 4)])
    cal = data.load("california_housing", data_dir=tmp_path)
    np.testing.assert_array_equal(cal.g_train, [1, 1, 0, 0, 0, 0, 0, 0])  # MedInc < Q1 = 2.75


def test_electricity_has_no_groups_and_bad_names_are_refused(tmp_path):
    _write_pear_layout(tmp_path, "electricity", "a,b,class", ["0.1,0.2,0", "0.3,0.1,1", "0.5,0.9,0"])
    el = data.load("electricity", data_dir=tmp_path)
    assert not el.has_groups and (el.g_train == -1).all()
    with pytest.raises(data.DataError, match="dataset.name"):
        data.load("mnist")
    with pytest.raises(data.DataError, match="sensitive"):
        data.load("adult", sensitive="age", data_dir=tmp_path)
