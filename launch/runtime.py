"""Run-time plumbing shared by pear_jax and sos_jax: mesh, multi-host start-up, metric writer,
global batches and atomic files.

Launchers build these and hand them to library functions, so neither library builds a mesh or
decides which process writes. Kept free of both libraries so `pear_jax` and `sos_jax` never import
each other.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"
MODEL_AXIS = "model"


def make_mesh(data: int = -1, model: int = 1, devices: list | None = None, explicit: bool = False) -> Mesh:
    """Returns a (data, model) mesh over `devices` (all devices by default).

    `data=-1` takes every device not used by the model axis. Axes are Auto (XLA propagates
    shardings from the inputs, the usual jit + NamedSharding contract) unless `explicit`, which
    gives JAX's sharding-in-types mode (`jax.make_mesh`'s default since 0.9).
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
    if devices == list(jax.devices()):
        return jax.make_mesh((data, model), (DATA_AXIS, MODEL_AXIS), axis_types=axis_types)
    return Mesh(np.asarray(devices).reshape(data, model), (DATA_AXIS, MODEL_AXIS), axis_types=axis_types)


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


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Starts `jax.distributed` when asked for, or when the environment describes a multi-host job.

    Explicit arguments win; otherwise `jax.distributed.initialize()` discovers TPU pods, SLURM and
    the `JAX_COORDINATOR_ADDRESS`/`JAX_NUM_PROCESSES`/`JAX_PROCESS_ID` variables (`MULTIHOST=1`
    forces discovery, e.g. on TPU VMs). A single process with nothing configured is left alone.
    """
    if jax.distributed.is_initialized():
        return
    coordinator_address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if num_processes is None and "JAX_NUM_PROCESSES" in os.environ:
        num_processes = int(os.environ["JAX_NUM_PROCESSES"])
    if process_id is None and "JAX_PROCESS_ID" in os.environ:
        process_id = int(os.environ["JAX_PROCESS_ID"])
    # MULTIHOST=1 is what launch/tpu_pod.py exports: on a TPU pod slice jax discovers the peers
    # from the TPU metadata, so there is nothing else to pass.
    on_cluster = os.environ.get("MULTIHOST") == "1" or any(
        k in os.environ for k in ("TPU_WORKER_HOSTNAMES", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE")
    )
    if coordinator_address is None and not on_cluster:
        return
    if num_processes == 1:
        return
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def is_main_process() -> bool:
    """True on the process that writes results, checkpoints' metadata and TensorBoard."""
    return jax.process_index() == 0


def global_batch(mesh: Mesh, local_rows: np.ndarray | Any, spec: P | None = None) -> jax.Array:
    """Returns one global array from this process's rows of it.

    Every process passes its own contiguous slice of the global batch (process i holds rows
    [i*n/p, (i+1)*n/p)); in a single process that is the whole batch.
    """
    spec = spec if spec is not None else P(DATA_AXIS, *([None] * (np.ndim(local_rows) - 1)))
    sharding = NamedSharding(mesh, spec)
    return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a)), local_rows)


def process_slice(global_size: int) -> slice:
    """Returns the rows of a global batch of `global_size` that this process feeds."""
    n, i = jax.process_count(), jax.process_index()
    if global_size % n:
        raise ValueError(f"global batch {global_size} is not divisible by {n} processes")
    per = global_size // n
    return slice(i * per, (i + 1) * per)


class MetricWriter:
    """TensorBoard writer (tensorboardX, no TensorFlow) that writes on process 0 only.

    Other processes get a writer whose calls do nothing, so library code can log unconditionally.
    """

    def __init__(self, logdir: str | os.PathLike | None, enabled: bool | None = None):
        enabled = is_main_process() if enabled is None else enabled
        self._writer = None
        if logdir is not None and enabled:
            from tensorboardX import SummaryWriter

            Path(logdir).mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(str(logdir))

    @property
    def active(self) -> bool:
        return self._writer is not None

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        for name, value in values.items():
            self._writer.add_scalar(name, float(value), int(step))

    def text(self, tag: str, text: str, step: int = 0) -> None:
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        flat = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items()}
        self._writer.add_hparams(flat, dict(metrics), name=".")

    def image(self, tag: str, image_hwc: np.ndarray, step: int = 0) -> None:
        if self._writer is not None:
            self._writer.add_image(tag, image_hwc, step, dataformats="HWC")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` so a reader sees the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` (UTF-8) atomically; see `atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Writes `obj` as JSON atomically; see `atomic_write_bytes`."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, (np.ndarray, jax.Array)):
        return np.asarray(o).tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (line number, record) for each non-blank line of a JSON-lines file.

    A line that is not a JSON object raises ValueError naming the file and line.
    """
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: line {lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path}: line {lineno}: expected a JSON object")
            yield lineno, rec


@contextlib.contextmanager
def log_progress(name: str, total: int, unit: str = "items", every_s: float = 10.0) -> Iterator[Any]:
    """Yields `advance(n)`; logs rate and ETA for long work at most every `every_s` seconds."""
    import time

    start = last = time.perf_counter()
    done = 0

    def advance(n: int = 1) -> None:
        nonlocal done, last
        done += n
        now = time.perf_counter()
        if now - last >= every_s or done >= total:
            rate = done / max(now - start, 1e-9)
            eta = (total - done) / rate if rate > 0 else float("inf")
            logging.info("%s: %d/%d %s, %.1f %s/s, ETA %.0fs", name, done, total, unit, rate, unit, eta)
            last = now

    yield advance
