"""Ahead-of-time compiles for TPU topologies on this host (libtpu, no TPU): devices, meshes
(multi-host and multislice), memory reports, out-of-memory as no fit, and the fit search."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrun import make_mesh
from jaxrun.aot import GIB, compile_report, largest_fitting, parse_target, projected_seconds, target_devices

libtpu = pytest.importorskip("libtpu", reason="TPU topologies need libtpu (the test extra installs jax[tpu])")


def test_parse_target_rejects_unknown_chips_and_shapes():
    chip, topo, slices = parse_target("v5e:2x2/2")
    assert (chip.name, topo, slices) == ("TPU v5e", "2x2", 2)
    for bad in ("v9:2x2", "v5e", "v5e:2by2", "tpu:2x2"):
        with pytest.raises(ValueError, match="expected 'local'"):
            parse_target(bad)


def test_topologies_give_hosts_and_slices():
    single = target_devices("v5e:2x2")
    assert len(single) == 4 and {d.process_index for d in single} == {0}
    pod = target_devices("v5e:4x4")
    assert len(pod) == 16 and len({d.process_index for d in pod}) == 4  # 4 hosts of 2x2 chips
    mesh = make_mesh(model=4, devices=pod)
    assert dict(mesh.shape) == {"data": 4, "model": 4}
    multi = make_mesh(model=4, devices=target_devices("v5e:2x2/2"))
    # Hybrid mesh: `model` within a slice, `data` across the two slices.
    assert [{d.slice_index for d in row} for row in multi.devices] == [{0}, {1}]


def test_compile_report_reads_memory_and_reports_out_of_memory_as_no_fit():
    mesh = make_mesh(model=4, devices=target_devices("v5e:2x2"))
    sharding = NamedSharding(mesh, P(None, "model"))

    def lower(n):
        x = jax.ShapeDtypeStruct((n, 4096), jnp.bfloat16, sharding=sharding)
        return lambda: jax.jit(lambda a: a.astype(jnp.float32) * 2, out_shardings=sharding).lower(x)

    ok = compile_report(lower(1024))
    assert ok.fits and ok.argument_bytes == 1024 * 4096 * 2 // 4  # a quarter of the array per chip
    assert ok.output_bytes == 2 * ok.argument_bytes and ok.flops > 0
    # 8 GiB of bf16 per chip in and 16 GiB of float32 out: beyond a v5e chip's 16 GiB.
    too_big = compile_report(lower(4 * 1024 * 1024))
    assert not too_big.fits and "RESOURCE_EXHAUSTED" in too_big.error
    # An explicit limit below the peak is no fit too.
    assert not compile_report(lower(1024), memory_limit=ok.peak_bytes - 1).fits


def test_largest_fitting_finds_the_boundary_in_few_calls():
    calls = []

    def fits(n):
        calls.append(n)
        return n <= 37

    assert largest_fitting(fits, 1) == 37 and len(calls) <= 14
    assert largest_fitting(lambda n: n <= 37, 4, multiple=4) == 36
    assert largest_fitting(lambda n: False, 4) == 0
    assert largest_fitting(lambda n: True, 4, limit=64) == 64


def test_projection_uses_published_peak():
    chip = parse_target("v5e:2x2")[0]
    assert projected_seconds(197e12 * 4 * 0.5, chip, 4, 0.5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="mfu"):
        projected_seconds(1.0, chip, 4, 0.0)
    assert GIB == 2**30
