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
