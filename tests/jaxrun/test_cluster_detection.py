"""Which multi-process environments start jax.distributed: TPU pods (GCE/GKE), Slurm, Open MPI."""

import pytest

from jaxrun import distributed

_VARS = ("MULTIHOST", "TPU_WORKER_HOSTNAMES", "MEGASCALE_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "SLURM_NTASKS",
         "SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE")


@pytest.fixture
def env(monkeypatch):
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize("variables,expected", [
    ({}, None),
    ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}, None),  # a one-task allocation runs alone
    ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, "slurm"),
    ({"OMPI_COMM_WORLD_SIZE": "1"}, None),
    ({"OMPI_COMM_WORLD_SIZE": "2"}, "mpi"),
    ({"TPU_WORKER_HOSTNAMES": "localhost"}, None),  # a one-host TPU VM
    ({"TPU_WORKER_HOSTNAMES": "h0,h1,h2,h3"}, "tpu"),
    ({"MEGASCALE_COORDINATOR_ADDRESS": "h0:8080"}, "tpu"),  # multislice
    ({"MULTIHOST": "1"}, "tpu"),
])
def test_detected_cluster(env, variables, expected):
    for k, v in variables.items():
        env.setenv(k, v)
    assert distributed.detected_cluster() == expected


def test_initialize_only_on_a_detected_cluster(env):
    calls = []
    env.setattr(distributed.jax.distributed, "is_initialized", lambda: False)
    env.setattr(distributed.jax.distributed, "initialize", lambda **kw: calls.append(kw))
    for var in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.delenv(var, raising=False)
    env.setenv("SLURM_JOB_ID", "7")
    env.setenv("SLURM_NTASKS", "1")
    distributed.initialize_distributed()
    assert calls == []
    env.setenv("SLURM_NTASKS", "2")
    distributed.initialize_distributed()
    assert calls == [{"coordinator_address": None, "num_processes": None, "process_id": None}]
