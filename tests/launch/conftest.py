"""Fixtures shared by the launcher tests."""

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def pear_smoke_data(tmp_path_factory) -> Path:
    """Returns a directory with a small separable train.csv/test.csv for the PEAR smoke config."""
    d = tmp_path_factory.mktemp("pear_smoke_data")
    rng = np.random.default_rng(0)
    for name, n in (("train.csv", 256), ("test.csv", 96)):
        x = rng.uniform(size=(n, 4))
        y = (x[:, 0] + 0.5 * x[:, 1] > 0.8).astype(int)
        (d / name).write_text("a,b,c,d,class\n" + "".join(",".join(f"{v:.5f}" for v in r) + f",{c}\n" for r, c in zip(x, y)))
    return d
