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
