"""Multi-host start-up (`jax.distributed`) and which process writes."""

from __future__ import annotations

import os

import jax


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Starts `jax.distributed` when asked for, or when the environment describes a multi-host job.

    Explicit arguments win, then the `JAX_COORDINATOR_ADDRESS`/`JAX_NUM_PROCESSES`/`JAX_PROCESS_ID`
    variables; otherwise, when `detected_cluster()` sees a multi-process TPU pod or multislice job
    (GCE or GKE), Slurm step or Open MPI job, `jax.distributed.initialize()` auto-detects the rest.
    A single process with nothing configured is left alone.
    """
    if jax.distributed.is_initialized():
        return
    coordinator_address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if num_processes is None and "JAX_NUM_PROCESSES" in os.environ:
        num_processes = int(os.environ["JAX_NUM_PROCESSES"])
    if process_id is None and "JAX_PROCESS_ID" in os.environ:
        process_id = int(os.environ["JAX_PROCESS_ID"])
    if coordinator_address is None and detected_cluster() is None:
        return
    if num_processes == 1:
        return
    # With no address, jax's cluster plugins (GCE/GKE TPU, Slurm, Open MPI, ...) fill everything in.
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def _int_env(name: str) -> int:
    try:
        return int(os.environ.get(name, "0").split("(")[0])
    except ValueError:
        return 0


def detected_cluster() -> str | None:
    """Returns which multi-process environment this process runs in ("tpu", "slurm", "mpi"), or None.

    Only a job with more than one process counts: a single-task Slurm allocation or a one-host TPU
    VM runs without `jax.distributed`. MULTIHOST=1 (what launch/tpu_pod.py and the GKE spec
    export) forces "tpu": jax then reads the peers from the TPU metadata or the GKE environment.
    """
    if os.environ.get("MULTIHOST") == "1":
        return "tpu"
    hosts = [h for h in os.environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h.strip()]
    if len(hosts) > 1 or "MEGASCALE_COORDINATOR_ADDRESS" in os.environ:
        return "tpu"
    if "SLURM_JOB_ID" in os.environ and max(_int_env("SLURM_STEP_NUM_TASKS"), _int_env("SLURM_NTASKS")) > 1:
        return "slurm"
    if _int_env("OMPI_COMM_WORLD_SIZE") > 1:
        return "mpi"
    return None


def skip_absent_tpu() -> bool:
    """Restricts JAX to the CPU when libtpu is installed but this machine has no TPU; True if it did.

    With libtpu present JAX tries the TPU runtime first on every start: on a TPU-less machine that
    fails after printing errors, and the attempt takes libtpu's machine-wide lock file. Only acts
    when nothing chose the platforms (JAX_PLATFORMS unset), no GPU plugin is installed, and the
    backends are not started yet; TPU topologies for ahead-of-time compiles stay available.
    """
    import importlib.util

    if os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms:
        return False
    if importlib.util.find_spec("libtpu") is None:
        return False
    if any(importlib.util.find_spec(m) is not None for m in ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin")):
        return False
    from jax._src import hardware_utils, xla_bridge

    if xla_bridge.backends_are_initialized() or hardware_utils.num_available_tpu_chips_and_device_id()[0] > 0:
        return False
    jax.config.update("jax_platforms", "cpu")
    return True


def is_main_process() -> bool:
    """True on the process that writes results, checkpoints' metadata and TensorBoard."""
    return jax.process_index() == 0
