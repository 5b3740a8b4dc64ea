"""Tests for the shared run-time plumbing."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

import jaxrun


def test_mesh_shapes(devices):
    mesh = jaxrun.make_mesh()
    assert dict(mesh.shape) == {"data": 8, "model": 1}
    mesh = jaxrun.make_mesh(data=4, model=2)
    assert dict(mesh.shape) == {"data": 4, "model": 2}
    assert all(t == AxisType.Auto for t in mesh.axis_types)
    explicit = jaxrun.make_mesh(data=4, model=2, explicit=True)
    assert all(t == AxisType.Explicit for t in explicit.axis_types)
    auto = jaxrun.auto_axes(explicit)
    assert all(t == AxisType.Auto for t in auto.axis_types) and auto.devices.tolist() == explicit.devices.tolist()
    assert jaxrun.auto_axes(mesh) is mesh
    with pytest.raises(ValueError, match="model axis size 3"):
        jaxrun.make_mesh(model=3)
    with pytest.raises(ValueError, match="does not match 8 devices"):
        jaxrun.make_mesh(data=2, model=2)


def test_global_batch_single_process(devices):
    mesh = jaxrun.make_mesh()
    rows = np.arange(32, dtype=np.float32).reshape(16, 2)
    arr = jaxrun.global_batch(mesh, rows)
    assert arr.sharding.spec == P("data", None)
    np.testing.assert_array_equal(np.asarray(arr), rows)
    assert jaxrun.process_slice(16) == slice(0, 16)
    assert float(jax.jit(jnp.sum)(arr)) == rows.sum()


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "r.json"
    jaxrun.atomic_write_json(path, {"a": np.float32(1.5), "b": np.arange(3)})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2]}
    jaxrun.atomic_write_text(path, "x")
    assert path.read_text() == "x"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp files left behind


def test_metric_writer_writes_event_files(tmp_path):
    w = jaxrun.MetricWriter(tmp_path / "tb", enabled=True)
    w.scalars(1, {"loss": 0.5})
    w.text("config", "lam: 0.5")
    w.close()
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())
    off = jaxrun.MetricWriter(tmp_path / "off", enabled=False)
    off.scalars(1, {"loss": 0.5})
    assert not off.active and not (tmp_path / "off").exists()


def test_resumed_writer_purges_steps_written_after_the_checkpoint(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    first = jaxrun.MetricWriter(tmp_path, enabled=True)
    for step in range(10):
        first.scalars(step, {"loss": float(step)})
    first.close()  # killed after step 9; the last checkpoint was step 5
    resumed = jaxrun.MetricWriter(tmp_path, enabled=True, purge_step=5)
    for step in range(5, 12):
        resumed.scalars(step, {"loss": 100.0 + step})
    resumed.close()
    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    events = acc.Scalars("loss")
    assert [e.step for e in events] == list(range(12))
    assert [e.value for e in events[5:]] == [100.0 + s for s in range(5, 12)]


def test_progress_eta_ignores_the_compile_step(caplog):
    import logging
    import time

    caplog.set_level(logging.INFO)
    with jaxrun.log_progress("train", 4, unit="steps", every_s=0.0) as advance:
        advance()  # the first step carries compilation
        time.sleep(0.05)
        advance()
    lines = [r.getMessage() for r in caplog.records]
    assert "includes compilation" in lines[0] and "ETA" not in lines[0]
    assert "ETA" in lines[1]
