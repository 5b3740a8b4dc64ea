"""Device meshes and global arrays: the (data, model) mesh, its shardings, and one global batch
built from each process's rows."""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


MODEL_AXIS = "model"


def num_slices(devices: list) -> int:
    """Returns how many TPU slices `devices` span (1 for CPUs, GPUs and single-slice TPUs)."""
    return len({getattr(d, "slice_index", 0) for d in devices})


def make_mesh(data: int = -1, model: int = 1, devices: list | None = None, explicit: bool = False) -> Mesh:
    """Returns a (data, model) mesh over `devices` (all devices by default).

    `data=-1` takes every device not used by the model axis. Axes are Auto (XLA propagates
    shardings from the inputs, the usual jit + NamedSharding contract) unless `explicit`, which
    gives JAX's sharding-in-types mode (`jax.make_mesh`'s default since 0.9).

    On TPUs the devices are laid out by `mesh_utils` so the `model` axis follows the chips'
    interconnect; across several slices (multislice) the mesh is hybrid: `model` stays within a
    slice and `data` spans the slices, whose links (DCN) are slower than the chips' ICI.
    """
    devices = list(jax.devices() if devices is None else devices)
    if model < 1 or len(devices) % model:
        raise ValueError(f"model axis size {model} must be >= 1 and divide the {len(devices)} devices")
    if data == -1:
        data = len(devices) // model
    if data * model != len(devices):
        raise ValueError(
            f"mesh data={data} x model={model} = {data * model} does not match {len(devices)} devices"
        )
    axis_types = (AxisType.Explicit if explicit else AxisType.Auto,) * 2
    names = (DATA_AXIS, MODEL_AXIS)
    if devices[0].platform == "tpu":
        from jax.experimental import mesh_utils

        slices = num_slices(devices)
        if slices > 1:
            if data % slices:
                raise ValueError(f"mesh data axis {data} must be a multiple of the {slices} slices")
            grid = mesh_utils.create_hybrid_device_mesh(
                (data // slices, model), (slices, 1), devices, allow_split_physical_axes=True
            )
        else:
            grid = mesh_utils.create_device_mesh((data, model), devices, allow_split_physical_axes=True)
        return Mesh(grid, names, axis_types=axis_types)
    if devices == list(jax.devices()):
        return jax.make_mesh((data, model), names, axis_types=axis_types)
    return Mesh(np.asarray(devices).reshape(data, model), names, axis_types=axis_types)


# XLA:CPU hands fp32 matmuls to YNNPACK fusions by default; for the small ones of an MLP step
# (e.g. (1280, 100) @ (100, 100)) those run on one thread, while its Eigen dot splits them over
# the intra-op pool. Measured on 2 cores (bench/pear_train_step.py): the PEAR step 13-15% faster
# with the second core free, within 3% either way with it busy.
_CPU_SMALL_MATMUL_OPTIONS = (("xla_cpu_experimental_ynn_fusion_type", ""),)


@functools.cache
def _cpu_accepts(options: tuple[tuple[str, Any], ...]) -> bool:
    """True when this jaxlib's CPU compiler knows every option (the flag is experimental)."""
    try:
        cpu = jax.devices("cpu")[0]
        x = jax.ShapeDtypeStruct((2, 2), np.float32, sharding=jax.sharding.SingleDeviceSharding(cpu))
        jax.jit(lambda a: a @ a).lower(x).compile(compiler_options=dict(options))
        return True
    except Exception:  # noqa: BLE001 - an unknown flag is reported as a generic XLA error
        return False


def small_matmul_compiler_options(mesh: Mesh) -> dict[str, Any] | None:
    """Returns the compiler options for jitted programs over `mesh` whose matmuls are small
    (MLP training steps), or None to keep the defaults.

    Only CPU meshes get options (multi-threaded Eigen dots instead of one-thread YNNPACK
    fusions, when this jaxlib has the flag); GPU and TPU programs, ahead-of-time TPU compiles
    included, compile as they are.
    """
    if mesh.devices.flat[0].platform != "cpu" or not _cpu_accepts(_CPU_SMALL_MATMUL_OPTIONS):
        return None
    return dict(_CPU_SMALL_MATMUL_OPTIONS)


def auto_axes(mesh: Mesh) -> Mesh:
    """Returns `mesh` itself if all its axes are Auto, else the same devices and names with Auto axes.

    Libraries call this on meshes they are handed, so a caller's Explicit-axes mesh (e.g. straight
    from `jax.make_mesh`) cannot break reshapes and gathers over sharded dimensions.
    """
    if all(t == AxisType.Auto for t in mesh.axis_types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))


def replicated(mesh: Mesh) -> NamedSharding:
    """Returns the sharding that keeps a full copy on every device."""
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
    """Returns the sharding that splits the leading (batch) dimension over the `data` axis."""
    return NamedSharding(mesh, P(DATA_AXIS, *([None] * (ndim - 1))))


def global_batch(mesh: Mesh, local_rows: np.ndarray | Any, spec: P | None = None) -> jax.Array:
    """Returns one global array from this process's rows of it.

    Every process passes its own contiguous slice of the global batch (process i holds rows
    [i*n/p, (i+1)*n/p)); in a single process that is the whole batch.
    """
    spec = spec if spec is not None else P(DATA_AXIS, *([None] * (np.ndim(local_rows) - 1)))
    sharding = NamedSharding(mesh, spec)
    # This is the explicit host->device copy of a batch, so it is allowed under
    # jax.transfer_guard("disallow"): with several processes JAX builds the array through a
    # per-device callback whose copies the guard would otherwise count as implicit.
    with jax.transfer_guard_host_to_device("allow"):
        return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a)), local_rows)


def process_slice(global_size: int) -> slice:
    """Returns the rows of a global batch of `global_size` that this process feeds."""
    n, i = jax.process_count(), jax.process_index()
    if global_size % n:
        raise ValueError(f"global batch {global_size} is not divisible by {n} processes")
    per = global_size // n
    return slice(i * per, (i + 1) * per)
