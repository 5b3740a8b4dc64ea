"""Reliability of a PEAR run (issue 14): configs checked before anything starts, the recorded config
guards a resume, finished runs are not redone, a non-finite loss stops the run keeping the last
finite checkpoint, a damaged newest checkpoint is skipped, TensorBoard has no duplicated steps
after a resume, and bad data or variants give clear errors."""

import json
import logging
import os
import shutil
import stat
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrun
from jaxrun.checks import ConfigError
from jaxrun.workdir import ConfigMismatchError
from pear_jax import data as data_lib
from pear_jax import sweep, train
from pear_jax.checkpoint import Checkpoints
from pear_jax.config import base_config, validate, validate_sweep

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("rel_data")
    rng = np.random.default_rng(0)
    for name, n in (("train.csv", 64), ("test.csv", 32)):
        x = rng.uniform(size=(n, 4))
        y = (x[:, 0] + 0.5 * x[:, 1] > 0.8).astype(int)
        (d / name).write_text("a,b,c,d,class\n" + "".join(",".join(f"{v:.5f}" for v in r) + f",{c}\n" for r, c in zip(x, y)))
    return d


def tiny_config(data_dir, **overrides):
    """A 16-step run (4 epochs of 4 batches), checkpoints every 5 steps, a 2-explainer matrix."""
    c = base_config("tiny")
    c.dataset.source = "local"
    c.dataset.data_dir = str(data_dir)
    c.model.depth, c.model.width = 1, 8
    c.batch_size, c.num_epochs = 16, 4
    c.ig_steps = 4
    c.eval.batch_size, c.eval.k = 32, 2
    c.final.rows, c.final.k, c.final.explainers = 8, 2, ("vanilla_gradient", "gradient_x_input")
    c.checkpoint.every_steps, c.checkpoint.keep = 5, 5
    c.log_every_steps = 2
    for key, value in overrides.items():
        target = c
        *parents, leaf = key.split(".")
        for p in parents:
            target = target[p]
        target[leaf] = value
    return c


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", -4, "config.batch_size=-4: must be >= 1"),
    ("batch_size", 0, "config.batch_size=0: must be >= 1"),
    ("num_epochs", -1, "config.num_epochs=-1: must be >= 1"),
    ("optim.learning_rate", float("nan"), "config.optim.learning_rate=nan: expected a finite number"),
    ("optim.learning_rate", 0.0, "config.optim.learning_rate=0.0: must be > 0"),
    ("lam", 2.0, r"config.lam=2.0: must be <= 1.0"),
    ("explainer_a", "vanila_gradient", "did you mean 'vanilla_gradient'"),
    ("model.activation", "rellu", "did you mean 'relu'"),
    ("final.explainers", ("lime", "shap"), r"config.final.explainers\[1\]='shap'"),
    ("checkpoint.keep", 0, "config.checkpoint.keep=0"),
])
def test_validate_names_the_field_the_value_and_what_is_allowed(data_dir, field, value, message):
    with pytest.raises(ConfigError, match=message):
        validate(tiny_config(data_dir, **{field: value}))


def test_validate_checks_dataset_names_before_loading():
    c = base_config("electricty")
    with pytest.raises(ConfigError, match="did you mean 'electricity'"):
        validate(c)
    validate(base_config("electricity"))


def test_sweep_values_are_all_checked_before_the_first_cell(data_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"lams\[1\]=2: must be <= 1.0"):
        validate_sweep([0, 2], [0])
    with pytest.raises(ConfigError, match="repeated"):
        validate_sweep([0.5, 0.5], [0])
    with pytest.raises(ConfigError, match=r"lams\[1\]"):
        sweep.sweep(tiny_config(data_dir), tmp_path / "sw", mesh=jaxrun.make_mesh(), lams=(0.0, 2.0), seeds=(0,))
    assert not (tmp_path / "sw").exists()  # the λ=0 cell did not train


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory):
    """A finished tiny run: (workdir, summary)."""
    workdir = tmp_path_factory.mktemp("fin") / "run"
    summary = train.train_and_evaluate(tiny_config(data_dir), workdir, mesh=jaxrun.make_mesh())
    return workdir, summary


def test_rerunning_a_finished_run_recomputes_nothing(data_dir, finished):
    workdir, first = finished
    stamps = {p.name: p.stat().st_mtime_ns for p in workdir.iterdir() if p.is_file()}
    again = train.train_and_evaluate(tiny_config(data_dir), workdir, mesh=jaxrun.make_mesh())
    assert again["train_seconds"] == first["train_seconds"]  # the recorded time, not a new one
    assert {p.name: p.stat().st_mtime_ns for p in workdir.iterdir() if p.is_file()} == stamps
    assert again["params"] is not None  # from the last checkpoint


def test_outputs_are_readable_by_group_and_others(finished):
    umask = os.umask(0)
    os.umask(umask)
    for name in ("final_metrics.json", "config.json", "history.json", "disagreement.json", "disagreement.png"):
        assert stat.S_IMODE((finished[0] / name).stat().st_mode) == 0o666 & ~umask, name


def test_a_changed_config_is_refused_naming_the_fields(data_dir, finished, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(finished[0], workdir)
    recorded = (workdir / "final_metrics.json").read_text()
    with pytest.raises(ConfigMismatchError, match=r"lam: 0.5 -> 0.9.*--allow_config_change"):
        train.train_and_evaluate(tiny_config(data_dir, lam=0.9), workdir, mesh=jaxrun.make_mesh())
    assert (workdir / "final_metrics.json").read_text() == recorded  # not relabelled
    assert json.loads((workdir / "config.json").read_text())["lam"] == 0.5
    # An explicit go-ahead records the new config (the checkpoint guards what must not change).
    summary = train.train_and_evaluate(tiny_config(data_dir, **{"eval.k": 3}), workdir,
                                       mesh=jaxrun.make_mesh(), allow_config_change=True)
    assert json.loads((workdir / "config.json").read_text())["eval"]["k"] == 3
    assert summary["steps"] == 16


def test_sweep_refuses_cells_recorded_with_another_config(data_dir, tmp_path):
    mesh = jaxrun.make_mesh()
    cfg = tiny_config(data_dir, **{"final.rows": 0})
    sweep.sweep(cfg, tmp_path, mesh=mesh, lams=(0.0,), seeds=(0,))
    longer = tiny_config(data_dir, num_epochs=5, **{"final.rows": 0})
    with pytest.raises(ConfigMismatchError, match="num_epochs: 4 -> 5"):
        sweep.sweep(longer, tmp_path, mesh=mesh, lams=(0.0, 1.0), seeds=(0,))
    assert not (tmp_path / "lam_1").exists()  # refused before any cell trained
    rows = sweep.sweep(longer, tmp_path, mesh=mesh, lams=(0.0,), seeds=(0,), allow_config_change=True)
    assert json.loads((tmp_path / "lam_0" / "seed_0" / "final_metrics.json").read_text())["steps"] == 20
    assert rows[0]["lam"] == 0.0


def test_a_non_finite_loss_stops_at_once_and_keeps_the_last_finite_checkpoint(data_dir, tmp_path, monkeypatch):
    real = train.make_train_step

    def poisoned(*args, **kwargs):
        step_fn = real(*args, **kwargs)
        calls = []

        def wrapped(state, x, y, baseline):
            calls.append(1)
            state, metrics = step_fn(state, x, y, baseline)
            if len(calls) >= 7:  # step 7 onwards: NaN loss, NaN parameters
                with jax.transfer_guard("allow"):
                    metrics = {**metrics, "loss": metrics["loss"] * jnp.nan}
                    state = state.replace(params=jax.tree.map(lambda a: a * jnp.nan, state.params))
            return state, metrics

        return wrapped

    monkeypatch.setattr(train, "make_train_step", poisoned)
    workdir = tmp_path / "nan"
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 7.*last finite checkpoint is step 5"):
        train.train_and_evaluate(tiny_config(data_dir), workdir, mesh=jaxrun.make_mesh())
    ck = Checkpoints(workdir / "checkpoints", every_steps=5, keep=5)
    try:
        assert ck.all_steps() == [5]
    finally:
        ck.close()
    assert not (workdir / "final_metrics.json").exists()


def _truncate_newest(workdir: Path) -> int:
    ck = Checkpoints(workdir / "checkpoints", every_steps=5, keep=5)
    newest = ck.latest_step()
    ck.close()
    # Every data file cut short, the way a full disk or a kill during a copy leaves it.
    for f in (workdir / "checkpoints" / str(newest)).rglob("*"):
        if f.is_file() and f.stat().st_size > 0:
            f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 3)])
    return newest


def test_resume_falls_back_past_a_damaged_checkpoint_and_tensorboard_has_no_duplicates(
        data_dir, finished, tmp_path, caplog):
    from tensorboard.backend.event_processing import event_accumulator

    workdir = tmp_path / "damaged"
    cfg = tiny_config(data_dir, **{"final.rows": 0})
    mesh = jaxrun.make_mesh()

    def make_writer(purge_step):
        return jaxrun.MetricWriter(workdir / "tb", enabled=True, purge_step=purge_step)

    train.train_and_evaluate(cfg, workdir, mesh=mesh, make_writer=make_writer)
    # A run killed after its last step but before final_metrics.json, whose newest checkpoint
    # (the final one, 16) was cut short: resume must use 15 and rewrite only steps 16.
    (workdir / "final_metrics.json").unlink()
    assert _truncate_newest(workdir) == 16
    caplog.set_level(logging.WARNING)
    summary = train.train_and_evaluate(cfg, workdir, mesh=mesh, make_writer=make_writer)
    assert summary["resumed_from"] == 15
    assert any("checkpoint step 16" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    acc = event_accumulator.EventAccumulator(str(workdir / "tb"))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("train/loss")]
    assert steps == list(range(1, 17)), steps  # each step once: 16 rewritten after the resume


def test_continuous_labels_are_refused_naming_the_column(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("train.csv", "test.csv"):
        x = rng.uniform(size=(150, 2))
        (tmp_path / name).write_text("a,b,price\n" + "".join(f"{a:.4f},{b:.4f},{a * 300 + b:.3f}\n" for a, b in x))
    with pytest.raises(data_lib.DataError, match=r"label column 'price' has 150 distinct values.*continuous"):
        data_lib.load("prices", source="local", data_dir=tmp_path, label="price")


@pytest.mark.parametrize("content, message", [("", "the file is empty"), ("a,b,class\n", "only a header line")])
def test_empty_or_header_only_csv_names_the_file(tmp_path, content, message):
    (tmp_path / "train.csv").write_text(content)
    (tmp_path / "test.csv").write_text("a,b,class\n1,2,0\n")
    with pytest.raises(data_lib.DataError, match=f"train.csv: {message}"):
        data_lib.load("x", source="local", data_dir=tmp_path)


def test_smoke_noisy_variant_works_and_unknown_variants_are_named(data_dir):
    import runpy

    get_config = runpy.run_path(str(REPO / "configs" / "pear" / "smoke.py"))["get_config"]
    cfg = get_config("noisy")
    cfg.dataset.data_dir = str(data_dir)
    validate(cfg)
    assert data_lib.load_from_config(cfg.dataset).num_features == 8  # 4 features + 4 noise
    with pytest.raises(ValueError, match="smoke.py:nosy: unknown variant"):
        get_config("nosy")
